//! The four routes.

use axum::Json;
use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, SecondsFormat, Utc};
use http_body_util::{BodyExt, Limited};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use upload_shared::repo::{self, AdvanceItem, AdvanceOutcome, Created, NewJob, PageCursor};
use upload_shared::{FileKey, JobId, JobStatus, JobType, SafeFileName, UploadJob};
use uuid::Uuid;

use crate::auth::Identity;
use crate::error::ApiError;
use crate::{RequestLog, SharedState, mime};

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest `metadata` object, serialized.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// The authenticated caller and the request's trace id.
pub struct Caller {
    pub id: Identity,
    pub trace_id: String,
    log: RequestLog,
}

impl FromRequestParts<SharedState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState,
    ) -> Result<Self, Self::Rejection> {
        let log = parts
            .extensions
            .get::<RequestLog>()
            .cloned()
            .unwrap_or_default();
        let trace_id = match parts.headers.get("x-trace-id") {
            None => Uuid::new_v4().to_string(),
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|s| Uuid::parse_str(s.trim()).ok())
                .map(|u| u.to_string())
                .ok_or_else(|| ApiError::bad_request("X-Trace-Id", "X-Trace-Id must be a UUID."))?,
        };
        log.update(|f| f.trace_id = Some(trace_id.clone()));
        let id = state.auth.authenticate(parts)?;
        log.update(|f| {
            f.tenant_id = Some(id.tenant.to_string());
            f.auth = Some(id.source);
        });
        Ok(Caller { id, trace_id, log })
    }
}

/// Reads a JSON body of at most [`MAX_BODY_BYTES`].
async fn read_json<T: DeserializeOwned>(headers: &HeaderMap, body: Body) -> Result<T, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
        )
    };
    if let Some(len) = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > MAX_BODY_BYTES
    {
        return Err(too_large());
    }
    let bytes = Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                too_large()
            } else {
                ApiError::bad_request("body", "The request body could not be read.")
            }
        })?
        .to_bytes();
    let de = &mut serde_json::Deserializer::from_slice(&bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if inner.is_data() {
            ApiError::bad_request(&path, format!("{path}: {inner}"))
        } else {
            ApiError::bad_request(
                "body",
                format!("The request body is not valid JSON ({inner})."),
            )
        }
    })
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// The status object of the contract.
pub fn status_json(j: &UploadJob) -> Value {
    json!({
        "job_id": j.id,
        "status": j.status,
        "job_type": j.job_type,
        "interaction_id": j.interaction_id,
        "file_key": j.file_key,
        "file_name": j.file_name,
        "mime_type": j.mime_type,
        "file_size": j.file_size,
        "created_at": rfc3339(j.created_at),
        "updated_at": rfc3339(j.updated_at),
        "started_at": j.started_at.map(rfc3339),
        "completed_at": j.completed_at.map(rfc3339),
        "result_summary": j.result_summary,
        "error_code": j.error_code,
        "error_message": j.error_message,
    })
}

#[derive(Debug, Deserialize)]
pub struct InitBody {
    filename: Option<String>,
    mime_type: Option<String>,
    file_size: Option<u64>,
    account_id: Option<String>,
    job_type: Option<String>,
    interaction_id: Option<String>,
    metadata: Option<Value>,
    checksum_sha256: Option<String>,
}

/// The validated init request.
struct InitRequest {
    file_name: String,
    mime: String,
    file_size: Option<i64>,
    account_id: String,
    job_type: JobType,
    interaction_id: Option<Uuid>,
    metadata_json: Option<String>,
    checksum: Option<String>,
}

fn validate_init(
    body: InitBody,
    headers: &HeaderMap,
    max_bytes: u64,
) -> Result<InitRequest, ApiError> {
    let file_name = body
        .filename
        .ok_or_else(|| ApiError::invalid("filename", "filename is required."))?;
    let n = file_name.chars().count();
    if n == 0 || n > 255 || file_name.trim().is_empty() {
        return Err(ApiError::invalid(
            "filename",
            "filename must be 1 to 255 characters.",
        ));
    }
    let job_type = match body.job_type.as_deref() {
        None => JobType::AudioTranscription,
        Some(t) => t.parse().map_err(|_| {
            ApiError::invalid(
                "job_type",
                format!("job_type {t:?} is not one of audio_transcription, text_processing."),
            )
        })?,
    };
    let mime = mime::normalize(body.mime_type.as_deref().unwrap_or("audio/wav"));
    if !mime::is_allowed(job_type, &mime) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            format!(
                "mime_type {mime:?} is not accepted for {job_type}; accepted: {}.",
                mime::allowed(job_type).join(", ")
            ),
        )
        .with_field("mime_type"));
    }
    let file_size = match body.file_size {
        None => None,
        Some(0) => {
            return Err(ApiError::invalid(
                "file_size",
                "file_size must be at least 1 byte.",
            ));
        }
        Some(s) if s > max_bytes => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "FILE_TOO_LARGE",
                format!("file_size {s} is larger than the {max_bytes}-byte limit."),
            )
            .with_field("file_size"));
        }
        Some(s) => Some(s as i64),
    };
    let header_account = match headers.get("x-account-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    ApiError::bad_request("X-Account-ID", "X-Account-ID is not valid text.")
                })?
                .to_owned(),
        ),
    };
    let body_account = body.account_id.map(|a| a.trim().to_owned());
    if body_account.as_deref() == Some("") {
        return Err(ApiError::invalid(
            "account_id",
            "account_id must not be empty.",
        ));
    }
    let account_id = match (body_account, header_account) {
        (Some(b), Some(h)) if b != h => {
            return Err(ApiError::bad_request(
                "account_id",
                "account_id in the body and the X-Account-ID header differ.",
            ));
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => {
            return Err(ApiError::invalid(
                "account_id",
                "account_id is required (in the body or the X-Account-ID header).",
            ));
        }
    };
    if account_id.len() > 255 {
        return Err(ApiError::invalid(
            "account_id",
            "account_id is longer than 255 bytes.",
        ));
    }
    let interaction_id =
        match body.interaction_id.as_deref() {
            None => None,
            Some(s) => Some(Uuid::parse_str(s).map_err(|_| {
                ApiError::invalid("interaction_id", "interaction_id must be a UUID.")
            })?),
        };
    let metadata_json = match body.metadata {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => {
            let s = v.to_string();
            if s.len() > MAX_METADATA_BYTES {
                return Err(ApiError::invalid(
                    "metadata",
                    format!(
                        "metadata is {} bytes serialized; at most {MAX_METADATA_BYTES}.",
                        s.len()
                    ),
                ));
            }
            Some(s)
        }
        Some(_) => {
            return Err(ApiError::invalid(
                "metadata",
                "metadata must be a JSON object.",
            ));
        }
    };
    let checksum = match body.checksum_sha256 {
        None => None,
        Some(c) => {
            let ok = STANDARD.decode(c.trim()).is_ok_and(|b| b.len() == 32);
            if !ok {
                return Err(ApiError::invalid(
                    "checksum_sha256",
                    "checksum_sha256 must be the base64 of a 32-byte SHA-256 digest.",
                ));
            }
            Some(c.trim().to_owned())
        }
    };
    Ok(InitRequest {
        file_name,
        mime,
        file_size,
        account_id,
        job_type,
        interaction_id,
        metadata_json,
        checksum,
    })
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(
            "Idempotency-Key",
            "Idempotency-Key must be 1 to 255 printable ASCII characters.",
        )
    };
    let s = v.to_str().map_err(|_| bad())?;
    if s.is_empty() || s.len() > 255 || !s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        return Err(bad());
    }
    Ok(Some(s.to_owned()))
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

pub async fn init(
    State(state): State<SharedState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body: InitBody = read_json(&headers, body).await?;
    let req = validate_init(body, &headers, state.config.max_upload_bytes)?;
    let idem = idempotency_key(&headers)?;
    let tenant = caller.id.tenant;
    let job_id = match &idem {
        Some(k) => JobId::from_idempotency_key(tenant, k),
        None => JobId::new_random(),
    };
    caller.log.update(|f| f.job_id = Some(job_id.to_string()));
    let key = FileKey::build(tenant, job_id, SafeFileName::new(&req.file_name));
    let new = NewJob {
        id: job_id,
        tenant_id: tenant,
        user_id: caller.id.user_id.clone(),
        job_type: req.job_type,
        file_key: key,
        file_name: req.file_name,
        mime_type: req.mime.clone(),
        file_size: req.file_size,
        interaction_id: req.interaction_id.unwrap_or_else(Uuid::new_v4),
        trace_id: Some(caller.trace_id.clone()),
        account_id: Some(req.account_id),
        metadata_json: req.metadata_json,
    };
    // The row is committed (one autocommit statement) before any URL exists.
    let (job, replayed) = match repo::create_queued_job(&state.db, &new).await? {
        Created::New(j) => (j, false),
        Created::Existing(j) => {
            let interaction_differs = req.interaction_id.is_some_and(|i| i != j.interaction_id);
            if !same_request(&j, &new) || interaction_differs {
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
            (j, true)
        }
    };
    let presigned = state
        .presigner
        .presign_put(
            &job.file_key,
            &req.mime,
            req.file_size,
            req.checksum.as_deref(),
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, job_id = %job.id, "presigning failed");
            ApiError::unavailable("Could not sign an upload URL; retry shortly.")
        })?;
    tracing::info!(
        event = if replayed { "init_replayed" } else { "job_queued" },
        job_id = %job.id, tenant_id = %tenant, trace_id = job.trace_id.as_deref(),
        interaction_id = %job.interaction_id, mime_type = %req.mime, file_size = req.file_size,
        "upload job queued"
    );
    let body = json!({
        "job_id": job.id,
        "file_key": job.file_key,
        "upload_url": presigned.url,
        "expires_at": presigned.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        "signed_content_type": req.mime,
        "upload_headers": presigned.headers,
        "status": "queued",
        "interaction_id": job.interaction_id,
    });
    let mut res = (StatusCode::CREATED, Json(body)).into_response();
    if replayed {
        res.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    Ok(res)
}

pub async fn status(
    State(state): State<SharedState>,
    caller: Caller,
    Path(job_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = JobId::parse(&job_id)
        .map_err(|_| ApiError::bad_request("job_id", "job_id must be a UUID."))?;
    caller.log.update(|f| f.job_id = Some(id.to_string()));
    let job = repo::get_job(&state.db, caller.id.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such job."))?;
    Ok(Json(status_json(&job)))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

fn encode_cursor(c: &PageCursor) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{}", c.created_at.timestamp_micros(), c.id))
}

fn decode_cursor(s: &str) -> Option<PageCursor> {
    let raw = URL_SAFE_NO_PAD.decode(s).ok()?;
    let raw = std::str::from_utf8(&raw).ok()?;
    let (micros, id) = raw.split_once(':')?;
    Some(PageCursor {
        created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        id: JobId::parse(id).ok()?,
    })
}

pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s) => Some(s.parse::<JobStatus>().map_err(|_| {
            ApiError::bad_request(
                "status",
                format!("status {s:?} is not one of queued, processing, succeeded, failed."),
            )
        })?),
    };
    let limit = match q.limit.as_deref() {
        None | Some("") => 20,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=100).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request("limit", "limit must be an integer from 1 to 100.")
            })?,
    };
    let after = match q.cursor.as_deref() {
        None | Some("") => None,
        Some(c) => Some(decode_cursor(c).ok_or_else(|| {
            ApiError::bad_request("cursor", "cursor is not a cursor this API issued.")
        })?),
    };
    let (jobs, next) = repo::list_jobs(&state.db, caller.id.tenant, status, limit, after).await?;
    Ok(Json(json!({
        "jobs": jobs.iter().map(status_json).collect::<Vec<_>>(),
        "next_cursor": next.as_ref().map(encode_cursor),
    })))
}

#[derive(Debug, Deserialize)]
pub struct CompleteBody {
    file_key: Option<String>,
}

pub async fn complete(
    State(state): State<SharedState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let body: CompleteBody = read_json(&headers, body).await?;
    let key = body
        .file_key
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ApiError::invalid("file_key", "file_key is required."))?;
    let tenant = caller.id.tenant;
    if !key.starts_with(&FileKey::tenant_prefix(tenant)) {
        return Err(
            ApiError::forbidden("file_key is not under your tenant's prefix.")
                .with_field("file_key"),
        );
    }
    let parsed = FileKey::parse(&key).map_err(|e| {
        ApiError::invalid("file_key", format!("file_key is not an upload key: {e}."))
    })?;
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
    let item = AdvanceItem {
        tenant_id: tenant,
        file_key: key.clone(),
        size: Some(info.size),
    };
    let result = repo::advance_batch(&state.db, &[item], state.config.max_upload_bytes)
        .await?
        .pop()
        .ok_or_else(ApiError::internal)?;
    let Some(trace) = result.job else {
        return Err(ApiError::not_found("No job for this file_key."));
    };
    let status = match (&result.outcome, result.status) {
        (_, Some(s)) => s,
        // Moved concurrently (e.g. by the S3 event): read where it is now.
        _ => {
            repo::get_job(&state.db, tenant, trace.job_id)
                .await?
                .ok_or_else(|| ApiError::not_found("No job for this file_key."))?
                .status
        }
    };
    let event = match &result.outcome {
        AdvanceOutcome::Advanced => "advanced",
        AdvanceOutcome::Rejected { .. } => "rejected",
        _ => "duplicate",
    };
    tracing::info!(event, source = "complete", job_id = %trace.job_id, tenant_id = %tenant,
        trace_id = trace.trace_id.as_deref(), interaction_id = %trace.interaction_id,
        status = %status, "complete");
    Ok(Json(json!({
        "job_id": trace.job_id,
        "interaction_id": trace.interaction_id,
        "status": status,
    })))
}
