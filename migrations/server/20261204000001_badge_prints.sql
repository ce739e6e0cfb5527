-- Badge printing at the gate: when a gate prints (never, first badge only, every admission), and
-- the print log kiosks sync, so "first badge only" holds across kiosks and a coordinator's reprint
-- is on record (sync-server/src/store/pg/ingest.rs files it, `admin export badge-prints` reads it).
alter table gates add column print_badge text not null default 'never'
    check (print_badge in ('never', 'first', 'every'));

create table badge_prints (
    event_id    uuid not null references events (id) on delete cascade,
    -- The change that carried the print: a replay is a no-op.
    device_id   uuid not null,
    seq         bigint not null,
    hlc         bigint not null,
    ticket_id   uuid not null,
    gate_id     uuid not null,
    -- The admission that printed it; null for a coordinator's reprint.
    check_in_id uuid,
    reprint     boolean not null,
    printed_at  bigint not null,
    primary key (device_id, seq)
);
create index badge_prints_event on badge_prints (event_id, ticket_id);
