//! `POST /upload/init`: queue a job, then hand back a presigned PUT URL for
//! its file.

mod fields;
mod participants;
mod replay;
mod request;

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use upload_core::repo::{InitColumns, NewJob};
use upload_core::{FileKey, JobId, SafeFileName, UploadJob};
use utoipa::ToSchema;
use uuid::Uuid;

use self::fields::no_nul;
use self::participants::Participants;
use self::replay::create_or_replay;
use self::request::{InitBody, InitHeaders};
use self::request::{InitInput, InitRequest};
use super::extract::{Caller, JsonBody};
use crate::SharedState;
use crate::auth::Identity;
use crate::error::{ApiError, Problem};
use crate::presign::{PresignError, PresignedPut, PutRequest};

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
    /// (when file_size was given), x-amz-checksum-sha256 (when given),
    /// If-None-Match (with overwrite_protection).
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
    let req = InitRequest::try_from(InitInput {
        body,
        headers: &headers,
        max_upload_bytes: state.config.max_upload_bytes,
    })?;
    check_identity(&caller.id)?;
    let tenant = caller.id.tenant;
    let job_id = match &req.idempotency_key {
        Some(k) => JobId::from_idempotency_key(tenant, k.as_str()),
        None => JobId::new_random(),
    };
    caller.log.update(|f| f.job_id = Some(job_id.to_string()));
    // The URL's expiry is known before the row is written, so the row
    // records it in the same statement; the URL is signed after.
    let window = state
        .presigner
        .window()
        .await
        .map_err(presign_failed(job_id))?;
    let requested_interaction = req.interaction_id;
    let overwrite_protection = req.overwrite_protection;
    let keyed = req.idempotency_key.is_some();
    let (new, columns) = new_job(req, job_id, &caller, window.expires_at());
    let (job, existed) = create_or_replay(&state.db, &new, &columns, requested_interaction).await?;
    // Without a key the id is random: an existing row can only be this
    // request's own insert, committed before its answer was lost and the
    // statement retried. That is no replay to report.
    let replayed = existed && keyed;
    let put = PutRequest {
        key: &job.file_key,
        content_type: &new.mime_type,
        content_length: new.file_size,
        checksum_sha256: columns.checksum_sha256.as_deref(),
        if_none_match: overwrite_protection,
    };
    let presigned = state
        .presigner
        .sign_put(&put, &window)
        .await
        .map_err(presign_failed(job.id))?;
    tracing::info!(
        event = if replayed { "init_replayed" } else { "job_queued" },
        job_id = %job.id, tenant_id = %tenant, trace_id = job.trace_id.as_deref(),
        interaction_id = %job.interaction_id, mime_type = %new.mime_type, file_size = new.file_size,
        "upload job queued"
    );
    Ok(created(job, new.mime_type, presigned, replayed))
}

fn presign_failed(job_id: JobId) -> impl FnOnce(PresignError) -> ApiError {
    move |e| {
        tracing::error!(error = %e, job_id = %job_id, "presigning failed");
        ApiError::unavailable("Could not sign an upload URL; retry shortly.")
    }
}

/// The caller's identity as it will be stored: no U+0000 in its texts.
fn check_identity(id: &Identity) -> Result<(), ApiError> {
    no_nul("user_id", &id.user_id)?;
    for (field, value) in [("pg_user_id", &id.pg_user_id), ("user_name", &id.user_name)] {
        if let Some(v) = value {
            no_nul(field, v)?;
        }
    }
    Ok(())
}

/// The 201 answer.
fn created(job: UploadJob, mime_type: String, presigned: PresignedPut, replayed: bool) -> Response {
    let body = InitResponse {
        expires_at: presigned
            .expires_at
            .to_rfc3339_opts(SecondsFormat::Secs, true),
        file_key: job.file_key,
        interaction_id: job.interaction_id,
        job_id: job.id,
        signed_content_type: mime_type,
        status: Queued::Queued,
        upload_headers: presigned.headers,
        upload_url: presigned.url,
    };
    let mut res = (StatusCode::CREATED, Json(body)).into_response();
    if replayed {
        res.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    res
}

/// The row to insert: the request's fields, the caller's identity and trace
/// id, the object key, and when the upload URL expires.
fn new_job(
    req: InitRequest,
    id: JobId,
    caller: &Caller,
    upload_expires_at: DateTime<Utc>,
) -> (NewJob, InitColumns) {
    let tenant = caller.id.tenant;
    let columns = InitColumns {
        pg_user_id: caller.id.pg_user_id.clone(),
        user_name: caller.id.user_name.clone(),
        participants_json: req.participants.map(Participants::into_string),
        checksum_sha256: req.checksum.map(|c| c.as_str().to_owned()),
        upload_expires_at: Some(upload_expires_at),
    };
    let job = NewJob {
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
    };
    (job, columns)
}
