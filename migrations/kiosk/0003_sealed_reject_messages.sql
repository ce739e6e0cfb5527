-- The server's reason for a parked change can quote what the change held (a name, an email), so
-- it is kept sealed like the change itself: AES-256-GCM bound to the outbox row ('outbox_reject'
-- and its seq). Reasons stored in plain text before are sealed at the next unlock (the key is
-- needed) and their text cleared.
alter table outbox add column reject_sealed blob;
