-- Login and enrolment attempts are counted per source (and per username from that source):
-- the count reads this index instead of the whole window.
create index login_failures_source on login_failures (source, at);
