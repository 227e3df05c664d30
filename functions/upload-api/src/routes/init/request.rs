//! The init request as sent (body and headers) and as validated.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::request::Parts;
use serde::Deserialize;
use serde_json::Value;
use upload_core::JobType;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::fields::{self, AccountId, Checksum, FileName, IdempotencyKey, Metadata, MimeType};
use super::participants::{ParticipantBody, Participants};
use crate::error::ApiError;
use crate::routes::job::Kind;

/// The init request body, as sent. An absent field and `null` are the same.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = InitRequest)]
pub struct InitBody {
    /// The file's name, 1 to 255 characters, not all whitespace, no NUL
    /// (U+0000). The object key uses a sanitised form of it.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 255, pattern = r"^[^\x00]*[^\s\x00][^\x00]*$")]
    filename: Option<String>,
    /// Normalised (trimmed, lower-cased, parameters dropped, aliases mapped)
    /// and signed as Content-Type. audio_transcription accepts audio/wav,
    /// audio/mpeg, audio/mp4, audio/webm, audio/ogg, audio/flac, audio/aac;
    /// text_processing accepts text/plain, text/markdown, application/json.
    #[schema(schema_with = crate::mime::schema)]
    mime_type: Option<String>,
    /// The file's size in bytes (a whole number; `38.0` is 38), at most the
    /// deployment's MAX_UPLOAD_BYTES (itself at most S3's 5 GiB single-PUT
    /// limit); signed as Content-Length.
    #[schema(minimum = 1, maximum = 5_368_709_120_u64)]
    #[serde(default, deserialize_with = "crate::routes::extract::whole_number")]
    file_size: Option<u64>,
    /// Trimmed, then 1 to 255 bytes, no NUL (U+0000). Required: here, or
    /// in the X-Account-ID header instead (when both are given they must
    /// agree).
    #[schema(required = true, value_type = String, min_length = 1, max_length = 255, pattern = r"^[^\x00]*[^\s\x00][^\x00]*$")]
    account_id: Option<String>,
    #[schema(value_type = Option<Kind>, default = "audio_transcription")]
    job_type: Option<String>,
    /// Generated when absent.
    #[schema(value_type = Option<Uuid>)]
    interaction_id: Option<String>,
    /// A JSON object, at most 16 KiB serialized.
    #[schema(value_type = Option<Object>)]
    metadata: Option<Value>,
    /// The base64 SHA-256 digest of the file; signed as
    /// x-amz-checksum-sha256, so S3 refuses any other body.
    #[schema(pattern = r"^\s*[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=\s*$")]
    checksum_sha256: Option<String>,
    /// Who takes part in the recording, at most 100 entries; stored with
    /// the job for the processing service (never returned).
    #[schema(max_items = 100)]
    participants: Option<Vec<ParticipantBody>>,
    /// For clients that send every one of `upload_headers` with their PUT:
    /// `If-None-Match: *` is then signed into the URL (and returned in
    /// upload_headers), so S3 refuses a second PUT of the same key (412).
    /// Clients that send only Content-Type must leave it off.
    #[schema(default = false)]
    overwrite_protection: Option<bool>,
}

/// The headers init reads besides the caller's, as sent; checked after the
/// body.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct InitHeaders {
    /// 1 to 255 printable ASCII characters. A retry with the same key and
    /// body returns the same job with a fresh URL (while it is queued).
    #[param(rename = "Idempotency-Key", value_type = String, required = false, min_length = 1, max_length = 255, pattern = "^[ -~]+$")]
    pub idempotency_key: Option<HeaderValue>,
    /// Alternative to the body's account_id; when both are given they must
    /// agree. Printable ASCII, not blank, at most 255 characters.
    #[param(rename = "X-Account-ID", value_type = String, required = false, min_length = 1, max_length = 255, pattern = r"^[\t -~]*[!-~][\t -~]*$")]
    pub account_id: Option<HeaderValue>,
}

impl<S: Send + Sync> FromRequestParts<S> for InitHeaders {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self {
            idempotency_key: parts.headers.get("idempotency-key").cloned(),
            account_id: parts.headers.get("x-account-id").cloned(),
        })
    }
}

/// What init validates: the body, and what some of its checks need.
pub struct InitInput<'a> {
    pub body: InitBody,
    pub headers: &'a InitHeaders,
    pub max_upload_bytes: u64,
}

/// The validated init request.
#[derive(Debug)]
pub struct InitRequest {
    pub file_name: FileName,
    pub job_type: JobType,
    pub mime: MimeType,
    pub file_size: Option<i64>,
    pub account_id: AccountId,
    pub interaction_id: Option<Uuid>,
    pub metadata: Option<Metadata>,
    pub checksum: Option<Checksum>,
    pub participants: Option<Participants>,
    pub overwrite_protection: bool,
    pub idempotency_key: Option<IdempotencyKey>,
}

impl TryFrom<InitInput<'_>> for InitRequest {
    type Error = ApiError;

    /// The checks run in this order and the first failure is the answer:
    /// filename, job_type, mime_type, file_size, account_id (with
    /// X-Account-ID), interaction_id, metadata, checksum_sha256,
    /// participants, Idempotency-Key.
    fn try_from(input: InitInput<'_>) -> Result<Self, ApiError> {
        let InitInput {
            body,
            headers,
            max_upload_bytes,
        } = input;
        let file_name = FileName::try_from(body.filename)?;
        let job_type = fields::job_type(body.job_type.as_deref())?;
        let mime = MimeType::for_job(body.mime_type.as_deref(), job_type)?;
        let file_size = body
            .file_size
            .map(|s| fields::file_size(s, max_upload_bytes))
            .transpose()?;
        let account_id = AccountId::resolve(body.account_id, headers.account_id.as_ref())?;
        let interaction_id = body
            .interaction_id
            .as_deref()
            .map(fields::interaction_id)
            .transpose()?;
        let metadata = Metadata::from_json(body.metadata)?;
        let checksum = body.checksum_sha256.map(Checksum::try_from).transpose()?;
        let participants = Participants::from_body(body.participants)?;
        let idempotency_key = headers
            .idempotency_key
            .as_ref()
            .map(IdempotencyKey::try_from)
            .transpose()?;
        Ok(Self {
            file_name,
            job_type,
            mime,
            file_size,
            account_id,
            interaction_id,
            metadata,
            checksum,
            participants,
            overwrite_protection: body.overwrite_protection.unwrap_or(false),
            idempotency_key,
        })
    }
}
