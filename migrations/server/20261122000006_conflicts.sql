-- Domain effects of pushed changes, and the conflicts the merge rules find in them.
--
-- Check-ins are facts: no foreign key to tickets or gates, so a scan of a ticket or at a gate the
-- server does not know (yet) is kept all the same. HLC stamps are packed bigints.

-- Every check-in and failed scan, exactly as the kiosk recorded it; `id` is the kiosk's nonce.
create table check_ins (
    id            uuid primary key,
    event_id      uuid not null references events (id) on delete cascade,
    -- Null for a failed scan that matched no ticket.
    ticket_id     uuid,
    gate_id       uuid not null,
    direction     text not null check (direction in ('entry', 'exit')),
    device_id     uuid not null,
    seq           bigint not null,
    hlc           bigint not null,
    verdict       text not null,
    offline       boolean not null,
    scanned_at    bigint not null,
    -- A failed scan (kind failed_scan) rather than a check-in.
    failed        boolean not null default false,
    scanned_text  text,
    -- Annulled by the device that made it, within the window (see docs/conflicts.md).
    annulled      boolean not null default false,
    annulled_hlc  bigint,
    annul_reason  text
);
create index check_ins_ticket on check_ins (ticket_id);
create index check_ins_event on check_ins (event_id, hlc);

-- Walk-ins: which change registered the attendee, so the merge can recompute its order.
alter table attendees add column created_seq bigint;
alter table attendees add column created_hlc bigint;
-- Candidates for duplicate detection, by normalised email and by the last six phone digits.
create index attendees_email_key on attendees (event_id, lower(btrim(email, E' \t\r\n')));
create index attendees_phone_tail on attendees (event_id, right(regexp_replace(phone, '[^0-9]', '', 'g'), 6));

-- Every edit of an attendee field ever accepted, so the last-writer-wins merge is recomputable.
-- device_id is the kiosk, or the server's own id for a coordinator's resolution.
create table attendee_edits (
    attendee_id  uuid not null,
    field        text not null,
    hlc          bigint not null,
    device_id    uuid not null,
    event_id     uuid not null references events (id) on delete cascade,
    value        jsonb not null,
    seen_hlc     bigint,
    seq          bigint,
    primary key (attendee_id, field, hlc, device_id)
);

-- A walk-in ticket the tickets table could not take (its code clashes with another ticket, its
-- id is taken, or its ticket type is unknown). The attendee is stored all the same.
create table parked_walk_in_tickets (
    ticket_id      uuid primary key,
    event_id       uuid not null references events (id) on delete cascade,
    attendee_id    uuid not null,
    ticket_type_id uuid not null,
    status         text not null,
    code           text not null,
    reason         text not null,
    device_id      uuid not null,
    hlc            bigint not null,
    parked_at      timestamptz not null default now()
);

-- Merged duplicates: the alias is the attendee (or ticket) that was merged into another.
-- Always flattened: an alias points at a canonical record, never at another alias.
create table attendee_aliases (
    alias_id     uuid primary key,
    attendee_id  uuid not null,
    event_id     uuid not null references events (id) on delete cascade,
    created_at   timestamptz not null default now()
);
create index attendee_aliases_target on attendee_aliases (attendee_id);

create table ticket_aliases (
    alias_id   uuid primary key,
    ticket_id  uuid not null,
    event_id   uuid not null references events (id) on delete cascade,
    created_at timestamptz not null default now()
);
create index ticket_aliases_target on ticket_aliases (ticket_id);

-- Conflicts, each stored once under its deterministic id (sync_protocol::merge::Conflict::id).
create table conflicts (
    id           uuid primary key,
    event_id     uuid not null references events (id) on delete cascade,
    kind         text not null,
    key          text not null,
    -- Ids of the records involved (tickets, check-ins, attendees), for lookups.
    records      uuid[] not null,
    -- The conflict as the merge reported it: both sides, both values.
    detail       jsonb not null,
    at_hlc       bigint not null,
    detected_at  timestamptz not null default now(),
    status       text not null default 'open' check (status in ('open', 'resolved')),
    resolution   jsonb,
    resolved_by  text,
    resolved_at  timestamptz
);
create index conflicts_event on conflicts (event_id, status, kind, at_hlc);
create index conflicts_records on conflicts using gin (records);
