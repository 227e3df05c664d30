-- Reverts 004.
ALTER TABLE upload_jobs DROP COLUMN IF EXISTS handed_off_at;
