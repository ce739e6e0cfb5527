-- A device change's feed row refers to its change row (device_id, seq) instead of holding a
-- second copy of the change: a pull joins the change log. Other items (ticket status, tickets
-- issued, revoked devices) are still stored whole.
alter table feed alter column item drop not null;
alter table feed add constraint feed_item_or_change
    check (item is not null or (device_id is not null and seq is not null));

-- The merge reads every admission of a batch's tickets, ticket by ticket: an index holding
-- exactly those rows, ticket first, so no plan reads the whole event's check-ins for a push. It
-- replaces the index of every check-in by ticket, which nothing else reads (one index fewer to
-- write per check-in).
create index check_ins_admissions on check_ins (ticket_id, event_id)
    where verdict = 'admitted' and not failed;
drop index check_ins_ticket;
