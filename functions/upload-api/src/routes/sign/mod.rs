//! `POST /upload/sign`: one presigned S3 request for the caller's own queued
//! job's key: the requests of a resumable multipart upload, or a fresh
//! single PUT. This is the signer contract of Uppy v6's `@uppy/aws-s3`
//! (`signRequest({method, key, uploadId, partNumber})`).

mod request;

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use chrono::SecondsFormat;
use serde::Serialize;
use upload_core::JobStatus;
use upload_core::repo::{self, SignTarget};
use utoipa::ToSchema;

use self::request::{Operation, SignBody, SignRequest};
use super::extract::{Caller, JsonBody};
use crate::SharedState;
use crate::error::{ApiError, Problem};
use crate::presign::{MultipartRequest, PresignError, PresignedPut, PutRequest, UrlWindow};

/// The signed request.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignResponse {
    /// When url stops working: the earlier of the URL TTL and the signing
    /// credentials' expiry (whole seconds).
    #[schema(format = DateTime)]
    expires_at: String,
    /// Headers the request must send, all signed (a browser leaves out
    /// Content-Length, which it sets itself).
    headers: BTreeMap<String, String>,
    /// The HTTP method to use.
    method: String,
    /// The presigned S3 URL.
    #[schema(format = "uri")]
    url: String,
}

/// Sign one S3 request for a queued job's upload (multipart or single PUT).
///
/// Allowed: `POST` (CreateMultipartUpload; Content-Type signed), `PUT` with
/// upload_id and part_number (UploadPart), `GET` with upload_id (ListParts,
/// to resume), `POST` with upload_id (CompleteMultipartUpload, with
/// `If-None-Match: *` and, when file_size was declared,
/// `x-amz-mp-object-size` signed), `DELETE` with upload_id
/// (AbortMultipartUpload), and `PUT` alone (a fresh single-PUT URL, as init
/// returns). Parts are at least 5 MiB except the last, so part_number is at
/// most ceil(file_size / 5 MiB). Each signature moves the job's upload window
/// to the new URL's expiry. A multipart upload needs file_size declared at
/// init; a job whose init gave checksum_sha256 can only be uploaded by single
/// PUT (S3 cannot check a SHA-256 of a whole multipart object). Unknown body
/// fields are refused (Uppy's own names are uploadId and partNumber).
#[utoipa::path(
    post,
    path = "/upload/sign",
    operation_id = "signUploadRequest",
    params(Caller),
    request_body = SignBody,
    responses(
        (status = 200, description = "The presigned request.", body = SignResponse),
        (status = 400, response = Problem<400>),
        (status = 401, response = Problem<401>),
        (status = 404, response = Problem<404>),
        (status = 409, response = Problem<409>),
        (status = 413, response = Problem<413>),
        (status = 422, response = Problem<422>),
        (status = 500, response = Problem<500>),
        (status = 503, response = Problem<503>),
    )
)]
pub async fn sign(
    State(state): State<SharedState>,
    caller: Caller,
    JsonBody(body): JsonBody<SignBody>,
) -> Result<Json<SignResponse>, ApiError> {
    let req = SignRequest::try_from(body)?;
    let tenant = caller.id.tenant;
    caller
        .log
        .update(|f| f.job_id = Some(req.job_id.to_string()));
    let window = state.presigner.window().await.map_err(presign_failed)?;
    let job = repo::sign_target(&state.db, tenant, req.job_id, window.expires_at())
        .await?
        .ok_or_else(|| ApiError::not_found("No such job."))?;
    if !job.extended {
        return Err(not_queued(&job));
    }
    let signed = sign_for(&state, &job, &req.operation, &window).await?;
    if !matches!(
        req.operation,
        Operation::UploadPart { .. } | Operation::ListParts { .. }
    ) {
        tracing::info!(event = "signed", operation = req.operation.name(), job_id = %job.trace.job_id,
            tenant_id = %tenant, trace_id = job.trace.trace_id.as_deref(),
            interaction_id = %job.trace.interaction_id, "upload request signed");
    }
    Ok(Json(SignResponse {
        expires_at: signed.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        headers: signed.headers,
        method: signed.method,
        url: signed.url,
    }))
}

/// 409 for a job past `queued`: its upload is over.
fn not_queued(job: &SignTarget) -> ApiError {
    let now = if job.status == JobStatus::Queued {
        "it left queued just now".to_owned()
    } else {
        format!("it is {}", job.status)
    };
    ApiError::conflict(format!(
        "The job is no longer waiting for an upload ({now}); nothing was signed."
    ))
}

/// Signs `op` for the job's key.
async fn sign_for(
    state: &SharedState,
    job: &SignTarget,
    op: &Operation,
    window: &UrlWindow,
) -> Result<PresignedPut, ApiError> {
    refuse_for_job(job, op)?;
    let key = job.file_key.as_str();
    let content_type = job
        .mime_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    let multipart = match op {
        Operation::SinglePut => {
            let put = PutRequest {
                key,
                content_type,
                content_length: job.file_size,
                checksum_sha256: job.checksum_sha256.as_deref(),
                if_none_match: true,
            };
            return state
                .presigner
                .sign_put(&put, window)
                .await
                .map_err(presign_failed);
        }
        Operation::CreateMultipart => MultipartRequest::Create { key, content_type },
        Operation::UploadPart {
            upload_id,
            part_number,
        } => MultipartRequest::UploadPart {
            key,
            upload_id,
            part_number: *part_number,
        },
        Operation::ListParts { upload_id } => MultipartRequest::ListParts { key, upload_id },
        Operation::CompleteMultipart { upload_id } => MultipartRequest::Complete {
            key,
            upload_id,
            object_size: job.file_size,
        },
        Operation::AbortMultipart { upload_id } => MultipartRequest::Abort { key, upload_id },
    };
    state
        .presigner
        .sign_multipart(&multipart, window)
        .await
        .map_err(presign_failed)
}

/// What the job's own row rules out (checked after the row is read, so
/// such a refusal has still moved the upload window: harmless, it only
/// delays the reaper by one URL's lifetime).
fn refuse_for_job(job: &SignTarget, op: &Operation) -> Result<(), ApiError> {
    match op {
        Operation::CreateMultipart if job.checksum_sha256.is_some() => Err(ApiError::invalid(
            "method",
            "This job declared checksum_sha256, which S3 verifies only on a single PUT: \
             sign method PUT without upload_id instead of a multipart upload.",
        )),
        Operation::CreateMultipart if job.file_size.is_none() => Err(ApiError::invalid(
            "method",
            "A multipart upload needs the file's size: give file_size at init (S3 then \
             refuses an object of another size), or sign method PUT without upload_id.",
        )),
        Operation::UploadPart { part_number, .. } if *part_number > max_parts(job.file_size) => {
            Err(ApiError::invalid(
                "part_number",
                format!(
                    "part_number is at most {} for this file: every part but the last is 5 MiB \
                     or more.",
                    max_parts(job.file_size)
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// S3's smallest part (except the last).
const MIN_PART_BYTES: i64 = 5 * 1024 * 1024;

/// How many parts a file of the declared size can have: every part but the
/// last is at least 5 MiB. Without a declared size, S3's 10,000.
fn max_parts(file_size: Option<i64>) -> i32 {
    file_size.map_or(10_000, |s| {
        let parts = (s.max(1) + MIN_PART_BYTES - 1) / MIN_PART_BYTES;
        i32::try_from(parts).unwrap_or(10_000).min(10_000)
    })
}

fn presign_failed(e: PresignError) -> ApiError {
    tracing::error!(error = %e, "presigning failed");
    ApiError::unavailable("Could not sign the request; retry shortly.")
}
