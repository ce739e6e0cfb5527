-- Tickets whose badge some kiosk has printed (this one, another one whose print log was pulled,
-- or the package's list), so a gate that prints the first badge only never prints it twice.
-- A print is never taken back: rows are only added (kiosk-app/core/src/store/prints.rs).
create table printed_badges (
    ticket_id blob primary key
) strict, without rowid;
