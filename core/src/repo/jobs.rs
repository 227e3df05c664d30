//! Creating and reading jobs (the API).

use chrono::{DateTime, Utc};
use std::sync::LazyLock;

use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{decode, job_from_row};
use crate::db::{Db, DbError};
use crate::domain::{FileKey, JobId, JobStatus, JobType, TenantId, UploadJob};
use crate::schema::job_select_list;

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

static INSERT_JOB: LazyLock<String> = LazyLock::new(|| {
    [
        "WITH ins AS (
        INSERT INTO upload_jobs (id, tenant_id, user_id, job_type, status, file_key, file_name,
                                 mime_type, file_size, interaction_id, trace_id, account_id,
                                 metadata_json)
        VALUES ($1, $2, $3, $4::text::jobtype, 'queued', $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT DO NOTHING
        RETURNING ",
        job_select_list(),
        ", true AS inserted
    )
    SELECT * FROM ins
    UNION ALL
    SELECT ",
        job_select_list(),
        ", false AS inserted FROM upload_jobs
    WHERE id = $1 AND tenant_id = $2 AND NOT EXISTS (SELECT 1 FROM ins)",
    ]
    .concat()
});

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
                &INSERT_JOB,
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

static GET_JOB: LazyLock<String> = LazyLock::new(|| {
    [
        "SELECT ",
        job_select_list(),
        " FROM upload_jobs WHERE tenant_id = $1 AND id = $2",
    ]
    .concat()
});

/// A tenant's job. Another tenant's job is `None`, exactly like a missing one.
pub async fn get_job(db: &Db, tenant: TenantId, id: JobId) -> Result<Option<UploadJob>, DbError> {
    db.query_opt(&GET_JOB, &[(&tenant.0, Type::UUID), (&id.0, Type::UUID)])
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

static LIST_JOBS: LazyLock<String> = LazyLock::new(|| {
    [
        "SELECT ",
        job_select_list(),
        " FROM upload_jobs
    WHERE tenant_id = $1
      AND ($2::text IS NULL OR status = $2::text::jobstatus)
      AND ($3::timestamptz IS NULL OR (created_at, id) < ($3::timestamptz, $4::uuid))
    ORDER BY created_at DESC, id DESC
    LIMIT $5",
    ]
    .concat()
});

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
            &LIST_JOBS,
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
