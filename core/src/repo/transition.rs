//! Single-job transitions along the state machine (the downstream worker).

use std::sync::LazyLock;

use tokio_postgres::types::Type;

use super::{decode, job_from_row};
use crate::db::{Db, DbError};
use crate::domain::{JobId, JobStatus, TenantId, UploadJob};
use crate::schema::job_select_list;

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

static TRANSITION: LazyLock<String> = LazyLock::new(|| {
    [
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
    job_select_list(),
    ", true AS moved
    )
    SELECT * FROM upd
    UNION ALL
    SELECT ",
    job_select_list(),
    ", false AS moved FROM upload_jobs
    WHERE tenant_id = $1 AND id = $2 AND NOT EXISTS (SELECT 1 FROM upd)"
]
    .concat()
});

/// What a transition writes besides the status.
#[derive(Default)]
struct Outcome<'a> {
    error: Option<(&'a str, &'a str)>,
    summary: Option<&'a str>,
}

async fn transition(
    db: &Db,
    (tenant, id): (TenantId, JobId),
    from: JobStatus,
    to: JobStatus,
    outcome: Outcome<'_>,
) -> Result<Transition, DbError> {
    assert!(
        from.can_transition_to(to),
        "{from} -> {to} is not a transition"
    );
    let (from_s, to_s) = (from.as_str(), to.as_str());
    let (error_code, error_message) = outcome.error.unzip();
    let row = db
        .query_opt(
            &TRANSITION,
            &[
                (&tenant.0, Type::UUID),
                (&id.0, Type::UUID),
                (&from_s, Type::TEXT),
                (&to_s, Type::TEXT),
                (&error_code, Type::TEXT),
                (&error_message, Type::TEXT),
                (&outcome.summary, Type::TEXT),
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

/// processing → succeeded, for the downstream worker.
pub async fn succeed(
    db: &Db,
    tenant: TenantId,
    id: JobId,
    summary: &str,
) -> Result<Transition, DbError> {
    let outcome = Outcome {
        summary: Some(summary),
        ..Outcome::default()
    };
    transition(
        db,
        (tenant, id),
        JobStatus::Processing,
        JobStatus::Succeeded,
        outcome,
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
    fail_from(db, tenant, id, JobStatus::Processing, code, message).await
}

/// queued → failed (an upload refused or abandoned).
pub async fn fail_queued(
    db: &Db,
    tenant: TenantId,
    id: JobId,
    code: &str,
    message: &str,
) -> Result<Transition, DbError> {
    fail_from(db, tenant, id, JobStatus::Queued, code, message).await
}

/// `from` → failed.
async fn fail_from(
    db: &Db,
    tenant: TenantId,
    id: JobId,
    from: JobStatus,
    code: &str,
    message: &str,
) -> Result<Transition, DbError> {
    let outcome = Outcome {
        error: Some((code, message)),
        ..Outcome::default()
    };
    transition(db, (tenant, id), from, JobStatus::Failed, outcome).await
}
