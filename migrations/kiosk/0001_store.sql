-- The kiosk's local store. Personal data and ticket codes are sealed (AES-256-GCM, the row's
-- identity as associated data); tickets are found by a keyed blind index of their code. Rules
-- and names that are not personal (event, gates, ticket types, forms) are kept as plain JSON.

create table meta (
    key   text primary key,
    value blob not null
) strict;

create table event (
    id   blob primary key,
    body text not null
) strict;

create table ticket_types (
    id   blob primary key,
    body text not null
) strict;

create table gates (
    id   blob primary key,
    body text not null
) strict;

create table forms (
    id      blob not null,
    version integer not null,
    body    text not null,
    primary key (id, version)
) strict;

-- Signed certificates of the event's kiosks, as they came in the package.
create table certificates (
    body text not null
) strict;

create table revoked_devices (
    device_id blob primary key
) strict;

create table attendees (
    id     blob primary key,
    -- Sealed JSON of the attendee (names, email, phone, answers).
    sealed blob not null
) strict;

create table tickets (
    id             blob primary key,
    -- Keyed blind index (HMAC) of the code: the only way to find a ticket by what is scanned.
    code_index     blob not null unique,
    attendee_id    blob not null,
    ticket_type_id blob not null,
    -- 0 valid, 1 canceled, 2 revoked.
    status         integer not null,
    -- Sealed code.
    sealed         blob not null
) strict;
create index tickets_attendee on tickets (attendee_id);

-- Every check-in this kiosk knows: its own and those pulled from others. Facts, never edited
-- except for the annulled flag.
create table check_ins (
    id        blob primary key,
    ticket_id blob not null,
    gate_id   blob not null,
    -- 0 entry, 1 exit.
    direction integer not null,
    admitted  integer not null,
    hlc       integer not null,
    device_id blob not null,
    annulled  integer not null default 0
) strict;
create index check_ins_ticket on check_ins (ticket_id);

-- Changes waiting to be pushed, and those the server has acknowledged (kept for display).
create table outbox (
    seq            integer primary key,
    change_id      blob not null,
    hlc            integer not null,
    kind           text not null,
    schema_version integer not null,
    entity_id      text not null,
    -- Sealed JSON payload (a walk-in carries personal data).
    sealed         blob not null,
    package_version integer not null,
    -- 0 pending, 1 acknowledged, 2 parked by the server (rejected).
    state          integer not null default 0,
    reject_code    text,
    reject_message text,
    created_at     integer not null
) strict;
create index outbox_pending on outbox (state, seq);
