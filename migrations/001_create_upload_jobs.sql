-- 001: the upload_jobs table, exactly as ../docs SCHEMA-SEED.md describes it.
--
-- Re-runnable by design: production (Neon project eq-dev) already has these
-- objects, created by hand for the Python service, with no schema_migrations
-- record. Every object is guarded so applying this file there changes nothing.
-- Leftover types named job_status / job_type (from the wrong-database incident)
-- are neither used nor touched.

CREATE EXTENSION IF NOT EXISTS pgcrypto;

-- SQLAlchemy's enum names: lower-cased class names, no underscore.
DO $$
BEGIN
    CREATE TYPE jobstatus AS ENUM ('queued', 'processing', 'succeeded', 'failed');
EXCEPTION
    WHEN duplicate_object THEN NULL;
END
$$;

DO $$
BEGIN
    CREATE TYPE jobtype AS ENUM ('audio_transcription', 'text_processing');
EXCEPTION
    WHEN duplicate_object THEN NULL;
END
$$;

CREATE TABLE IF NOT EXISTS upload_jobs (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),

    -- Tenant isolation
    tenant_id UUID NOT NULL,
    user_id TEXT NOT NULL,

    -- Job type and status
    job_type jobtype NOT NULL DEFAULT 'audio_transcription',
    status jobstatus NOT NULL DEFAULT 'queued',

    -- File reference (S3 key)
    file_key TEXT NOT NULL,
    file_name TEXT,
    mime_type TEXT,
    file_size BIGINT,

    -- Processing correlation
    interaction_id UUID NOT NULL,
    trace_id TEXT,
    account_id TEXT,

    -- Result/error storage
    error_message TEXT,
    error_code TEXT,
    result_summary TEXT,

    -- Metadata for extensibility
    metadata_json TEXT,

    -- Timestamps (all TIMESTAMPTZ for timezone-aware storage)
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    started_at TIMESTAMPTZ,
    completed_at TIMESTAMPTZ
);

CREATE INDEX IF NOT EXISTS ix_upload_jobs_tenant_id ON upload_jobs (tenant_id);
CREATE INDEX IF NOT EXISTS ix_upload_jobs_status ON upload_jobs (status);
CREATE INDEX IF NOT EXISTS ix_upload_jobs_tenant_status ON upload_jobs (tenant_id, status);
CREATE UNIQUE INDEX IF NOT EXISTS ix_upload_jobs_tenant_file_key ON upload_jobs (tenant_id, file_key);
