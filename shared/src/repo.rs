//! The repository: every operation is ONE SQL statement (one round trip),
//! every transition a conditional UPDATE that can only move a job forward
//! along the state machine.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use crate::db::{Db, DbError};
use crate::domain::{FileKey, JobId, JobStatus, JobType, TenantId, UploadJob};

/// Every column this service reads, enums as text (no type-lookup round trip).
/// Extra columns other services added (`pg_user_id`, ...) are never named.
macro_rules! job_cols {
    () => {
        "id, tenant_id, user_id, job_type::text AS job_type, status::text AS status, \
         file_key, file_name, mime_type, file_size, interaction_id, trace_id, account_id, \
         error_message, error_code, result_summary, metadata_json, \
         created_at, updated_at, started_at, completed_at"
    };
}

fn decode<T>(r: Result<T, tokio_postgres::Error>) -> Result<T, DbError> {
    r.map_err(|e| DbError::Decode(e.to_string()))
}

fn parse_enum<T: std::str::FromStr>(s: String) -> Result<T, DbError>
where
    T::Err: std::fmt::Display,
{
    s.parse::<T>().map_err(|e| DbError::Decode(e.to_string()))
}

pub fn job_from_row(row: &Row) -> Result<UploadJob, DbError> {
    Ok(UploadJob {
        id: JobId(decode(row.try_get("id"))?),
        tenant_id: TenantId(decode(row.try_get("tenant_id"))?),
        user_id: decode(row.try_get("user_id"))?,
        job_type: parse_enum(decode(row.try_get("job_type"))?)?,
        status: parse_enum(decode(row.try_get("status"))?)?,
        file_key: decode(row.try_get("file_key"))?,
        file_name: decode(row.try_get("file_name"))?,
        mime_type: decode(row.try_get("mime_type"))?,
        file_size: decode(row.try_get("file_size"))?,
        interaction_id: decode(row.try_get("interaction_id"))?,
        trace_id: decode(row.try_get("trace_id"))?,
        account_id: decode(row.try_get("account_id"))?,
        error_message: decode(row.try_get("error_message"))?,
        error_code: decode(row.try_get("error_code"))?,
        result_summary: decode(row.try_get("result_summary"))?,
        metadata_json: decode(row.try_get("metadata_json"))?,
        created_at: decode(row.try_get("created_at"))?,
        updated_at: decode(row.try_get("updated_at"))?,
        started_at: decode(row.try_get("started_at"))?,
        completed_at: decode(row.try_get("completed_at"))?,
    })
}

/// A job about to be inserted as `queued`.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: JobId,
    pub tenant_id: TenantId,
    pub user_id: String,
    pub job_type: JobType,
    pub file_key: FileKey,
    pub file_name: String,
    pub mime_type: String,
    pub file_size: Option<i64>,
    pub interaction_id: Uuid,
    pub trace_id: Option<String>,
    pub account_id: Option<String>,
    pub metadata_json: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Created {
    /// This call inserted the row.
    New(UploadJob),
    /// A row with this id already existed (an idempotent repeat); it is
    /// returned as stored, for the caller to compare.
    Existing(UploadJob),
}

impl Created {
    pub fn job(&self) -> &UploadJob {
        match self {
            Created::New(j) | Created::Existing(j) => j,
        }
    }
}

const INSERT_JOB: &str = concat!(
    "WITH ins AS (
        INSERT INTO upload_jobs (id, tenant_id, user_id, job_type, status, file_key, file_name,
                                 mime_type, file_size, interaction_id, trace_id, account_id,
                                 metadata_json)
        VALUES ($1, $2, $3, $4::text::jobtype, 'queued', $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT DO NOTHING
        RETURNING ",
    job_cols!(),
    ", true AS inserted
    )
    SELECT * FROM ins
    UNION ALL
    SELECT ",
    job_cols!(),
    ", false AS inserted FROM upload_jobs
    WHERE id = $1 AND tenant_id = $2 AND NOT EXISTS (SELECT 1 FROM ins)"
);

/// Inserts a `queued` job, or returns the existing row with the same id (and
/// tenant). One statement; the primary key makes concurrent repeats safe.
/// Only when a concurrent insert of the same id commits between this
/// statement's snapshot and its conflict check does the statement see
/// neither row; it is then run once more (the only case with two round trips).
pub async fn create_queued_job(db: &Db, job: &NewJob) -> Result<Created, DbError> {
    let job_type = job.job_type.as_str();
    let key = job.file_key.as_str();
    for _ in 0..2 {
        let row = db
            .query_opt(
                INSERT_JOB,
                &[
                    (&job.id.0, Type::UUID),
                    (&job.tenant_id.0, Type::UUID),
                    (&job.user_id, Type::TEXT),
                    (&job_type, Type::TEXT),
                    (&key, Type::TEXT),
                    (&job.file_name, Type::TEXT),
                    (&job.mime_type, Type::TEXT),
                    (&job.file_size, Type::INT8),
                    (&job.interaction_id, Type::UUID),
                    (&job.trace_id, Type::TEXT),
                    (&job.account_id, Type::TEXT),
                    (&job.metadata_json, Type::TEXT),
                ],
            )
            .await?;
        if let Some(row) = row {
            let inserted: bool = decode(row.try_get("inserted"))?;
            let stored = job_from_row(&row)?;
            return Ok(if inserted {
                Created::New(stored)
            } else {
                Created::Existing(stored)
            });
        }
    }
    Err(DbError::Decode(format!(
        "job id {} is taken by another tenant",
        job.id
    )))
}

const GET_JOB: &str = concat!(
    "SELECT ",
    job_cols!(),
    " FROM upload_jobs WHERE tenant_id = $1 AND id = $2"
);

/// A tenant's job. Another tenant's job is `None`, exactly like a missing one.
pub async fn get_job(db: &Db, tenant: TenantId, id: JobId) -> Result<Option<UploadJob>, DbError> {
    db.query_opt(GET_JOB, &[(&tenant.0, Type::UUID), (&id.0, Type::UUID)])
        .await?
        .map(|r| job_from_row(&r))
        .transpose()
}

/// Position after which the next page starts: the last row's (created_at, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor {
    pub created_at: DateTime<Utc>,
    pub id: JobId,
}

const LIST_JOBS: &str = concat!(
    "SELECT ",
    job_cols!(),
    " FROM upload_jobs
    WHERE tenant_id = $1
      AND ($2::text IS NULL OR status = $2::text::jobstatus)
      AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
    ORDER BY created_at DESC, id DESC
    LIMIT $5"
);

/// A page of a tenant's jobs, newest first, keyset-paginated on
/// (created_at, id). Returns the page and the cursor of the next one.
pub async fn list_jobs(
    db: &Db,
    tenant: TenantId,
    status: Option<JobStatus>,
    limit: u32,
    after: Option<PageCursor>,
) -> Result<(Vec<UploadJob>, Option<PageCursor>), DbError> {
    let status = status.map(|s| s.as_str());
    let after_ts = after.map(|c| c.created_at);
    let after_id = after.map(|c| c.id.0);
    // One row more than asked tells whether there is a next page.
    let fetch = i64::from(limit) + 1;
    let rows = db
        .query(
            LIST_JOBS,
            &[
                (&tenant.0, Type::UUID),
                (&status, Type::TEXT),
                (&after_ts, Type::TIMESTAMPTZ),
                (&after_id, Type::UUID),
                (&fetch, Type::INT8),
            ],
        )
        .await?;
    let mut jobs = rows
        .iter()
        .map(job_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let next = if jobs.len() > limit as usize {
        jobs.truncate(limit as usize);
        jobs.last().map(|j| PageCursor {
            created_at: j.created_at,
            id: j.id,
        })
    } else {
        None
    };
    Ok((jobs, next))
}

/// One uploaded object to advance, as an S3 event (or HEAD) describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvanceItem {
    pub tenant_id: TenantId,
    pub file_key: String,
    /// The object's size; `None` skips the size checks.
    pub size: Option<i64>,
}

/// Correlation fields of a job, read back by the same statement so every log
/// line about it can carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobTrace {
    pub job_id: JobId,
    pub tenant_id: TenantId,
    pub trace_id: Option<String>,
    pub interaction_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdvanceOutcome {
    /// queued → processing, by this call.
    Advanced,
    /// queued → failed by this call: the object was refused (`EMPTY_UPLOAD`,
    /// `FILE_TOO_LARGE`, `SIZE_MISMATCH`).
    Rejected { code: String },
    /// The job was already past `queued` (duplicate, late or out-of-order
    /// event): nothing changed.
    AlreadyPast { status: JobStatus },
    /// Another statement moved the job while this one ran: nothing changed here.
    Concurrent,
    /// The same key appeared earlier in this batch; handled there.
    DuplicateInBatch,
    /// No job row has this (tenant, key).
    UnknownKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvanceResult {
    pub outcome: AdvanceOutcome,
    /// `None` for [`AdvanceOutcome::UnknownKey`].
    pub job: Option<JobTrace>,
    /// The job's status after this statement, as far as it can tell.
    pub status: Option<JobStatus>,
}

const ADVANCE_BATCH: &str = "
WITH input AS (
    SELECT t.tenant_id, t.file_key, t.size, t.ord
    FROM unnest($1::uuid[], $2::text[], $3::int8[]) WITH ORDINALITY AS t(tenant_id, file_key, size, ord)
),
firsts AS (
    SELECT DISTINCT ON (tenant_id, file_key) tenant_id, file_key, size, ord
    FROM input
    ORDER BY tenant_id, file_key, ord
),
decided AS (
    SELECT j.id, f.ord, f.size, j.file_size AS declared,
           CASE
               WHEN f.size IS NULL THEN NULL
               WHEN f.size = 0 THEN 'EMPTY_UPLOAD'
               WHEN f.size > $4 THEN 'FILE_TOO_LARGE'
               WHEN j.file_size IS NOT NULL AND f.size <> j.file_size THEN 'SIZE_MISMATCH'
           END AS reject_code
    FROM firsts f
    JOIN upload_jobs j ON j.tenant_id = f.tenant_id AND j.file_key = f.file_key
    WHERE j.status = 'queued'
),
moved AS (
    UPDATE upload_jobs j SET
        status = (CASE WHEN d.reject_code IS NULL THEN 'processing' ELSE 'failed' END)::jobstatus,
        started_at = CASE WHEN d.reject_code IS NULL THEN now() ELSE j.started_at END,
        completed_at = CASE WHEN d.reject_code IS NULL THEN j.completed_at ELSE now() END,
        error_code = d.reject_code,
        error_message = CASE d.reject_code
            WHEN 'EMPTY_UPLOAD' THEN 'The uploaded file is empty (0 bytes).'
            WHEN 'FILE_TOO_LARGE' THEN format('The uploaded file is %s bytes, more than the %s-byte limit.', d.size, $4)
            WHEN 'SIZE_MISMATCH' THEN format('The uploaded file is %s bytes, but %s bytes were declared at init.', d.size, d.declared)
        END,
        updated_at = now()
    FROM decided d
    WHERE j.id = d.id AND j.status = 'queued'
    RETURNING j.id, d.ord, j.status::text AS status, j.error_code
)
SELECT i.ord,
       cur.id AS job_id, cur.tenant_id, cur.trace_id, cur.interaction_id,
       cur.status::text AS seen_status,
       m.status AS new_status, m.error_code AS new_error_code,
       (i.ord <> f.ord) AS dup_in_batch
FROM input i
JOIN firsts f ON f.tenant_id = i.tenant_id AND f.file_key = i.file_key
LEFT JOIN upload_jobs cur ON cur.tenant_id = i.tenant_id AND cur.file_key = i.file_key
LEFT JOIN moved m ON m.ord = i.ord
ORDER BY i.ord";

/// Advances every `queued` job named by `items` to `processing` (or fails it
/// when the object is empty, too large or not the declared size), in ONE
/// statement. Returns one result per item, in order. Jobs past `queued` are
/// never touched; two racing calls move a job once.
pub async fn advance_batch(
    db: &Db,
    items: &[AdvanceItem],
    max_upload_bytes: u64,
) -> Result<Vec<AdvanceResult>, DbError> {
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let tenants: Vec<Uuid> = items.iter().map(|i| i.tenant_id.0).collect();
    let keys: Vec<&str> = items.iter().map(|i| i.file_key.as_str()).collect();
    let sizes: Vec<Option<i64>> = items.iter().map(|i| i.size).collect();
    let max = i64::try_from(max_upload_bytes).unwrap_or(i64::MAX);
    let rows = db
        .query(
            ADVANCE_BATCH,
            &[
                (&tenants, Type::UUID_ARRAY),
                (&keys, Type::TEXT_ARRAY),
                (&sizes, Type::INT8_ARRAY),
                (&max, Type::INT8),
            ],
        )
        .await?;
    if rows.len() != items.len() {
        return Err(DbError::Decode(format!(
            "advance returned {} rows for {} items",
            rows.len(),
            items.len()
        )));
    }
    rows.iter().map(advance_result).collect()
}

fn advance_result(row: &Row) -> Result<AdvanceResult, DbError> {
    let job_id: Option<Uuid> = decode(row.try_get("job_id"))?;
    let Some(job_id) = job_id else {
        return Ok(AdvanceResult {
            outcome: AdvanceOutcome::UnknownKey,
            job: None,
            status: None,
        });
    };
    let job = JobTrace {
        job_id: JobId(job_id),
        tenant_id: TenantId(decode(row.try_get("tenant_id"))?),
        trace_id: decode(row.try_get("trace_id"))?,
        interaction_id: decode(row.try_get("interaction_id"))?,
    };
    let seen: JobStatus = parse_enum(decode(row.try_get("seen_status"))?)?;
    let new_status: Option<String> = decode(row.try_get("new_status"))?;
    let dup: bool = decode(row.try_get("dup_in_batch"))?;
    let (outcome, status) = match new_status {
        Some(s) => {
            let s: JobStatus = parse_enum(s)?;
            if s == JobStatus::Processing {
                (AdvanceOutcome::Advanced, Some(s))
            } else {
                let code: Option<String> = decode(row.try_get("new_error_code"))?;
                (
                    AdvanceOutcome::Rejected {
                        code: code.unwrap_or_default(),
                    },
                    Some(s),
                )
            }
        }
        None if dup => (AdvanceOutcome::DuplicateInBatch, None),
        None if seen == JobStatus::Queued => (AdvanceOutcome::Concurrent, None),
        None => (AdvanceOutcome::AlreadyPast { status: seen }, Some(seen)),
    };
    Ok(AdvanceResult {
        outcome,
        job: Some(job),
        status,
    })
}

/// Result of a single-job transition.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// The job moved; the row as it is now.
    Moved(UploadJob),
    /// The job was not in the expected state; the row, unchanged.
    Refused(UploadJob),
    /// No such job for this tenant.
    NotFound,
}

const TRANSITION: &str = concat!(
    "WITH upd AS (
        UPDATE upload_jobs SET
            status = $4::text::jobstatus,
            updated_at = now(),
            started_at = CASE WHEN $4::text = 'processing' THEN now() ELSE started_at END,
            completed_at = CASE WHEN $4::text IN ('succeeded', 'failed') THEN now() ELSE completed_at END,
            error_code = COALESCE($5, error_code),
            error_message = COALESCE($6, error_message),
            result_summary = COALESCE($7, result_summary)
        WHERE tenant_id = $1 AND id = $2 AND status = $3::text::jobstatus
        RETURNING ",
    job_cols!(),
    ", true AS moved
    )
    SELECT * FROM upd
    UNION ALL
    SELECT ",
    job_cols!(),
    ", false AS moved FROM upload_jobs
    WHERE tenant_id = $1 AND id = $2 AND NOT EXISTS (SELECT 1 FROM upd)"
);

#[allow(clippy::too_many_arguments)]
async fn transition(
    db: &Db,
    tenant: TenantId,
    id: JobId,
    from: JobStatus,
    to: JobStatus,
    error_code: Option<&str>,
    error_message: Option<&str>,
    summary: Option<&str>,
) -> Result<Transition, DbError> {
    assert!(
        from.can_transition_to(to),
        "{from} -> {to} is not a transition"
    );
    let (from_s, to_s) = (from.as_str(), to.as_str());
    let row = db
        .query_opt(
            TRANSITION,
            &[
                (&tenant.0, Type::UUID),
                (&id.0, Type::UUID),
                (&from_s, Type::TEXT),
                (&to_s, Type::TEXT),
                (&error_code, Type::TEXT),
                (&error_message, Type::TEXT),
                (&summary, Type::TEXT),
            ],
        )
        .await?;
    let Some(row) = row else {
        return Ok(Transition::NotFound);
    };
    let moved: bool = decode(row.try_get("moved"))?;
    let job = job_from_row(&row)?;
    Ok(if moved {
        Transition::Moved(job)
    } else {
        Transition::Refused(job)
    })
}

/// queued → failed (upload refused or abandoned).
pub async fn fail_queued(
    db: &Db,
    tenant: TenantId,
    id: JobId,
    code: &str,
    message: &str,
) -> Result<Transition, DbError> {
    transition(
        db,
        tenant,
        id,
        JobStatus::Queued,
        JobStatus::Failed,
        Some(code),
        Some(message),
        None,
    )
    .await
}

/// processing → succeeded, for the downstream worker.
pub async fn succeed(
    db: &Db,
    tenant: TenantId,
    id: JobId,
    summary: &str,
) -> Result<Transition, DbError> {
    transition(
        db,
        tenant,
        id,
        JobStatus::Processing,
        JobStatus::Succeeded,
        None,
        None,
        Some(summary),
    )
    .await
}

/// processing → failed, for the downstream worker.
pub async fn fail(
    db: &Db,
    tenant: TenantId,
    id: JobId,
    code: &str,
    message: &str,
) -> Result<Transition, DbError> {
    transition(
        db,
        tenant,
        id,
        JobStatus::Processing,
        JobStatus::Failed,
        Some(code),
        Some(message),
        None,
    )
    .await
}

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

fn trace_from_row(r: &Row) -> Result<JobTrace, DbError> {
    Ok(JobTrace {
        job_id: JobId(decode(r.try_get("id"))?),
        tenant_id: TenantId(decode(r.try_get("tenant_id"))?),
        trace_id: decode(r.try_get("trace_id"))?,
        interaction_id: decode(r.try_get("interaction_id"))?,
    })
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
    let rows = db
        .query(
            EXPIRE_QUEUED,
            &[(&tenants, Type::UUID_ARRAY), (&ids, Type::UUID_ARRAY)],
        )
        .await?;
    rows.iter().map(trace_from_row).collect()
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
    let rows = db
        .query(
            TIMEOUT_PROCESSING,
            &[(&timeout_secs, Type::FLOAT8), (&limit, Type::INT8)],
        )
        .await?;
    rows.iter().map(trace_from_row).collect()
}
