//! `POST /upload/init`: queue a job, then hand back a presigned PUT URL for
//! its file.

mod fields;
mod request;

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use serde::Serialize;
use upload_core::repo::{self, Created, NewJob};
use upload_core::{Db, FileKey, JobId, JobStatus, SafeFileName, UploadJob};
use utoipa::ToSchema;
use uuid::Uuid;

use self::request::{InitBody, InitHeaders};
use self::request::{InitInput, InitRequest};
use super::extract::{Caller, JsonBody};
use crate::SharedState;
use crate::error::{ApiError, Problem};

/// The queued job and where to upload its file.
#[derive(Debug, Serialize, ToSchema)]
pub struct InitResponse {
    // Fields in the order clients have always received them (alphabetical).
    /// When upload_url stops working: the earlier of the URL TTL and the
    /// signing credentials' expiry (whole seconds).
    #[schema(format = DateTime)]
    expires_at: String,
    /// `tenant/{tenant_id}/uploads/{job_id}/{safe_filename}`.
    file_key: String,
    interaction_id: Uuid,
    #[schema(value_type = Uuid)]
    job_id: JobId,
    /// The normalised MIME type: the Content-Type the PUT must send.
    signed_content_type: String,
    #[schema(inline)]
    status: Queued,
    /// Headers the PUT must send, all signed: Content-Type, Content-Length
    /// (when file_size was given), x-amz-checksum-sha256 (when given).
    upload_headers: BTreeMap<String, String>,
    /// The presigned PUT URL.
    #[schema(format = "uri")]
    upload_url: String,
}

/// A new job's status.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum Queued {
    Queued,
}

/// Queue a job and get a presigned PUT URL for its file.
///
/// The job row is committed before the URL exists. With an Idempotency-Key,
/// a repeat of the same request returns the same job (with a fresh URL)
/// while it is queued.
#[utoipa::path(
    post,
    path = "/upload/init",
    operation_id = "initUpload",
    params(Caller, InitHeaders),
    request_body = InitBody,
    responses(
        (status = 201, description = "Job queued; upload the file to upload_url with upload_headers.",
            body = InitResponse,
            headers(("Idempotent-Replayed" = String,
                description = "`true` when an Idempotency-Key repeat returned the existing job"))),
        (status = 400, response = Problem<400>),
        (status = 401, response = Problem<401>),
        (status = 409, response = Problem<409>),
        (status = 413, response = Problem<413>),
        (status = 415, response = Problem<415>),
        (status = 422, response = Problem<422>),
        (status = 500, response = Problem<500>),
        (status = 503, response = Problem<503>),
    )
)]
pub async fn init(
    State(state): State<SharedState>,
    caller: Caller,
    headers: InitHeaders,
    JsonBody(body): JsonBody<InitBody>,
) -> Result<Response, ApiError> {
    let mut req = InitRequest::try_from(InitInput {
        body,
        headers: &headers,
        max_upload_bytes: state.config.max_upload_bytes,
    })?;
    let tenant = caller.id.tenant;
    let job_id = match &req.idempotency_key {
        Some(k) => JobId::from_idempotency_key(tenant, k.as_str()),
        None => JobId::new_random(),
    };
    caller.log.update(|f| f.job_id = Some(job_id.to_string()));
    let requested_interaction = req.interaction_id;
    let checksum = req.checksum.take();
    let new = new_job(req, job_id, &caller);
    let (job, replayed) = create_or_replay(&state.db, &new, requested_interaction).await?;
    let presigned = state
        .presigner
        .presign_put(
            &job.file_key,
            &new.mime_type,
            new.file_size,
            checksum.as_ref().map(|c| c.as_str()),
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, job_id = %job.id, "presigning failed");
            ApiError::unavailable("Could not sign an upload URL; retry shortly.")
        })?;
    tracing::info!(
        event = if replayed { "init_replayed" } else { "job_queued" },
        job_id = %job.id, tenant_id = %tenant, trace_id = job.trace_id.as_deref(),
        interaction_id = %job.interaction_id, mime_type = %new.mime_type, file_size = new.file_size,
        "upload job queued"
    );
    let body = InitResponse {
        expires_at: presigned
            .expires_at
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        file_key: job.file_key,
        interaction_id: job.interaction_id,
        job_id: job.id,
        signed_content_type: new.mime_type,
        status: Queued::Queued,
        upload_headers: presigned.headers,
        upload_url: presigned.url,
    };
    let mut res = (StatusCode::CREATED, Json(body)).into_response();
    if replayed {
        res.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(res)
}

/// The row to insert: the request's fields, the caller's identity and trace
/// id, the object key.
fn new_job(req: InitRequest, id: JobId, caller: &Caller) -> NewJob {
    let tenant = caller.id.tenant;
    NewJob {
        id,
        tenant_id: tenant,
        user_id: caller.id.user_id.clone(),
        job_type: req.job_type,
        file_key: FileKey::build(tenant, id, SafeFileName::new(req.file_name.as_str())),
        file_name: req.file_name.into_string(),
        mime_type: req.mime.into_string(),
        file_size: req.file_size,
        interaction_id: req.interaction_id.unwrap_or_else(Uuid::new_v4),
        trace_id: Some(caller.trace_id.clone()),
        account_id: Some(req.account_id.into_string()),
        metadata_json: req.metadata.map(|m| m.into_string()),
    }
}

/// Inserts the job (one autocommit statement). A row already there for the
/// same Idempotency-Key is returned (`true`) when it describes the same
/// request and is still queued.
async fn create_or_replay(
    db: &Db,
    new: &NewJob,
    requested_interaction: Option<Uuid>,
) -> Result<(UploadJob, bool), ApiError> {
    let j = match repo::create_queued_job(db, new).await? {
        Created::New(j) => return Ok((j, false)),
        Created::Existing(j) => j,
    };
    let interaction_differs = requested_interaction.is_some_and(|i| i != j.interaction_id);
    if !same_request(&j, new) || interaction_differs {
        return Err(ApiError::conflict(
            "This Idempotency-Key was already used with a different request body.",
        ));
    }
    if j.status != JobStatus::Queued {
        return Err(ApiError::conflict(format!(
            "The upload for this Idempotency-Key was already received (job is {}).",
            j.status
        )));
    }
    Ok((j, true))
}

/// Does the stored job describe the same request?
fn same_request(stored: &UploadJob, new: &NewJob) -> bool {
    stored.user_id == new.user_id
        && stored.job_type == new.job_type
        && stored.file_name.as_deref() == Some(new.file_name.as_str())
        && stored.mime_type.as_deref() == Some(new.mime_type.as_str())
        && stored.file_size == new.file_size
        && stored.account_id == new.account_id
        && stored.metadata_json == new.metadata_json
}
