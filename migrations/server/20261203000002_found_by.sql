-- How a kiosk found the ticket of a check-in or failed scan: its code read ('code': camera,
-- scanner, typed) or the guest picked from a search by name ('search'). Older rows were all read.
alter table check_ins
    add column found_by text not null default 'code' check (found_by in ('code', 'search'));
