-- The filer retires the open ticket conflicts of the tickets it has just recomputed (their first
-- record is the ticket): one probe per ticket by this index. Without it, a batch of double
-- admissions compared every open conflict of the event with every ticket of the batch (1.5 s a
-- filing at 100,000 open). Status is a key column, not a partial-index predicate: the planner
-- then prefers this index over conflicts_event even before the table's first analyze.
create index conflicts_by_first_record on conflicts (event_id, status, (records[1]));
