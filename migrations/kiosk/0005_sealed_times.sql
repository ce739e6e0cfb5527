-- When things happened is sealed too (kiosk-app/core/src/store/timeline.rs and outbox.rs):
-- a check-in's time in 'hlc_sealed' (the plain 'hlc' holds 0), and what the outbox says about
-- each change besides its payload (its id, stamp, kind, the record it is about, when it was made)
-- in 'envelope' (the plain columns hold empty values). Rows from before are sealed at the next
-- unlock, when the key is at hand.
alter table check_ins add column hlc_sealed blob;
alter table outbox add column envelope blob;
