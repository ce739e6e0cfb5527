-- Attendee edits this kiosk knows: its own (answers given at a gate) and those pulled from other
-- kiosks. The attendee's sealed row holds the merged result; each version is kept, sealed, so a
-- package that replaces attendee rows gets the edits applied again, and a new edit can name the
-- version it replaced (kiosk-app/core/src/store/edits.rs).
create table attendee_edits (
    -- The change that carried the edit: a replay is a no-op.
    change_id   blob primary key,
    attendee_id blob not null,
    -- Sealed JSON: the change's HLC and device, and the fields it wrote.
    sealed      blob not null
) strict;
create index attendee_edits_attendee on attendee_edits (attendee_id);
