-- A push feeds its accepted changes as runs of consecutive seqs, one feed row per run (`seq` to
-- `seq_end` of its device) instead of one row per change: a burst of pushes writes a feed row
-- and its index entry per push, not per check-in.
--
-- Positions stay `<tx>-<pos>`: every feed row now takes a block of 1024 positions (the sequence
-- steps by 1024), and the change at seq s of a run is at position pos + (s - seq). A run is at
-- most 1024 changes long (a push carries at most 1000), so runs never share a position and a
-- cursor may point inside a run. Rows written before keep their positions (a run of one each).
alter table feed add column seq_end bigint;

update feed set seq_end = seq where device_id is not null;

alter table feed add constraint feed_run check (
    device_id is null
    or (seq_end is not null and seq_end >= seq and seq_end - seq < 1024));

alter sequence feed_pos_seq increment by 1024;
