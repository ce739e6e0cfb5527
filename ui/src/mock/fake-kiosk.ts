// A fake kiosk standing in for the Rust side, for the screen tests and for working on the
// screens without a shell (`npm run dev:mock`). It answers every command of docs/kiosk-app.md
// with the same types, sends the same events, and keeps just enough state for the flows to be
// real: PINs, enrolment, a package of 1,000 tickets, check-ins with re-entry rules, walk-ins,
// an outbox and a sync with progress.
//
// It is scriptable from a test through `window.__fake` (see FakeControls), and its starting
// point comes from the page's query string: ?scenario=fresh|locked|ready, &camera=none|failed,
// &offline=1, &lang=fr, &contrast=1, &gate=gate-vip, &deskLock=MINUTES, &printer=NAME, &yesterday=N (N guests
// admitted at the gate the day before, for the counts of a second day).
//
// Only the mock build (vite --mode mock) includes this file.
import { mockIPC } from '@tauri-apps/api/mocks';
import { emit } from '@tauri-apps/api/event';
import type { Channel } from '@tauri-apps/api/core';
import type {
  AppState,
  BadgeView,
  CameraStatus,
  ConflictsView,
  Direction,
  Field,
  FieldError,
  Gate,
  GateCounts,
  GuestHit,
  JsonValue,
  GuestSearchView,
  OutboxView,
  ParkedChange,
  PreviewFrame,
  ScanOutcome,
  Settings,
  SyncProgress,
  SyncReport,
  UiError,
  Verdict,
  VerdictCode,
  WalkInRequest,
} from '../bindings';
import type { SyncStatus } from '../api/sync-status';
import { evaluateForm, formFields, type RawAnswers } from '../forms/validation';
import { CAMERAS, EVENT, FORM, GATES, TICKET_TYPES } from './fixtures';

type Args = Record<string, unknown>;

interface CheckIn {
  id: string;
  ticketId: string;
  gateId: string;
  direction: Direction;
  at: number;
  annulled: boolean;
}

interface Ticket {
  id: string;
  typeId: string;
  name: string | null;
  status: 'valid' | 'canceled' | 'revoked';
  missing?: string[];
  /** The guest's answers to the form (the VIP lounge shows the diet). */
  answers: Record<string, JsonValue>;
}

export interface FakeControls {
  /** Every command received, in order. */
  calls: { cmd: string; args: unknown }[];
  /** The camera decoded this code: judge it and send a `scan` event. */
  cameraScan(code: string): Promise<void>;
  setOnline(online: boolean): void;
  setClockAhead(ms: number | null): void;
  /** The server published a newer package. */
  publishPackage(version: number): void;
  /** Milliseconds between two progress steps of a sync (and of a package fetch). */
  stepMs: number;
}

declare global {
  interface Window {
    __fake?: FakeControls;
  }
}

const NAMES = ['Ada Lovelace', 'Grace Hopper', 'Alan Turing', 'Katherine Johnson', 'Edsger Dijkstra', 'Barbara Liskov', 'Donald Knuth', 'Margaret Hamilton', 'Dennis Ritchie'];

function uiError(kind: UiError['kind'], message: string, field: string | null = null, fields: FieldError[] = []): UiError {
  return { kind, message, field, fields };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A stand-in for a QR: a deterministic grid of modules with three finder squares. */
function fakeQrSvg(seed: string, size = 29): string {
  let hash = 2166136261;
  for (const char of seed) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619);
  const random = () => {
    hash ^= hash << 13;
    hash ^= hash >>> 17;
    hash ^= hash << 5;
    return (hash >>> 0) / 4294967296;
  };
  const finder = (x: number, y: number) =>
    `<rect x="${x}" y="${y}" width="7" height="7"/><rect x="${x + 1}" y="${y + 1}" width="5" height="5" fill="#fff"/><rect x="${x + 2}" y="${y + 2}" width="3" height="3"/>`;
  const inFinder = (x: number, y: number) =>
    (x < 8 && y < 8) || (x >= size - 8 && y < 8) || (x < 8 && y >= size - 8);
  let modules = '';
  for (let y = 0; y < size; y += 1) {
    for (let x = 0; x < size; x += 1) {
      if (!inFinder(x, y) && random() < 0.5) modules += `<rect x="${x}" y="${y}" width="1" height="1"/>`;
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="-4 -4 ${size + 8} ${size + 8}" shape-rendering="crispEdges"><rect x="-4" y="-4" width="${size + 8}" height="${size + 8}" fill="#fff"/>${finder(0, 0)}${finder(size - 7, 0)}${finder(0, size - 7)}${modules}</svg>`;
}

/** A camera picture: a badge with a QR held up in a dim room. */
function cameraFrameUrl(): string {
  const qr = fakeQrSvg('camera').replace('<svg ', '<svg x="220" y="130" width="200" height="200" ');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480" viewBox="0 0 640 480"><defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#3b4252"/><stop offset="1" stop-color="#1f2430"/></linearGradient></defs><rect width="640" height="480" fill="url(#g)"/><rect x="190" y="80" width="260" height="340" rx="18" fill="#f4f4f0"/><rect x="190" y="80" width="260" height="40" rx="18" fill="#2563eb"/>${qr}<rect x="230" y="350" width="180" height="14" rx="7" fill="#9ca3af"/><rect x="260" y="376" width="120" height="10" rx="5" fill="#cbd5e1"/></svg>`;
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

export function installFakeKiosk(): FakeControls {
  const query = new URLSearchParams(window.location.search);
  const scenario = query.get('scenario') ?? 'fresh';
  const preset = scenario !== 'fresh';

  const settings: Settings = {
    gate_id: preset ? (query.get('gate') ?? 'gate-main') : null,
    direction: 'entry',
    camera: null,
    sound: true,
    language: query.get('lang') ?? 'en',
    high_contrast: query.get('contrast') === '1',
    show_names: true,
    desk_lock_minutes: Number(query.get('deskLock') ?? 2),
    badge_printer: query.get('printer'),
  };

  const tickets = new Map<string, Ticket>();
  for (let n = 1; n <= 1000; n += 1) {
    const code = `DEMO-${String(n).padStart(4, '0')}`;
    tickets.set(code, {
      id: `ticket-${n}`,
      typeId: n % 10 === 0 ? 'tt-vip' : 'tt-general',
      name: NAMES[n % NAMES.length] ?? null,
      status: n === 13 ? 'canceled' : n === 666 ? 'revoked' : 'valid',
      missing: n === 990 || n === 980 ? ['photo_consent'] : undefined,
      answers: n % 10 === 0 ? { diet: ['vegetarian'] } : {},
    });
  }

  const fake = {
    setUp: preset,
    unlocked: scenario === 'ready',
    kioskPin: '24682468',
    coordinatorPin: '1357',
    // The engine's rule for wrong kiosk PINs: five free, then a wait that doubles (30 s first).
    unlockFailures: 0,
    unlockNotBefore: 0,
    enrolled: preset,
    label: preset ? 'North gate' : '',
    packageVersion: preset ? 3 : (null as number | null),
    serverPackageVersion: 3,
    kioskMode: false,
    online: query.get('offline') !== '1',
    camera: (query.get('camera') ?? 'running') as 'running' | 'none' | 'failed',
    cameraTimer: 0 as number,
    checkIns: Array.from({ length: Number(query.get('yesterday') ?? 0) }, (_, i): CheckIn => ({
      id: `check-in-yesterday-${i}`,
      ticketId: `ticket-${500 + i}`,
      gateId: settings.gate_id ?? 'gate-main',
      direction: 'entry',
      at: Date.now() - 24 * 60 * 60 * 1000,
      annulled: false,
    })),
    seq: 0,
    pending: preset ? 3 : 0,
    acknowledged: preset ? 120 : 0,
    parked: (preset
      ? [{ seq: 7, kind: 'check_in', code: 'unknown_gate', message: 'The gate "Side door" is not in the current package.' }]
      : []) as ParkedChange[],
    dismissed: 0,
    lastSyncAt: preset ? Date.now() - 25 * 60 * 1000 : (null as number | null),
    lastAttemptAt: preset ? Date.now() - 60 * 1000 : (null as number | null),
    lastError: null as string | null,
    clockAheadMs: null as number | null,
    pulledTotal: 0,
    // Tickets whose badge a gate printed (the engine's print log).
    printed: new Set<string>(),
  };

  const controls: FakeControls = {
    calls: [],
    stepMs: 120,
    async cameraScan(code) {
      try {
        await emit('scan', judge(code, 'camera'));
      } catch (error) {
        await emit('scan-error', error);
      }
    },
    setOnline(online) {
      fake.online = online;
      fake.lastError = online ? null : 'connection refused';
      void publishStatus();
    },
    setClockAhead(ms) {
      fake.clockAheadMs = ms;
      void publishStatus();
    },
    publishPackage(version) {
      fake.serverPackageVersion = version;
      void publishStatus();
    },
  };

  // ---- state views ----

  const gate = (): Gate | null => GATES.find((g) => g.id === settings.gate_id) ?? null;

  function appState(): AppState {
    const phase = !fake.setUp ? 'setup' : !fake.unlocked ? 'locked' : !fake.enrolled ? 'enrol' : fake.packageVersion === null ? 'package' : 'ready';
    const open = phase !== 'setup' && phase !== 'locked';
    return {
      phase,
      event: open && fake.packageVersion !== null ? EVENT : null,
      device: open && fake.enrolled ? { device_id: '01890a5d-7f00-7000-8000-00000000d001', server_url: 'https://gatepass.example.org' } : null,
      package_version: open ? fake.packageVersion : null,
      gate: open && fake.packageVersion !== null ? gate() : null,
      settings: { ...settings },
      kiosk_mode: fake.kioskMode,
    };
  }

  function status(): SyncStatus {
    return {
      online: fake.online,
      syncing: false,
      pending: fake.pending,
      acknowledged: fake.acknowledged,
      parked: fake.parked.length,
      last_sync_at: fake.lastSyncAt,
      last_attempt_at: fake.lastAttemptAt,
      last_error: fake.lastError,
      revoked: false,
      clock_ahead_ms: fake.clockAheadMs,
      package_version: fake.packageVersion,
      server_package_version: fake.serverPackageVersion,
      live: fake.online,
      pulled_total: fake.pulledTotal,
    };
  }

  const publishStatus = (change: Partial<SyncStatus> = {}) => emit('sync-status', { ...status(), ...change });

  function counts(): GateCounts {
    const live = fake.checkIns.filter((c) => !c.annulled);
    const here = live.filter((c) => c.gateId === settings.gate_id);
    // Today: the browser's calendar day stands in for the venue's.
    const midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    const today = (c: { at: number }) => c.at >= midnight.getTime();
    const entries = (list: typeof live) => list.filter((c) => c.direction === 'entry');
    const exits = (list: typeof live) => list.filter((c) => c.direction === 'exit');
    return {
      gate_entries: entries(here).length,
      gate_exits: exits(here).length,
      event_admitted: new Set(entries(live).map((c) => c.ticketId)).size,
      tickets: tickets.size,
      // Every check-in of the fake kiosk is its own.
      own_gate_entries: entries(here).length,
      inside: Math.max(0, entries(live).length - exits(live).length),
      gate_entries_today: entries(here).filter(today).length,
      own_gate_entries_today: entries(here).filter(today).length,
      gate_exits_today: exits(here).filter(today).length,
      event_admitted_today: new Set(entries(live).filter(today).map((c) => c.ticketId)).size,
    };
  }

  function outbox(): OutboxView {
    return {
      pending: fake.pending,
      acknowledged: fake.acknowledged,
      parked: fake.parked.length,
      dismissed: fake.dismissed,
      parked_changes: fake.parked,
    };
  }

  // The server's open conflicts of the event: two that other kiosks' check-ins and walk-ins made.
  function conflicts(): ConflictsView {
    const found: ConflictsView['conflicts'] = fake.enrolled && preset
      ? [
          {
            id: '01930000-0000-7000-8000-00000000c001',
            kind: 'double_admission',
            at: Date.now() - 40 * 60 * 1000,
            subjects: [{ name: 'Grace Hopper', code: 'DEMO-0002', ticket_type: 'Day pass' }],
          },
          {
            id: '01930000-0000-7000-8000-00000000c002',
            kind: 'possible_duplicate',
            at: Date.now() - 12 * 60 * 1000,
            subjects: [
              { name: 'Ada Lovelace', code: null, ticket_type: null },
              { name: 'Ada Lovelace', code: null, ticket_type: null },
            ],
          },
        ]
      : [];
    return { conflicts: found, total_open: found.length };
  }

  function takeParked(seq: number) {
    const at = fake.parked.findIndex((change) => change.seq === seq);
    if (at < 0) throw uiError('invalid', `no parked change ${seq}`, 'seq');
    return fake.parked.splice(at, 1)[0];
  }

  // ---- guards ----

  function needOpen() {
    if (!fake.setUp) throw uiError('not_set_up', 'this kiosk is not set up yet');
    if (!fake.unlocked) throw uiError('locked', 'the kiosk is locked: enter the PIN');
  }

  function needEnrolled() {
    needOpen();
    if (!fake.enrolled) throw uiError('not_enrolled', 'this kiosk is not enrolled with a server yet');
  }

  function needPackage() {
    needEnrolled();
    if (fake.packageVersion === null) throw uiError('no_package', 'this kiosk holds no event package yet');
  }

  // ---- scanning ----

  function verdict(code: VerdictCode, reason: string, extra: Partial<Verdict> = {}): Verdict {
    return { code, reason, ...extra };
  }

  function judge(raw: string, source: ScanOutcome['source']): ScanOutcome {
    needPackage();
    const current = gate();
    if (!current) throw uiError('no_gate', 'pick a gate first');
    const code = raw.trim().toUpperCase();
    const ticket = tickets.get(code);
    const direction = settings.direction;
    const at = Date.now();
    fake.seq += 1;
    fake.pending += 1;
    const base = {
      ticket_id: ticket?.id ?? null,
      attendee_name: ticket && settings.show_names ? ticket.name : null,
      ticket_type: ticket ? (TICKET_TYPES.find((t) => t.id === ticket.typeId)?.name ?? null) : null,
      gate_id: current.id,
      direction,
      source,
      at,
      check_in_id: null as string | null,
      seq: fake.seq,
      badge: null as BadgeView | null,
      questions: [] as Field[],
      answers: (ticket && settings.show_names ? (current.show_answers ?? []) : []).flatMap((id) => {
        const field = formFields(FORM).find((f) => f.id === id);
        const value = ticket?.answers[id];
        return field && value !== undefined ? [{ field, value }] : [];
      }),
    };
    const refuse = (v: Verdict): ScanOutcome => ({ ...base, verdict: v });
    if (code.startsWith('FAKE-')) return refuse(verdict('bad_signature', "Invalid code: its signature does not verify (forged, damaged, or another event's)."));
    if (!ticket) return refuse(verdict('unknown', 'Unknown ticket: this code is not part of the event.'));
    if (ticket.status === 'canceled') return refuse(verdict('canceled', 'Ticket canceled by the organiser.'));
    if (ticket.status === 'revoked') return refuse(verdict('revoked', 'Ticket revoked: it was reissued or reported lost.'));
    if (current.allowed_ticket_types.length > 0 && !current.allowed_ticket_types.includes(ticket.typeId)) {
      return refuse(verdict('wrong_gate', `Wrong gate: this ticket type is not admitted at ${current.name}.`));
    }
    if (ticket.missing && direction === 'entry') {
      const questions = ticket.missing.flatMap((id) => formFields(FORM).filter((f) => f.id === id));
      return {
        ...refuse(verdict('needs_answers', `Questions to answer first: ${ticket.missing.join(', ')}.`, { missing_answers: ticket.missing })),
        questions,
      };
    }
    const history = fake.checkIns.filter((c) => c.ticketId === ticket.id && !c.annulled);
    if (direction === 'entry') {
      const lastExit = [...history].reverse().find((c) => c.direction === 'exit');
      const counted = history.filter(
        (c) => c.direction === 'entry' && (current.reentry !== 'after_exit' || !lastExit || c.at > lastExit.at),
      );
      const first = counted[0];
      if (current.reentry !== 'always' && first) {
        return refuse(
          verdict('already_used', alreadyUsedReason(first, current), {
            first_admission: { check_in_id: first.id, gate_id: first.gateId, at: first.at },
          }),
        );
      }
    }
    const checkIn: CheckIn = { id: `checkin-${fake.seq}`, ticketId: ticket.id, gateId: current.id, direction, at, annulled: false };
    fake.checkIns.push(checkIn);
    void publishStatus();
    // The gate's printing rule, as the engine's: never, the first badge only, every admission.
    const printing = current.print_badge ?? 'never';
    const prints = direction === 'entry' && (printing === 'every' || (printing === 'first' && !fake.printed.has(ticket.id)));
    const badge = prints ? printBadge(code, ticket) : null;
    return { ...base, badge, check_in_id: checkIn.id, verdict: verdict('admitted', direction === 'exit' ? 'Exit admitted.' : 'Admitted.') };
  }

  /** Logs a print of `ticket`'s badge (an outbox row) and answers the badge. */
  function printBadge(code: string, ticket: Ticket): BadgeView {
    fake.printed.add(ticket.id);
    fake.seq += 1;
    fake.pending += 1;
    void publishStatus();
    return {
      ticket_id: ticket.id,
      ticket_type_id: ticket.typeId,
      attendee_name: ticket.name ?? '',
      ticket_type: TICKET_TYPES.find((t) => t.id === ticket.typeId)?.name ?? '',
      event_name: EVENT.name,
      code,
      qr_svg: fakeQrSvg(code),
      qr_version: 3,
      seq: fake.seq,
    };
  }

  // ---- finding a guest ----

  /** The engine's rules in short: every word begins a word of the name, or is part of the code. */
  function searchGuests(text: string, limit: number): GuestSearchView {
    needPackage();
    if (!settings.show_names) {
      throw uiError('invalid', "this kiosk hides guests' names, so finding a guest by name is off", 'query');
    }
    const words = text.toLowerCase().split(/\s+/).filter((w) => w !== '');
    const matches: [string, Ticket][] = [];
    if (words.length > 0) {
      for (const [code, ticket] of tickets) {
        const nameWords = (ticket.name ?? '').toLowerCase().split(/\s+/);
        const ok = words.every(
          (w) => nameWords.some((n) => n.startsWith(w)) || (w.length >= 4 && code.toLowerCase().includes(w)),
        );
        if (ok) matches.push([code, ticket]);
      }
    }
    matches.sort(([a, x], [b, y]) => (x.name ?? '').localeCompare(y.name ?? '') || a.localeCompare(b));
    const hits: GuestHit[] = matches.slice(0, limit).map(([, ticket]) => {
      const entries = fake.checkIns.filter((c) => c.ticketId === ticket.id && !c.annulled && c.direction === 'entry');
      return {
        ticket_id: ticket.id,
        name: ticket.name ?? '',
        email: null,
        ticket_type: TICKET_TYPES.find((t) => t.id === ticket.typeId)?.name ?? null,
        status: ticket.status,
        entries: entries.length,
        last_entry_at: entries.at(-1)?.at ?? null,
      };
    });
    return { query: text, hits, total: matches.length };
  }

  function admitFound(ticketId: string): ScanOutcome {
    const code = [...tickets].find(([, t]) => t.id === ticketId)?.[0];
    if (code === undefined) throw uiError('invalid', `ticket ${ticketId} is not in this kiosk's package`);
    return judge(code, 'search');
  }

  /** The engine's rule: every question asked must be answered (a consent ticked), nothing else. */
  function answerQuestions(ticketId: string, answers: Record<string, unknown>, source: ScanOutcome['source']): ScanOutcome {
    const found = [...tickets].find(([, t]) => t.id === ticketId);
    if (!found) throw uiError('invalid', `ticket ${ticketId} is not in this kiosk's package`);
    const [code, ticket] = found;
    const asked = ticket.missing ?? [];
    const errors: FieldError[] = [];
    for (const id of asked) {
      const value = answers[id];
      if (value === undefined || value === null || value === '' || value === false) {
        const checkbox = formFields(FORM).find((f) => f.id === id)?.kind === 'checkbox';
        errors.push(checkbox ? { field: id, code: 'must_accept', message: 'This must be accepted.' } : { field: id, code: 'required', message: 'This field is required.' });
      }
    }
    for (const key of Object.keys(answers)) {
      if (!asked.includes(key)) errors.push({ field: key, code: 'unknown_field', message: `This gate does not ask \`${key}\`.` });
    }
    if (errors.length > 0) throw uiError('fields', 'some answers need attention', null, errors);
    if (asked.length > 0) {
      fake.seq += 1;
      fake.pending += 1;
      ticket.missing = undefined;
    }
    return judge(code, source);
  }

  function alreadyUsedReason(first: CheckIn, current: Gate): string {
    const at = new Date(first.at).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' });
    const where = GATES.find((g) => g.id === first.gateId)?.name ?? 'another gate';
    const since = current.reentry === 'after_exit' ? ', with no exit since' : '';
    return `Already admitted at ${where} at ${at}${since}.`;
  }

  // ---- walk-ins ----

  function register(request: WalkInRequest): BadgeView {
    needPackage();
    const errors: FieldError[] = [];
    const first = request.first_name.trim();
    const last = request.last_name.trim();
    if (!first) errors.push({ field: 'first_name', code: 'required', message: 'Enter a first name.' });
    if (!last) errors.push({ field: 'last_name', code: 'required', message: 'Enter a last name.' });
    if (request.email?.toLowerCase() === 'taken@example.org') {
      errors.push({ field: 'email', code: 'invalid_email', message: 'This address is already registered: check the attendee list.' });
    }
    const known = new Set(formFields(FORM).map((f) => f.id));
    for (const key of Object.keys(request.answers)) {
      if (!known.has(key)) errors.push({ field: key, code: 'unknown_field', message: `This form has no field \`${key}\`.` });
    }
    const { problems } = evaluateForm(FORM, request.answers as RawAnswers);
    for (const [field, problem] of Object.entries(problems)) {
      errors.push({ field, code: problem.code, message: problem.message ?? 'This answer is not accepted.' });
    }
    if (errors.length > 0) throw uiError('fields', 'some answers need attention', null, errors);
    const type = TICKET_TYPES.find((t) => t.id === request.ticket_type_id) ?? TICKET_TYPES[0];
    if (!type) throw uiError('invalid', 'this event has no ticket type', 'ticket_type_id');
    fake.seq += 1;
    fake.pending += 1;
    const code = `GP1-${String(fake.seq).padStart(6, '0')}-WALKIN`;
    tickets.set(code, { id: `ticket-w${fake.seq}`, typeId: type.id, name: `${first} ${last}`, status: 'valid', answers: request.answers as Record<string, JsonValue> });
    void publishStatus();
    return {
      ticket_id: `ticket-w${fake.seq}`,
      ticket_type_id: type.id,
      attendee_name: `${first} ${last}`,
      ticket_type: type.name,
      event_name: EVENT.name,
      code,
      qr_svg: fakeQrSvg(code),
      qr_version: 3,
      seq: fake.seq,
    };
  }

  // ---- sync ----

  async function syncNow(channel: Channel<SyncProgress>): Promise<SyncReport> {
    needEnrolled();
    fake.lastAttemptAt = Date.now();
    void publishStatus({ syncing: true });
    if (!fake.online) {
      await sleep(controls.stepMs);
      fake.lastError = 'connection refused (os error 111)';
      void publishStatus();
      throw uiError('offline', 'the server cannot be reached: connection refused (os error 111)');
    }
    const total = fake.pending;
    const send = (message: SyncProgress) => channel.onmessage(message);
    const steps = 5;
    for (let i = 0; i <= steps; i += 1) {
      send({ phase: 'pushing', sent: Math.round((total * i) / steps), total });
      await sleep(controls.stepMs);
    }
    const pulled = 42;
    for (let i = 0; i <= 3; i += 1) {
      send({ phase: 'pulling', received: Math.round((pulled * i) / 3) });
      await sleep(controls.stepMs);
    }
    fake.acknowledged += total;
    fake.pending = 0;
    fake.pulledTotal += pulled;
    fake.lastSyncAt = Date.now();
    fake.lastError = null;
    void publishStatus();
    return {
      pushed: total,
      parked: 0,
      pulled,
      pending_after: 0,
      write_checkpoint: 1234 + fake.pulledTotal,
      package_version: fake.serverPackageVersion,
      clock_ahead_ms: fake.clockAheadMs,
      refetched: false,
      package_applied: null,
    };
  }

  // ---- camera ----

  function startCamera(channel: Channel<PreviewFrame>): CameraStatus {
    window.clearInterval(fake.cameraTimer);
    if (fake.camera === 'none') return { state: 'no_camera', message: 'no camera was found' };
    if (fake.camera === 'failed') return { state: 'failed', message: 'the camera is busy (device or resource busy)' };
    const image = cameraFrameUrl();
    let tick = 0;
    const frame = (): PreviewFrame => {
      const wobble = Math.sin(tick / 4) * 3;
      tick += 1;
      return {
        image,
        width: 640,
        height: 480,
        outline: [
          { x: 224 + wobble, y: 134 },
          { x: 416, y: 134 + wobble },
          { x: 416 - wobble, y: 326 },
          { x: 224, y: 326 - wobble },
        ],
      };
    };
    const camera = CAMERAS.find((c) => c.id === settings.camera) ?? CAMERAS[0]!;
    // As the engine does: "starting" now, "running" as an event with the first frame (which,
    // like there, may reach the page before this answer).
    void emit('camera-status', { state: 'running', camera });
    channel.onmessage(frame());
    fake.cameraTimer = window.setInterval(() => channel.onmessage(frame()), 100);
    return { state: 'starting', camera };
  }

  // ---- commands ----

  async function handle(cmd: string, payload: unknown): Promise<unknown> {
    const args = (payload ?? {}) as Args;
    switch (cmd) {
      case 'app_state':
        return appState();
      case 'set_up': {
        if (fake.setUp) throw uiError('already_set_up', 'this kiosk is set up already');
        const pin = String(args.pin ?? '');
        const coordinatorPin = String(args.coordinatorPin ?? '');
        if (pin === coordinatorPin) throw uiError('invalid', 'the coordinator PIN must differ from the kiosk PIN', 'coordinator_pin');
        if ([...pin].length < 8) throw uiError('invalid', 'a kiosk PIN has 8 to 64 characters', 'pin');
        if ([...coordinatorPin].length < 4) throw uiError('invalid', 'a coordinator PIN has 4 to 64 characters', 'coordinator_pin');
        Object.assign(fake, { setUp: true, unlocked: true, kioskPin: pin, coordinatorPin });
        return appState();
      }
      case 'unlock': {
        if (!fake.setUp) throw uiError('not_set_up', 'this kiosk is not set up yet');
        await sleep(150);
        const wait = Math.ceil((fake.unlockNotBefore - Date.now()) / 1000);
        if (wait > 0) throw uiError('too_many_attempts', `too many wrong PINs: try again in ${wait} s`, 'pin');
        if (args.pin !== fake.kioskPin) {
          fake.unlockFailures += 1;
          if (fake.unlockFailures > 5) {
            fake.unlockNotBefore = Date.now() + Math.min(30_000 * 2 ** (fake.unlockFailures - 6), 3_600_000);
          }
          throw uiError('wrong_pin', 'wrong PIN');
        }
        Object.assign(fake, { unlocked: true, unlockFailures: 0, unlockNotBefore: 0 });
        return appState();
      }
      case 'lock':
        fake.unlocked = false;
        return appState();
      case 'enrol': {
        needOpen();
        const invite = String(args.invite ?? '');
        const token = typeof args.token === 'string' ? args.token : null;
        if (token === null && !invite.toUpperCase().startsWith('GATEPASS-ENROL:')) {
          throw uiError('invalid', 'not an enrolment code: scan the QR from the server, or type its URL and token', 'invite');
        }
        const url = token === null ? invite.slice('GATEPASS-ENROL:'.length) : invite;
        await sleep(300);
        if (!fake.online || url.includes('offline')) {
          throw uiError('offline', `the server cannot be reached: ${url.split('#')[0]}: connection refused`);
        }
        if (token === 'used') throw uiError('server', 'the server refused: this enrolment token was already used');
        fake.enrolled = true;
        fake.label = String(args.label ?? '');
        return appState();
      }
      case 'enrol_from_kit': {
        // The kit code travels in a header, which the IPC mock does not pass on: not checked here.
        needOpen();
        const bytes = payload instanceof Uint8Array ? payload : null;
        if (!bytes || new TextDecoder().decode(bytes.slice(0, 12)) !== 'GATEPASS-KIT') {
          throw uiError('invalid', 'not a kiosk kit file', 'kit');
        }
        await sleep(300);
        fake.enrolled = true;
        fake.label = 'Kit kiosk';
        fake.packageVersion = fake.serverPackageVersion;
        return appState();
      }
      case 'fetch_package': {
        needEnrolled();
        if (!fake.online) throw uiError('offline', 'the server cannot be reached: connection refused');
        await sleep(controls.stepMs * 6);
        fake.packageVersion = fake.serverPackageVersion;
        void publishStatus();
        return { version: fake.packageVersion, tickets: tickets.size };
      }
      case 'import_package': {
        needEnrolled();
        const bytes = payload instanceof Uint8Array ? payload : payload instanceof ArrayBuffer ? new Uint8Array(payload) : null;
        if (!bytes) throw uiError('internal', 'import_package expects the file bytes as the body');
        const magic = new TextDecoder().decode(bytes.slice(0, 4));
        if (magic !== 'GPKG') throw uiError('package_refused', 'the package was refused: not a Gatepass package file');
        fake.packageVersion = Math.max(fake.packageVersion ?? 0, fake.serverPackageVersion);
        return { version: fake.packageVersion, tickets: tickets.size };
      }
      case 'gates':
        needPackage();
        return GATES;
      case 'select_gate': {
        needPackage();
        const picked = GATES.find((g) => g.id === args.gateId);
        if (!picked) throw uiError('invalid', 'this gate is not in the package', 'gate_id');
        settings.gate_id = picked.id;
        if (picked.mode === 'entry_only') settings.direction = 'entry';
        if (picked.mode === 'exit_only') settings.direction = 'exit';
        return appState();
      }
      case 'set_direction': {
        needPackage();
        const current = gate();
        if (!current) throw uiError('no_gate', 'pick a gate first');
        if (current.mode !== 'entry_and_exit') throw uiError('invalid', `gate ${current.name} does not scan this direction`, 'direction');
        settings.direction = args.direction === 'exit' ? 'exit' : 'entry';
        return appState();
      }
      case 'scan_code':
        return judge(String(args.code ?? ''), args.source === 'wedge' ? 'wedge' : 'typed');
      case 'search_guests':
        return searchGuests(String(args.query ?? ''), Number(args.limit ?? 20));
      case 'admit_found':
        return admitFound(String(args.ticketId ?? ''));
      case 'answer_questions':
        return answerQuestions(String(args.ticketId ?? ''), (args.answers ?? {}) as Record<string, unknown>, args.source as ScanOutcome['source']);
      case 'annul_check_in': {
        needPackage();
        const checkIn = fake.checkIns.find((c) => c.id === args.checkInId);
        if (!checkIn) throw uiError('invalid', 'no such check-in on this kiosk', 'check_in_id');
        if (Date.now() - checkIn.at > 2 * 60 * 1000) throw uiError('invalid', 'too late to annul this check-in', 'check_in_id');
        checkIn.annulled = true;
        fake.pending += 1;
        return counts();
      }
      case 'counts':
        needPackage();
        return counts();
      case 'walk_in_setup':
        needPackage();
        return { form: FORM, ticket_types: TICKET_TYPES };
      case 'register_walk_in':
        await sleep(150);
        return register(args.request as WalkInRequest);
      case 'reprint_badge': {
        needPackage();
        const found = [...tickets].find(([, t]) => t.id === args.ticketId);
        if (!found) throw uiError('invalid', `ticket ${String(args.ticketId)} is not in this kiosk's package`);
        return printBadge(found[0], found[1]);
      }
      case 'print_badge':
        needPackage();
        // A printer that is set but gone: the engine's answer for a refused job.
        if (settings.badge_printer === 'Unplugged_Printer') throw uiError('printer', 'Unplugged_Printer: Printer not found');
        return null;
      case 'printers':
        return ['Zebra_ZD421', 'Unplugged_Printer'];
      case 'check_coordinator_pin':
        needOpen();
        await sleep(100);
        if (args.pin !== fake.coordinatorPin) throw uiError('wrong_pin', 'wrong PIN');
        return null;
      case 'outbox':
        needOpen();
        return outbox();
      case 'retry_parked':
        needOpen();
        takeParked(args.seq as number);
        fake.pending += 1;
        publishStatus();
        return outbox();
      case 'dismiss_parked':
        needOpen();
        takeParked(args.seq as number);
        fake.dismissed += 1;
        publishStatus();
        return outbox();
      case 'conflicts':
        needEnrolled();
        await sleep(150);
        if (!fake.online) throw uiError('offline', 'the server cannot be reached: connection refused');
        return conflicts();
      case 'sync_status':
        return status();
      case 'sync_now':
        return syncNow(args.onProgress as Channel<SyncProgress>);
      case 'save_settings':
        Object.assign(settings, args.settings as Settings);
        return appState();
      case 'cameras':
        return fake.camera === 'none' ? [] : CAMERAS;
      case 'start_camera':
        return startCamera(args.preview as Channel<PreviewFrame>);
      case 'stop_camera':
        window.clearInterval(fake.cameraTimer);
        return { state: 'stopped' };
      case 'set_kiosk_mode':
        if (args.on === false && args.pin !== fake.coordinatorPin) throw uiError('wrong_pin', 'wrong PIN');
        fake.kioskMode = args.on === true;
        return appState();
      default:
        throw uiError('internal', `the fake kiosk has no command ${cmd}`);
    }
  }

  mockIPC(
    (cmd, payload) => {
      controls.calls.push({ cmd, args: payload instanceof Uint8Array ? `<${payload.length} bytes>` : payload });
      return handle(cmd, payload);
    },
    { shouldMockEvents: true },
  );
  window.__fake = controls;
  return controls;
}
