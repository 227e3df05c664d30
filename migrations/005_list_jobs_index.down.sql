-- Reverts 005.
DROP INDEX IF EXISTS ix_upload_jobs_tenant_status_created;
