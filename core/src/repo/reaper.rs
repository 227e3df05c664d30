//! The reaper's statements: claim stale queued jobs, expire them, time out
//! processing ones.

use tokio_postgres::types::{ToSql, Type};
use uuid::Uuid;

use super::decode;
use super::{JobTrace, trace_from_row};
use crate::db::{Db, DbError};
use crate::domain::{JobId, TenantId};

/// A queued job the reaper claimed for a look at S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleQueued {
    pub trace: JobTrace,
    pub file_key: String,
}

const CLAIM_STALE_QUEUED: &str = "
UPDATE upload_jobs j SET updated_at = now()
WHERE j.id IN (
        SELECT id FROM upload_jobs
        WHERE status = 'queued'
          AND created_at < now() - make_interval(secs => $1)
          -- never claimed (updated_at is still created_at), or the last
          -- claim's lease ran out
          AND (updated_at = created_at OR updated_at < now() - make_interval(secs => $2))
        ORDER BY created_at
        LIMIT $3
        FOR UPDATE SKIP LOCKED)
  AND j.status = 'queued'
RETURNING j.id, j.tenant_id, j.trace_id, j.interaction_id, j.file_key";

/// Claims up to `limit` jobs queued for longer than `older_than_secs`. The
/// claim is a lease: it bumps `updated_at` (a queued job is otherwise never
/// updated, so `updated_at = created_at` means "never claimed"), and an
/// overlapping reaper run skips these jobs for `lease_secs` (picking them up
/// again if this run died).
pub async fn claim_stale_queued(
    db: &Db,
    older_than_secs: f64,
    lease_secs: f64,
    limit: i64,
) -> Result<Vec<StaleQueued>, DbError> {
    let rows = db
        .query(
            CLAIM_STALE_QUEUED,
            &[
                (&older_than_secs, Type::FLOAT8),
                (&lease_secs, Type::FLOAT8),
                (&limit, Type::INT8),
            ],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(StaleQueued {
                trace: trace_from_row(r)?,
                file_key: decode(r.try_get("file_key"))?,
            })
        })
        .collect()
}

const EXPIRE_QUEUED: &str = "
UPDATE upload_jobs SET
    status = 'failed', updated_at = now(), completed_at = now(),
    error_code = 'UPLOAD_EXPIRED',
    error_message = 'No file was uploaded before the upload URL expired.'
WHERE (tenant_id, id) IN (SELECT * FROM unnest($1::uuid[], $2::uuid[]))
  AND status = 'queued'
RETURNING id, tenant_id, trace_id, interaction_id";

/// queued → failed/`UPLOAD_EXPIRED` for these jobs (those still queued).
pub async fn expire_queued(db: &Db, jobs: &[(TenantId, JobId)]) -> Result<Vec<JobTrace>, DbError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let tenants: Vec<Uuid> = jobs.iter().map(|j| j.0.0).collect();
    let ids: Vec<Uuid> = jobs.iter().map(|j| j.1.0).collect();
    traces(
        db,
        EXPIRE_QUEUED,
        &[(&tenants, Type::UUID_ARRAY), (&ids, Type::UUID_ARRAY)],
    )
    .await
}

const TIMEOUT_PROCESSING: &str = "
UPDATE upload_jobs j SET
    status = 'failed', updated_at = now(), completed_at = now(),
    error_code = 'PROCESSING_TIMEOUT',
    error_message = format('Processing did not finish within %s minutes.', round($1 / 60.0))
WHERE j.id IN (
        SELECT id FROM upload_jobs
        WHERE status = 'processing'
          AND COALESCE(started_at, updated_at) < now() - make_interval(secs => $1)
        ORDER BY COALESCE(started_at, updated_at)
        LIMIT $2
        FOR UPDATE SKIP LOCKED)
  AND j.status = 'processing'
RETURNING j.id, j.tenant_id, j.trace_id, j.interaction_id";

/// processing → failed/`PROCESSING_TIMEOUT` for up to `limit` jobs that
/// entered processing more than `timeout_secs` ago.
pub async fn timeout_processing(
    db: &Db,
    timeout_secs: f64,
    limit: i64,
) -> Result<Vec<JobTrace>, DbError> {
    traces(
        db,
        TIMEOUT_PROCESSING,
        &[(&timeout_secs, Type::FLOAT8), (&limit, Type::INT8)],
    )
    .await
}

/// Runs a statement that returns the jobs it moved.
async fn traces(
    db: &Db,
    sql: &str,
    params: &[(&(dyn ToSql + Sync), Type)],
) -> Result<Vec<JobTrace>, DbError> {
    db.query(sql, params)
        .await?
        .iter()
        .map(trace_from_row)
        .collect()
}
