// The fake kiosk's event: two gates (the VIP lounge prints first badges), two ticket types, 1,000 demo tickets (DEMO-0001 to
// DEMO-1000, every tenth a VIP, as in scripts/demo) and a walk-in form that uses every field
// kind and every condition.
import type { CameraInfo, Form, Gate, TicketType } from '../bindings';

export const EVENT = { id: '01890a5d-0000-7000-8000-00000000e001', name: 'RustConf Europe 2025', time_zone: 'Europe/Paris' };

export const TICKET_TYPES: TicketType[] = [
  { id: 'tt-general', name: 'General admission', valid_from: null, valid_until: null },
  { id: 'tt-vip', name: 'VIP', valid_from: null, valid_until: null },
];

export const GATES: Gate[] = [
  {
    id: 'gate-main',
    name: 'Main entrance',
    allowed_ticket_types: [],
    mode: 'entry_and_exit',
    reentry: 'after_exit',
    required_answers: [],
  },
  {
    id: 'gate-vip',
    name: 'VIP lounge',
    allowed_ticket_types: ['tt-vip'],
    mode: 'entry_only',
    reentry: 'never',
    required_answers: ['photo_consent'],
    show_answers: ['diet'],
    print_badge: 'first',
  },
];

export const CAMERAS: CameraInfo[] = [{ id: 'video0', name: 'USB camera' }];

export const FORM: Form = {
  id: '01890a5d-ac96-774b-bcce-b302099a8057',
  version: 3,
  title: 'Walk-in registration',
  pages: [
    {
      id: 'about_you',
      title: 'About you',
      sections: [
        {
          id: 'work',
          title: 'Work',
          fields: [
            { id: 'company', label: 'Company', kind: 'text', help: 'As it should appear on your badge', validation: { max: 60 } },
            {
              id: 'role',
              label: 'Role',
              kind: 'single_choice',
              required: true,
              choices: [
                { id: 'developer', label: 'Developer' },
                { id: 'designer', label: 'Designer' },
                { id: 'manager', label: 'Manager' },
                { id: 'other', label: 'Other' },
              ],
            },
            { id: 'role_other', label: 'Your role', kind: 'text', required: true, show_when: { field: 'role', op: 'equals', value: 'other' } },
            { id: 'country', label: 'Country', kind: 'country' },
            {
              id: 'member_no',
              label: 'Member number',
              kind: 'text',
              validation: { pattern: '[A-Z]{2}-[0-9]{4}', pattern_message: 'Two letters, a dash and four digits, e.g. AB-1234' },
            },
          ],
        },
      ],
    },
    {
      id: 'at_the_event',
      title: 'At the event',
      sections: [
        {
          id: 'event',
          title: 'At the event',
          fields: [
            {
              id: 'diet',
              label: 'Diet',
              kind: 'multiple_choice',
              validation: { max: 2 },
              choices: [
                { id: 'vegetarian', label: 'Vegetarian' },
                { id: 'vegan', label: 'Vegan' },
                { id: 'gluten_free', label: 'Gluten free' },
              ],
            },
            { id: 'workshops', label: 'Workshops attended', kind: 'number', validation: { min: 0, max: 10, integer: true } },
            { id: 'arrival', label: 'Arrival date', kind: 'date', validation: { min: '2025-06-01', max: '2025-06-30' } },
            { id: 'notes', label: 'Anything we should know?', kind: 'multiline', validation: { max: 500 } },
          ],
        },
        {
          id: 'consent',
          title: 'Consent',
          fields: [
            { id: 'newsletter', label: 'Send me the newsletter', kind: 'checkbox' },
            {
              id: 'newsletter_email',
              label: 'Newsletter address',
              kind: 'email',
              required: true,
              show_when: { field: 'newsletter', op: 'checked' },
            },
            { id: 'emergency_phone', label: 'Emergency phone', kind: 'phone' },
            { id: 'photo_consent', label: 'I agree to be photographed', kind: 'checkbox', required: true },
          ],
        },
      ],
    },
  ],
};
