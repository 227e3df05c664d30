-- 005: the index GET /upload/jobs pages through.
--
-- The listing is newest first, keyset-paginated on (created_at, id), for
-- one tenant and optionally one status. The seed's (tenant_id, status)
-- index finds the tenant's rows but not in that order, so every page sorted
-- ALL of the tenant's rows: 1.75 s for a first page at 10^6 rows. With
-- this index each status's rows are already in (created_at, id) order, and
-- the listing (upload_core::repo::list_jobs) reads one short range per
-- status and merges them: ~0.05 ms per page, first or deep.
--
-- Why not (tenant_id, created_at, id) without status: the filtered listing
-- (?status=queued, 1 % of rows) would then walk the tenant's other rows.
--
-- Building it takes a lock that blocks writes to upload_jobs until it is
-- built (a few seconds per million rows). On a large production table,
-- build it first without that lock, by hand, under the same name (it cannot
-- run in the tool's transaction):
--   CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_upload_jobs_tenant_status_created
--       ON upload_jobs (tenant_id, status, created_at, id);
-- then this file finds it there and does nothing. A failed concurrent
-- build leaves an INVALID index under that name: drop it and build again
-- (migrate verify reports it).

CREATE INDEX IF NOT EXISTS ix_upload_jobs_tenant_status_created
    ON upload_jobs (tenant_id, status, created_at, id);
