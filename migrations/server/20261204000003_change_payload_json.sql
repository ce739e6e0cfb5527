-- The change log keeps each payload as JSON text, not jsonb: Postgres then only checks the text
-- as it stores it, instead of building jsonb's binary form (about 40% of the change log's insert
-- time), and a pull or a filing reads it back without printing it again. Nothing queries inside
-- payloads but the odd `->>`, which json has too.
alter table changes alter column payload type json using payload::json;
