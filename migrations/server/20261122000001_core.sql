-- Core schema of the sync server: events and what a package carries, devices and enrolment,
-- the change log pushed by kiosks, and the change feed kiosks pull.
-- Times that come from the protocol are Unix milliseconds (bigint); HLC stamps are packed bigints.

create table events (
    id          uuid primary key,
    name        text not null,
    time_zone   text not null,
    starts_at   bigint not null,
    ends_at     bigint not null,
    created_at  timestamptz not null default now()
);

create table ticket_types (
    id          uuid primary key,
    event_id    uuid not null references events (id) on delete cascade,
    name        text not null,
    valid_from  bigint,
    valid_until bigint,
    unique (event_id, name)
);

create table gates (
    id                    uuid primary key,
    event_id              uuid not null references events (id) on delete cascade,
    name                  text not null,
    mode                  text not null check (mode in ('entry_only', 'exit_only', 'entry_and_exit')),
    reentry               text not null check (reentry in ('never', 'after_exit', 'always')),
    allowed_ticket_types  uuid[] not null default '{}',
    required_answers      text[] not null default '{}',
    unique (event_id, name)
);

create table attendees (
    id           uuid primary key,
    event_id     uuid not null references events (id) on delete cascade,
    first_name   text not null,
    last_name    text not null,
    email        text,
    phone        text,
    answers      jsonb not null default '{}',
    form_id      uuid,
    form_version integer,
    -- Set for walk-ins: the kiosk that registered them.
    created_by_device uuid,
    updated_hlc  bigint not null default 0
);
create index attendees_event on attendees (event_id);

create table tickets (
    id             uuid primary key,
    event_id       uuid not null references events (id) on delete cascade,
    attendee_id    uuid not null references attendees (id) on delete cascade,
    ticket_type_id uuid not null references ticket_types (id),
    status         text not null check (status in ('valid', 'canceled', 'revoked')),
    code           text not null,
    status_hlc     bigint not null default 0,
    unique (event_id, code)
);
create index tickets_attendee on tickets (attendee_id);

-- One-time enrolment tokens; only their SHA-256 is stored.
create table enrolment_tokens (
    token_hash  bytea primary key,
    event_id    uuid not null references events (id) on delete cascade,
    gate_id     uuid references gates (id) on delete set null,
    label       text not null default '',
    expires_at  timestamptz not null,
    used_at     timestamptz,
    used_by     uuid,
    created_at  timestamptz not null default now()
);

create table devices (
    id               uuid primary key,
    event_id         uuid not null references events (id) on delete cascade,
    label            text not null,
    app_version      text not null,
    token_hash       bytea not null unique,
    public_key       bytea not null,
    certificate      jsonb not null,
    gate_id          uuid references gates (id) on delete set null,
    enrolled_at      timestamptz not null default now(),
    revoked_at       timestamptz,
    last_seen_at     timestamptz,
    last_push_at     timestamptz,
    last_pull_at     timestamptz,
    acknowledged_seq bigint not null default 0
);
create index devices_event on devices (event_id);

-- Every change a device pushed, accepted or parked, exactly once per (device, seq).
create table changes (
    device_id       uuid not null references devices (id) on delete cascade,
    seq             bigint not null check (seq > 0),
    event_id        uuid not null references events (id) on delete cascade,
    change_id       uuid not null,
    hlc             bigint not null,
    kind            text not null,
    schema_version  integer not null,
    entity_id       text not null,
    package_version bigint not null,
    payload         jsonb not null,
    -- SHA-256 of the whole change as received: a replay must match it byte for byte.
    digest          bytea not null,
    status          text not null check (status in ('accepted', 'rejected')),
    reject_code     text,
    reject_message  text,
    clock_ahead_ms  bigint,
    received_at     timestamptz not null default now(),
    tx              xid8 not null default pg_current_xact_id(),
    primary key (device_id, seq)
);
create index changes_rejected on changes (event_id) where status = 'rejected';

-- The change feed of each event, in the order kiosks pull it: by writing transaction, then row.
-- A page only includes rows of transactions older than every running one, so a slow transaction
-- can never commit a row behind a cursor already handed out.
create table feed (
    event_id   uuid not null references events (id) on delete cascade,
    tx         xid8 not null default pg_current_xact_id(),
    pos        bigserial not null,
    device_id  uuid,
    seq        bigint,
    item       jsonb not null,
    primary key (event_id, tx, pos)
);

-- A push that reused a (device, seq) already stored with another payload: refused, kept here
-- for coordinators, since it means a kiosk's log was restored or cloned.
create table refused_changes (
    id          bigserial primary key,
    device_id   uuid not null references devices (id) on delete cascade,
    seq         bigint not null,
    digest      bytea not null,
    change      jsonb not null,
    received_at timestamptz not null default now()
);

-- Published event packages: a signed manifest and the body it describes.
create table packages (
    event_id     uuid not null references events (id) on delete cascade,
    version      bigint not null,
    base_version bigint,
    manifest     jsonb not null,
    body         bytea not null,
    created_at   timestamptz not null default now(),
    primary key (event_id, version, base_version)
);
