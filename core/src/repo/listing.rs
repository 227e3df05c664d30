//! A tenant's jobs, newest first, keyset-paginated (`GET /upload/jobs`).
//!
//! The index `ix_upload_jobs_tenant_status_created` (migration 005) holds
//! each (tenant, status)'s jobs in (created_at, id) order. The statement
//! reads one ordered index range per status, each stopped after one page,
//! and merges them: any page, first or deep, filtered or not, costs a few
//! index pages whatever the tenant's number of jobs, and no row of the
//! tenant is ever sorted. (One `ORDER BY … LIMIT` over the tenant's rows
//! would sort all of them: 1.75 s for a first page at 10⁶ rows.)

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;

use super::job_from_row;
use crate::db::{Db, DbError};
use crate::domain::{JobId, JobStatus, TenantId, UploadJob};
use crate::schema::job_select_list;

/// Position after which the next page starts: the last row's (created_at, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageCursor {
    pub created_at: DateTime<Utc>,
    pub id: JobId,
}

/// One branch per status, in [`JobStatus::ALL`] (a test checks that list is
/// the database enum's). `$2` (a status or NULL) switches branches off as a
/// one-time filter; the cursor, past every row for the first page (chrono's
/// latest time, the max uuid), is a row comparison the index serves as a
/// range.
static LIST_JOBS: LazyLock<String> = LazyLock::new(|| {
    let branch = |status: &str| {
        format!(
            "(SELECT {cols} FROM upload_jobs
      WHERE tenant_id = $1 AND status = '{status}'::jobstatus
        AND ($2::text IS NULL OR $2::text = '{status}')
        AND (created_at, id) < ($3::timestamptz, $4::uuid)
      ORDER BY created_at DESC, id DESC
      LIMIT $5)",
            cols = job_select_list()
        )
    };
    let branches: Vec<String> = JobStatus::ALL.iter().map(|s| branch(s.as_str())).collect();
    format!(
        "SELECT * FROM (\n{}\n) page ORDER BY created_at DESC, id DESC LIMIT $5",
        branches.join("\n    UNION ALL\n")
    )
});

/// The listing's statement, for plan checks (tests, benchmarks). Its
/// parameters: tenant, status (text or NULL), the cursor's created_at and
/// id, and the number of rows to fetch.
pub fn list_jobs_statement() -> &'static str {
    &LIST_JOBS
}

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
    // The first page starts after a position past every row.
    let after_ts = after.map_or(DateTime::<Utc>::MAX_UTC, |c| c.created_at);
    let after_id = after.map_or(uuid::Uuid::max(), |c| c.id.0);
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
