-- Reverts 003.
ALTER TABLE upload_jobs DROP COLUMN IF EXISTS object_sequencer;
ALTER TABLE upload_jobs DROP COLUMN IF EXISTS object_size;
ALTER TABLE upload_jobs DROP COLUMN IF EXISTS object_etag;
ALTER TABLE upload_jobs DROP COLUMN IF EXISTS upload_expires_at;
ALTER TABLE upload_jobs DROP COLUMN IF EXISTS checksum_sha256;
