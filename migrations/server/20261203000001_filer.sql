-- The filer: a push stores the change log and its feed rows and answers; the domain effects of
-- device changes (check_ins, walk-ins, edits, merges, conflicts) are filed after it commits, in
-- feed order, by one filer per event at a time. Its position in each event's feed: every device
-- change at or before it is filed.
create table filer_positions (
    event_id uuid primary key references events (id) on delete cascade,
    tx       xid8 not null,
    pos      bigint not null
);

-- Everything pushed before this migration was filed in its push's transaction.
insert into filer_positions (event_id, tx, pos)
select distinct on (event_id) event_id, tx, pos from feed order by event_id, tx desc, pos desc;
