//! The repository: every operation is ONE SQL statement (one round trip),
//! every transition a conditional UPDATE that can only move a job forward
//! along the state machine.

use tokio_postgres::Row;
use uuid::Uuid;

use crate::db::DbError;
use crate::domain::{JobId, TenantId, UploadJob};

mod advance;
mod handoff;
mod jobs;
mod listing;
mod reaper;
mod sign;
mod transition;

pub use advance::{
    AdvanceOutcome, AdvanceResult, JobDetails, UploadedObject, advance_batch,
    advance_batch_statement,
};
pub use handoff::{mark_handed_off, pending_handoffs};
pub use jobs::{
    Created, InitColumns, NewJob, create_queued_job, create_queued_job_with, extend_upload_window,
    get_job,
};
pub use listing::{PageCursor, list_jobs, list_jobs_statement};
pub use reaper::{
    StaleQueued, UploadWindow, claim_stale_queued, expire_queued, timeout_processing,
};
pub use sign::{SignTarget, sign_target};
pub use transition::{Transition, fail, fail_queued, succeed};

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

/// Correlation fields of a job, read back by the same statement so every log
/// line about it can carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobTrace {
    pub job_id: JobId,
    pub tenant_id: TenantId,
    pub trace_id: Option<String>,
    pub interaction_id: Uuid,
}

pub(crate) fn trace_from_row(r: &Row) -> Result<JobTrace, DbError> {
    Ok(JobTrace {
        job_id: JobId(decode(r.try_get("id"))?),
        tenant_id: TenantId(decode(r.try_get("tenant_id"))?),
        trace_id: decode(r.try_get("trace_id"))?,
        interaction_id: decode(r.try_get("interaction_id"))?,
    })
}
