//! The reaper's statements: claim stale queued jobs, expire them, time out
//! processing ones.

use std::sync::LazyLock;

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

/// How long the reaper waits for a queued job's upload: S3 checks a
/// presigned URL's expiry when the PUT starts, so the window runs from the
/// last issued URL's expiry (rows from before migration 003: creation + TTL)
/// plus the grace plus the (declared, else largest) size at the slowest
/// upload rate the service supports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UploadWindow {
    pub url_ttl_secs: f64,
    pub grace_secs: f64,
    pub max_upload_bytes: i64,
    pub min_bytes_per_second: f64,
}

impl UploadWindow {
    /// The window's four parameters, in the order [`WINDOW_PASSED`] numbers them.
    fn params(&self) -> [f64; 4] {
        [
            self.url_ttl_secs,
            self.grace_secs,
            self.max_upload_bytes as f64,
            self.min_bytes_per_second.max(1.0),
        ]
    }
}

/// The window's parameters as the statements bind them (`$1..$4`).
fn float8s(values: &[f64]) -> Vec<(&(dyn ToSql + Sync), Type)> {
    values
        .iter()
        .map(|v| (v as &(dyn ToSql + Sync), Type::FLOAT8))
        .collect()
}

/// True when a job's upload window has passed; `$1..$4` are
/// [`UploadWindow::params`].
const WINDOW_PASSED: &str = "COALESCE(upload_expires_at, created_at + make_interval(secs => $1))
            + make_interval(secs => $2 + COALESCE(file_size::float8, $3) / $4) < now()";

/// The batch is picked in a materialized CTE: written as `id IN (SELECT ...
/// LIMIT n FOR UPDATE SKIP LOCKED)` the planner may rescan the subquery for
/// every candidate row, and since the rows this statement already updated
/// are skipped on each rescan, more than `n` rows were claimed (seen with a
/// batch of 2 claiming 4).
///
/// The claim orders by `updated_at`, the time of the last claim (or the
/// creation, never claimed): a run takes the jobs least recently tried first,
/// so jobs whose HEAD keeps failing go to the back of the line instead of
/// filling every run's batch.
static CLAIM_STALE_QUEUED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "
WITH picked AS MATERIALIZED (
    SELECT id FROM upload_jobs
    WHERE status = 'queued'
      AND {WINDOW_PASSED}
      -- never claimed (updated_at is still created_at), or the last
      -- claim's lease ran out
      AND (updated_at = created_at OR updated_at < now() - make_interval(secs => $5))
    ORDER BY updated_at
    LIMIT $6
    FOR UPDATE SKIP LOCKED)
UPDATE upload_jobs j SET updated_at = now()
FROM picked
WHERE j.id = picked.id AND j.status = 'queued'
RETURNING j.id, j.tenant_id, j.trace_id, j.interaction_id, j.file_key"
    )
});

/// Claims up to `limit` queued jobs whose upload window has passed. The
/// claim is a lease: it bumps `updated_at` (a queued job is otherwise never
/// updated, so `updated_at = created_at` means "never claimed"), and an
/// overlapping reaper run skips these jobs for `lease_secs` (picking them up
/// again if this run died).
pub async fn claim_stale_queued(
    db: &Db,
    window: &UploadWindow,
    lease_secs: f64,
    limit: i64,
) -> Result<Vec<StaleQueued>, DbError> {
    let window = window.params();
    let mut params = float8s(&window);
    params.push((&lease_secs, Type::FLOAT8));
    params.push((&limit, Type::INT8));
    let rows = db.query(&CLAIM_STALE_QUEUED, &params).await?;
    rows.iter()
        .map(|r| {
            Ok(StaleQueued {
                trace: trace_from_row(r)?,
                file_key: decode(r.try_get("file_key"))?,
            })
        })
        .collect()
}

/// Re-checks the window: a job whose upload URL was issued again after the
/// claim (an idempotent init retry) is not expired.
static EXPIRE_QUEUED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "
UPDATE upload_jobs SET
    status = 'failed', updated_at = now(), completed_at = now(),
    error_code = 'UPLOAD_EXPIRED',
    error_message = 'No file was uploaded before the upload URL expired.'
WHERE (tenant_id, id) IN (SELECT * FROM unnest($5::uuid[], $6::uuid[]))
  AND status = 'queued'
  AND {WINDOW_PASSED}
RETURNING id, tenant_id, trace_id, interaction_id"
    )
});

/// queued → failed/`UPLOAD_EXPIRED` for these jobs: those still queued whose
/// upload window has still passed.
pub async fn expire_queued(
    db: &Db,
    window: &UploadWindow,
    jobs: &[(TenantId, JobId)],
) -> Result<Vec<JobTrace>, DbError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let tenants: Vec<Uuid> = jobs.iter().map(|j| j.0.0).collect();
    let ids: Vec<Uuid> = jobs.iter().map(|j| j.1.0).collect();
    let window = window.params();
    let mut params = float8s(&window);
    params.push((&tenants, Type::UUID_ARRAY));
    params.push((&ids, Type::UUID_ARRAY));
    traces(db, &EXPIRE_QUEUED, &params).await
}

const TIMEOUT_PROCESSING: &str = "
WITH picked AS MATERIALIZED (
    SELECT id FROM upload_jobs
    WHERE status = 'processing'
      AND COALESCE(started_at, updated_at) < now() - make_interval(secs => $1)
    ORDER BY COALESCE(started_at, updated_at)
    LIMIT $2
    FOR UPDATE SKIP LOCKED)
UPDATE upload_jobs j SET
    status = 'failed', updated_at = now(), completed_at = now(),
    error_code = 'PROCESSING_TIMEOUT',
    error_message = format('Processing did not finish within %s minutes.', round($1 / 60.0))
FROM picked
WHERE j.id = picked.id AND j.status = 'processing'
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
