-- 003: what this service needs to know about each upload beyond the seed
-- schema. All nullable, no defaults: adding them is a catalogue-only change
-- (no table rewrite, no long lock), and rows written before it stay valid.
--
--   checksum_sha256     init's optional checksum (base64 SHA-256), so an
--                       idempotent retry with another checksum is a conflict
--   upload_expires_at   when the last upload URL issued for the job expires;
--                       the reaper's upload window starts there
--   object_etag,        the identity of the object the job advanced with
--   object_size,        (recorded by the transition to processing), so a later
--   object_sequencer    different object under the same key is detected
--                       (OBJECT_REPLACED) and the worker can pin its read

ALTER TABLE upload_jobs ADD COLUMN IF NOT EXISTS checksum_sha256 TEXT;
ALTER TABLE upload_jobs ADD COLUMN IF NOT EXISTS upload_expires_at TIMESTAMPTZ;
ALTER TABLE upload_jobs ADD COLUMN IF NOT EXISTS object_etag TEXT;
ALTER TABLE upload_jobs ADD COLUMN IF NOT EXISTS object_size BIGINT;
ALTER TABLE upload_jobs ADD COLUMN IF NOT EXISTS object_sequencer TEXT;
