//! `POST /upload/complete`: the client says its PUT finished; the object is
//! checked with a HEAD and the job advanced as the S3 event would.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use upload_core::repo::{self, AdvanceOutcome, AdvanceResult, JobTrace, UploadedObject};
use upload_core::{FileKey, JobId, JobStatus, TenantId};
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Caller, JsonBody};
use super::job::Status;
use crate::SharedState;
use crate::error::{ApiError, Problem};

/// The complete request body, as sent.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = CompleteRequest)]
pub struct CompleteBody {
    /// The file_key init returned: `tenant/{tenant_id}/uploads/{job_id}/{name}`
    /// under the caller's tenant.
    #[schema(
        required = true,
        value_type = String,
        min_length = 1,
        max_length = 1024,
        pattern = r"^tenant/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/uploads/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/[^/\x00-\x1f]+$",
        example = "tenant/00000000-0000-4000-8000-000000000001/uploads/5b0a4b8e-6f7e-4a43-9f55-3f8e2f0c1a22/take 1.wav"
    )]
    file_key: Option<String>,
}

/// The job's status after the check.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompleteResponse {
    // Fields in the order clients have always received them (alphabetical).
    interaction_id: Uuid,
    #[schema(value_type = Uuid)]
    job_id: JobId,
    status: Status,
}

/// Tell the service the PUT finished (kept for the existing client; the S3
/// event does the same).
///
/// Idempotent: a repeat answers the job's current status. An object whose
/// size differs from the declared file_size fails the job.
#[utoipa::path(
    post,
    path = "/upload/complete",
    operation_id = "completeUpload",
    params(Caller),
    request_body = CompleteBody,
    responses(
        (status = 200, description = "The job's current status.", body = CompleteResponse),
        (status = 400, response = Problem<400>),
        (status = 401, response = Problem<401>),
        (status = 403, response = Problem<403>),
        (status = 404, response = Problem<404>),
        (status = 413, response = Problem<413>),
        (status = 422, response = Problem<422>),
        (status = 500, response = Problem<500>),
        (status = 503, response = Problem<503>),
    )
)]
pub async fn complete(
    State(state): State<SharedState>,
    caller: Caller,
    JsonBody(body): JsonBody<CompleteBody>,
) -> Result<Json<CompleteResponse>, ApiError> {
    let tenant = caller.id.tenant;
    let (key, parsed) = upload_key(body, tenant)?;
    caller
        .log
        .update(|f| f.job_id = Some(parsed.job().to_string()));
    let head = state.objects.head(&key).await.map_err(|e| {
        tracing::warn!(error = %e, "HEAD failed");
        ApiError::unavailable("Object storage is temporarily unavailable; retry shortly.")
    })?;
    let Some(info) = head else {
        return Err(ApiError::not_found("No uploaded object at file_key yet."));
    };
    let item = UploadedObject::at(&parsed, Some(info.size), None).with_etag(info.etag.as_deref());
    let result = repo::advance_batch(&state.db, &[item], state.config.max_upload_bytes)
        .await?
        .pop()
        .ok_or_else(ApiError::internal)?;
    let (trace, status) = job_status(&state, tenant, &result).await?;
    let event = match &result.outcome {
        AdvanceOutcome::Advanced => "advanced",
        AdvanceOutcome::Rejected { .. } => "rejected",
        AdvanceOutcome::Replaced => "replaced",
        _ => "duplicate",
    };
    tracing::info!(event, source = "complete", job_id = %trace.job_id, tenant_id = %tenant,
        trace_id = trace.trace_id.as_deref(), interaction_id = %trace.interaction_id,
        status = %status, "complete");
    Ok(Json(CompleteResponse {
        interaction_id: trace.interaction_id,
        job_id: trace.job_id,
        status: Status(status),
    }))
}

/// The file_key, checked in this order: present, under the caller's tenant,
/// an upload key.
fn upload_key(body: CompleteBody, tenant: TenantId) -> Result<(String, FileKey), ApiError> {
    let key = body
        .file_key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::invalid("file_key", "file_key is required."))?;
    if !key.starts_with(&FileKey::tenant_prefix(tenant)) {
        return Err(
            ApiError::forbidden("file_key is not under your tenant's prefix.")
                .with_field("file_key"),
        );
    }
    let parsed = FileKey::parse(&key).map_err(|e| {
        ApiError::invalid("file_key", format!("file_key is not an upload key: {e}."))
    })?;
    Ok((key, parsed))
}

/// The job behind the advanced object and its status now.
async fn job_status<'r>(
    state: &SharedState,
    tenant: TenantId,
    result: &'r AdvanceResult,
) -> Result<(&'r JobTrace, JobStatus), ApiError> {
    let Some(trace) = &result.job else {
        return Err(ApiError::not_found("No job for this file_key."));
    };
    let status = match result.status {
        Some(s) => s,
        // Moved concurrently (e.g. by the S3 event): read where it is now.
        None => {
            repo::get_job(&state.db, tenant, trace.job_id)
                .await?
                .ok_or_else(|| ApiError::not_found("No job for this file_key."))?
                .status
        }
    };
    Ok((trace, status))
}
