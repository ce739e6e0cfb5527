-- The admin catalogue: what CSV imports need to find earlier imports again (so a re-import
-- updates instead of duplicating), and indexes for the admin lists.

-- The importer's own key for an attendee (a registration number from the ticket shop), if any.
alter table attendees add column external_ref text;
create unique index attendees_external_ref on attendees (event_id, external_ref)
    where external_ref is not null;
-- Re-imports without an external_ref match on email (case-insensitive) and ticket type.
create index attendees_event_email on attendees (event_id, lower(email)) where email is not null;

create index tickets_event_type on tickets (event_id, ticket_type_id);
create index enrolment_tokens_event on enrolment_tokens (event_id);
