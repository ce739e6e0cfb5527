-- The event's rules are tagged row by row (kiosk-app/core/src/store/rules.rs): each row of these
-- tables carries an HMAC of its columns, so an edited gate or ticket type is refused alone and
-- the other gates keep scanning. The tag kept in meta ('tag:<table>') now covers the set of rows
-- (their keys), so a row added or removed still refuses the whole table. Rows from before are
-- tagged at the next unlock, once their old whole-table tag has verified.
alter table event add column tag blob;
alter table ticket_types add column tag blob;
alter table gates add column tag blob;
alter table forms add column tag blob;
