-- 002: the three nullable columns the Python service added to the production
-- table by hand and still reads. On production they already exist, so this
-- file changes nothing there; on a new database it creates them so rows
-- written by this service carry the same data.
--
--   pg_user_id         the internal JWT's optional `pg_user_id` claim
--   user_name          the internal JWT's optional `user_name` claim
--   participants_json  POST /upload/init's optional `participants` array, as
--                      JSON text ("[]" for an explicit empty list, NULL when
--                      the field is absent)

ALTER TABLE upload_jobs ADD COLUMN IF NOT EXISTS pg_user_id TEXT;
ALTER TABLE upload_jobs ADD COLUMN IF NOT EXISTS user_name TEXT;
ALTER TABLE upload_jobs ADD COLUMN IF NOT EXISTS participants_json TEXT;
