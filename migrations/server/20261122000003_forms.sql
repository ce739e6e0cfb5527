-- Registration form definitions, versioned: a new upload of a form is a new version, and
-- walk-ins record the version they were registered against.
create table forms (
    id          uuid not null,
    version     integer not null check (version > 0),
    event_id    uuid not null references events (id) on delete cascade,
    definition  jsonb not null,
    created_at  timestamptz not null default now(),
    primary key (id, version)
);
create index forms_event on forms (event_id);
