-- The highest seq each device stored in the change log, kept on the device row by the push that
-- stores it. A push locks the device row `for update` and reads it there: after waiting for
-- another push of the same device, the locked row is the newest version, where a subquery on the
-- change log would still see the statement's older snapshot. It also lets a push whose batch lies
-- wholly above it (every push but a replay) store everything in one statement.
alter table devices add column stored_seq bigint not null default 0;

update devices d set stored_seq = s.max_seq
from (select device_id, max(seq) as max_seq from changes group by device_id) s
where s.device_id = d.id;
