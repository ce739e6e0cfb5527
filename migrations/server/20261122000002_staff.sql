-- Staff accounts (admins and coordinators), their login sessions, failed logins (for rate
-- limiting across instances), and the audit log of every staff action.

create table users (
    id            uuid primary key,
    username      text not null unique,
    -- Argon2id PHC string.
    password_hash text not null,
    role          text not null check (role in ('admin', 'coordinator')),
    created_at    timestamptz not null default now(),
    disabled_at   timestamptz
);

-- Login sessions; only the SHA-256 of the bearer token is stored.
create table sessions (
    token_hash   bytea primary key,
    user_id      uuid not null references users (id) on delete cascade,
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    revoked_at   timestamptz
);
create index sessions_user on sessions (user_id);

create table login_failures (
    id        bigserial primary key,
    at        timestamptz not null default now(),
    username  text not null,
    source    text not null
);
create index login_failures_recent on login_failures (at);

create table audit_log (
    id          bigserial primary key,
    at          timestamptz not null default now(),
    -- 'user' (HTTP API), 'cli' (sync-server admin on the server host), 'device'.
    actor_kind  text not null,
    actor       text not null,
    action      text not null,
    target      text,
    details     jsonb not null default '{}',
    -- Where from: the client address for HTTP, 'cli' for the command line.
    source      text not null
);
create index audit_log_at on audit_log (at);
