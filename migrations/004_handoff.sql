-- 004: when the hand-off ("Upload Received" on the EventBridge bus) of a job
-- that advanced through a HEAD was put. Nullable, no default: a
-- catalogue-only change.
--
-- A job moved to processing by an S3 event needs no record: if its
-- PutEvents fails, the event fails and its retry publishes again. A job
-- moved by the reaper's recovery or by POST /upload/complete has no event
-- that will be retried (the reaper's was lost; complete's may be), so the
-- reaper re-publishes for such jobs until this column is set.

ALTER TABLE upload_jobs ADD COLUMN IF NOT EXISTS handed_off_at TIMESTAMPTZ;
