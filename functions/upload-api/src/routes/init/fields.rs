//! The init request's fields, each validated on its own. Every failure is
//! the answer the API has always given for that field.

use axum::http::{HeaderValue, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use upload_core::JobType;
use uuid::Uuid;

use crate::error::{ApiError, Code};
use crate::mime;

/// Longest filename, in characters.
pub const MAX_FILENAME_CHARS: usize = 255;
/// Longest account id, in bytes (after trimming).
pub const MAX_ACCOUNT_ID_BYTES: usize = 255;
/// Largest `metadata` object, serialized.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// Text this service stores must not contain U+0000 (PostgreSQL's `text`
/// cannot hold it): 422 naming `field`.
pub fn no_nul(field: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(ApiError::invalid(
            field,
            format!("{field} must not contain the NUL character (U+0000)."),
        ));
    }
    Ok(())
}

/// The file's name as the client gave it: 1 to 255 characters, not all
/// whitespace, no U+0000.
#[derive(Debug)]
pub struct FileName(String);

impl TryFrom<Option<String>> for FileName {
    type Error = ApiError;

    fn try_from(raw: Option<String>) -> Result<Self, ApiError> {
        let name = raw.ok_or_else(|| ApiError::invalid("filename", "filename is required."))?;
        let n = name.chars().count();
        if n == 0 || n > MAX_FILENAME_CHARS || name.trim().is_empty() {
            return Err(ApiError::invalid(
                "filename",
                "filename must be 1 to 255 characters.",
            ));
        }
        no_nul("filename", &name)?;
        Ok(Self(name))
    }
}

impl FileName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// `job_type`, `audio_transcription` when absent.
pub fn job_type(raw: Option<&str>) -> Result<JobType, ApiError> {
    let Some(t) = raw else {
        return Ok(JobType::AudioTranscription);
    };
    t.parse().map_err(|_| {
        ApiError::invalid(
            "job_type",
            format!("job_type {t:?} is not one of audio_transcription, text_processing."),
        )
    })
}

/// The normalised MIME type (`audio/wav` when absent), accepted for the job
/// type.
#[derive(Debug)]
pub struct MimeType(String);

impl MimeType {
    pub fn for_job(raw: Option<&str>, job_type: JobType) -> Result<Self, ApiError> {
        let mime = mime::normalize(raw.unwrap_or("audio/wav"));
        if !mime::is_allowed(job_type, &mime) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::UnsupportedMediaType,
                format!(
                    "mime_type {mime:?} is not accepted for {job_type}; accepted: {}.",
                    mime::allowed(job_type).join(", ")
                ),
            )
            .with_field("mime_type"));
        }
        Ok(Self(mime))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The declared size: at least 1 byte, at most the deployment's limit.
pub fn file_size(bytes: u64, max_bytes: u64) -> Result<i64, ApiError> {
    if bytes == 0 {
        return Err(ApiError::invalid(
            "file_size",
            "file_size must be at least 1 byte.",
        ));
    }
    if bytes > max_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::FileTooLarge,
            format!("file_size {bytes} is larger than the {max_bytes}-byte limit."),
        )
        .with_field("file_size"));
    }
    // The limit is at most S3's single-PUT ceiling (Config caps it), far
    // below i64::MAX.
    Ok(i64::try_from(bytes).unwrap_or(i64::MAX))
}

/// The account, from the body or the `X-Account-ID` header (they must agree
/// when both are given), trimmed, 1 to 255 bytes, no U+0000.
#[derive(Debug)]
pub struct AccountId(String);

impl AccountId {
    /// Checked in this order: the header is text, the body's value is not
    /// empty, they agree, one is given, the length, no U+0000.
    pub fn resolve(body: Option<String>, header: Option<&HeaderValue>) -> Result<Self, ApiError> {
        let header = header
            .map(|v| {
                v.to_str()
                    .ok()
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        ApiError::bad_request("X-Account-ID", "X-Account-ID is not valid text.")
                    })
            })
            .transpose()?;
        let body = body.map(|a| a.trim().to_owned());
        if body.as_deref() == Some("") {
            return Err(ApiError::invalid(
                "account_id",
                "account_id must not be empty.",
            ));
        }
        let account = match (body, header) {
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
        if account.len() > MAX_ACCOUNT_ID_BYTES {
            return Err(ApiError::invalid(
                "account_id",
                "account_id is longer than 255 bytes.",
            ));
        }
        no_nul("account_id", &account)?;
        Ok(Self(account))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// `interaction_id`: a UUID.
pub fn interaction_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::invalid("interaction_id", "interaction_id must be a UUID."))
}

/// `metadata`, serialized: a JSON object of at most 16 KiB (`null` is none).
#[derive(Debug)]
pub struct Metadata(String);

impl Metadata {
    pub fn from_json(raw: Option<Value>) -> Result<Option<Self>, ApiError> {
        match raw {
            None | Some(Value::Null) => Ok(None),
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
                Ok(Some(Self(s)))
            }
            Some(_) => Err(ApiError::invalid(
                "metadata",
                "metadata must be a JSON object.",
            )),
        }
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// `checksum_sha256`: the base64 of a 32-byte SHA-256 digest, trimmed.
#[derive(Debug)]
pub struct Checksum(String);

impl TryFrom<String> for Checksum {
    type Error = ApiError;

    fn try_from(raw: String) -> Result<Self, ApiError> {
        let sum = raw.trim();
        if !STANDARD.decode(sum).is_ok_and(|b| b.len() == 32) {
            return Err(ApiError::invalid(
                "checksum_sha256",
                "checksum_sha256 must be the base64 of a 32-byte SHA-256 digest.",
            ));
        }
        Ok(Self(sum.to_owned()))
    }
}

impl Checksum {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `Idempotency-Key`: 1 to 255 printable ASCII characters.
#[derive(Debug)]
pub struct IdempotencyKey(String);

impl TryFrom<&HeaderValue> for IdempotencyKey {
    type Error = ApiError;

    fn try_from(v: &HeaderValue) -> Result<Self, ApiError> {
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
        Ok(Self(s.to_owned()))
    }
}

impl IdempotencyKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
