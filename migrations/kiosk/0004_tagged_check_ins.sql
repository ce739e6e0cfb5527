-- Each check-in row carries a tag: an HMAC of all its columns under a subkey of the data key, so
-- a row edited or made up in the file is refused as damaged (kiosk-app/core/src/store/timeline.rs).
-- Rows from before are tagged at the next unlock (the key is needed); the number of rows is
-- sealed in meta ('check_in_count') so that removed rows are found at unlock.
alter table check_ins add column tag blob;
