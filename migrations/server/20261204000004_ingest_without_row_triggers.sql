-- The tables every pushed change is written to (the change log, the feed, check_ins) drop their
-- foreign keys. Postgres checks a foreign key with a trigger per inserted row, and here that was
-- more than half of the change log's insert time (docs/benchmarks.md). The parents are known to
-- exist where the rows are written: a push locks its device row (`for update`, which also holds
-- off its deletion) and takes the event from it; the filer and the admin writes take the event
-- from rows they read in the same transaction.
alter table changes drop constraint changes_device_id_fkey;
alter table changes drop constraint changes_event_id_fkey;
alter table feed drop constraint feed_event_id_fkey;
alter table check_ins drop constraint check_ins_event_id_fkey;

-- What the cascades did, for the rare delete of an event or a device (a bench's own event, say):
-- one statement per table and parent, not a trigger per child row.
create function gatepass_delete_event_ingest() returns trigger language plpgsql as $$
begin
    delete from changes where event_id = old.id;
    delete from feed where event_id = old.id;
    delete from check_ins where event_id = old.id;
    return old;
end
$$;
create trigger events_delete_ingest before delete on events
    for each row execute function gatepass_delete_event_ingest();

create function gatepass_delete_device_changes() returns trigger language plpgsql as $$
begin
    delete from changes where device_id = old.id;
    return old;
end
$$;
create trigger devices_delete_changes before delete on devices
    for each row execute function gatepass_delete_device_changes();
