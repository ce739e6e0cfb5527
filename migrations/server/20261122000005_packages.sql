-- Event packages as the server stores them (the `packages` table of 20261122000001_core.sql).
--
-- A version is stored twice at most: in full (base_version null) and as a delta from the version
-- before (base_version = version - 1). The primary key of the core migration made base_version
-- NOT NULL (a key column cannot be null), so full snapshots could not be stored: it is replaced by
-- two partial unique indexes.
--
-- `body` holds the exact bytes the signed manifest hashes (JSON); `body_gzip` the same bytes
-- gzip-compressed, served as is to clients that accept gzip. Both are stored EXTERNAL (no TOAST
-- compression), so a range request reads only the chunks it needs with substring().

alter table packages drop constraint packages_pkey;
alter table packages alter column base_version drop not null;
create unique index packages_full on packages (event_id, version) where base_version is null;
create unique index packages_delta on packages (event_id, version, base_version)
    where base_version is not null;

alter table packages
    add column body_sha256  text not null default '',
    add column body_len     bigint not null default 0,
    add column ticket_count bigint not null default 0,
    add column body_gzip    bytea;

alter table packages alter column body set storage external;
alter table packages alter column body_gzip set storage external;
