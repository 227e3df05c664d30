//! The sign request as sent, and the one S3 request it may ask for.

use serde::Deserialize;
use upload_core::JobId;
use utoipa::ToSchema;

use crate::error::ApiError;

/// The sign request body, as sent. An absent field and `null` are the same.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = SignRequest)]
// An unknown field is refused, not ignored: Uppy names them uploadId and
// partNumber, and a body with those would otherwise sign another request.
#[serde(deny_unknown_fields)]
pub struct SignBody {
    /// The job_id init returned; the request is signed for its file_key.
    #[schema(required = true, value_type = uuid::Uuid)]
    job_id: Option<String>,
    /// The S3 request's HTTP method. With `upload_id`: PUT (UploadPart,
    /// with part_number), GET (ListParts), POST (CompleteMultipartUpload),
    /// DELETE (AbortMultipartUpload). Without: POST
    /// (CreateMultipartUpload) or PUT (a fresh single-PUT URL).
    #[schema(required = true, value_type = SignMethod)]
    method: Option<String>,
    /// The UploadId CreateMultipartUpload returned.
    #[schema(min_length = 1, max_length = 1024, pattern = "^[!-~]+$")]
    upload_id: Option<String>,
    /// The part to upload, 1 to 10000 (only with PUT and upload_id).
    #[schema(minimum = 1, maximum = 10000)]
    #[serde(default, deserialize_with = "crate::routes::extract::whole_number")]
    part_number: Option<u64>,
}

/// The HTTP methods a signed request can have.
#[derive(Debug, ToSchema)]
#[allow(dead_code, clippy::upper_case_acronyms)]
pub enum SignMethod {
    GET,
    PUT,
    POST,
    DELETE,
}

/// What may be signed for a job's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    CreateMultipart,
    UploadPart { upload_id: String, part_number: i32 },
    ListParts { upload_id: String },
    CompleteMultipart { upload_id: String },
    AbortMultipart { upload_id: String },
    SinglePut,
}

impl Operation {
    /// How logs and metrics name it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::CreateMultipart => "create_multipart_upload",
            Self::UploadPart { .. } => "upload_part",
            Self::ListParts { .. } => "list_parts",
            Self::CompleteMultipart { .. } => "complete_multipart_upload",
            Self::AbortMultipart { .. } => "abort_multipart_upload",
            Self::SinglePut => "put_object",
        }
    }
}

/// A valid sign request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignRequest {
    pub job_id: JobId,
    pub operation: Operation,
}

impl TryFrom<SignBody> for SignRequest {
    type Error = ApiError;

    /// Checks the fields in order (job_id, method, upload_id, part_number),
    /// then that the combination is one S3 request this endpoint signs.
    fn try_from(b: SignBody) -> Result<Self, ApiError> {
        let job_id = b
            .job_id
            .ok_or_else(|| ApiError::invalid("job_id", "job_id is required."))
            .and_then(|raw| {
                JobId::parse(raw.trim())
                    .map_err(|_| ApiError::invalid("job_id", "job_id must be a UUID."))
            })?;
        let method = b
            .method
            .ok_or_else(|| ApiError::invalid("method", "method is required."))?;
        let upload_id = b.upload_id.map(upload_id).transpose()?;
        let part_number = b.part_number.map(part_number).transpose()?;
        let operation = operation(&method, upload_id, part_number)?;
        Ok(SignRequest { job_id, operation })
    }
}

/// `upload_id`: what S3 returned, 1 to 1024 printable ASCII characters.
fn upload_id(raw: String) -> Result<String, ApiError> {
    if raw.is_empty() || raw.len() > 1024 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "upload_id",
            "upload_id must be the UploadId S3 returned (1 to 1024 printable ASCII characters).",
        ));
    }
    Ok(raw)
}

/// `part_number`: 1 to 10000, S3's part numbers.
fn part_number(n: u64) -> Result<i32, ApiError> {
    i32::try_from(n)
        .ok()
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| ApiError::invalid("part_number", "part_number must be from 1 to 10000."))
}

/// The S3 request a (method, upload_id, part_number) combination names.
fn operation(
    method: &str,
    upload_id: Option<String>,
    part: Option<i32>,
) -> Result<Operation, ApiError> {
    let only_put = || {
        ApiError::invalid(
            "part_number",
            "part_number goes only with method PUT and an upload_id (UploadPart).",
        )
    };
    let needs_upload = |what: &str| {
        ApiError::invalid(
            "upload_id",
            format!("upload_id is required to sign {what}."),
        )
    };
    match (method, upload_id, part) {
        ("PUT", Some(upload_id), Some(part_number)) => Ok(Operation::UploadPart {
            upload_id,
            part_number,
        }),
        ("PUT", Some(_), None) => Err(ApiError::invalid(
            "part_number",
            "part_number is required to sign an UploadPart (PUT with upload_id).",
        )),
        ("PUT", None, Some(_)) => Err(needs_upload("an UploadPart (PUT with part_number)")),
        ("PUT", None, None) => Ok(Operation::SinglePut),
        ("GET" | "POST" | "DELETE", _, Some(_)) => Err(only_put()),
        ("POST", None, None) => Ok(Operation::CreateMultipart),
        ("POST", Some(upload_id), None) => Ok(Operation::CompleteMultipart { upload_id }),
        ("GET", Some(upload_id), None) => Ok(Operation::ListParts { upload_id }),
        ("GET", None, None) => Err(needs_upload("a ListParts (GET)")),
        ("DELETE", Some(upload_id), None) => Ok(Operation::AbortMultipart { upload_id }),
        ("DELETE", None, None) => Err(needs_upload("an AbortMultipartUpload (DELETE)")),
        _ => Err(ApiError::invalid(
            "method",
            "method must be one of GET, PUT, POST or DELETE.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: &str, upload: Option<&str>, part: Option<i32>) -> Result<Operation, String> {
        operation(method, upload.map(str::to_owned), part)
            .map_err(|e| format!("{} {:?}", e.status.as_u16(), e.field))
    }

    #[test]
    fn each_allowed_combination_names_one_operation() {
        let u = Some("u1");
        assert_eq!(op("POST", None, None), Ok(Operation::CreateMultipart));
        assert_eq!(
            op("PUT", u, Some(3)),
            Ok(Operation::UploadPart {
                upload_id: "u1".into(),
                part_number: 3
            })
        );
        assert_eq!(
            op("GET", u, None),
            Ok(Operation::ListParts {
                upload_id: "u1".into()
            })
        );
        assert_eq!(
            op("POST", u, None),
            Ok(Operation::CompleteMultipart {
                upload_id: "u1".into()
            })
        );
        assert_eq!(
            op("DELETE", u, None),
            Ok(Operation::AbortMultipart {
                upload_id: "u1".into()
            })
        );
        assert_eq!(op("PUT", None, None), Ok(Operation::SinglePut));
    }

    #[test]
    fn every_other_combination_is_422_naming_the_field() {
        let u = Some("u1");
        let f = |s: &str| Err(format!("422 Some({s:?})"));
        assert_eq!(op("PUT", u, None), f("part_number"));
        assert_eq!(op("PUT", None, Some(1)), f("upload_id"));
        assert_eq!(op("GET", None, None), f("upload_id"));
        assert_eq!(op("DELETE", None, None), f("upload_id"));
        for m in ["GET", "POST", "DELETE"] {
            assert_eq!(op(m, u, Some(1)), f("part_number"), "{m}");
        }
        for m in ["HEAD", "PATCH", "put", "", "OPTIONS"] {
            assert_eq!(op(m, u, None), f("method"), "{m}");
        }
        assert!(part_number(0).is_err() && part_number(10_001).is_err());
        assert_eq!(part_number(10_000).ok(), Some(10_000));
        for bad in ["", "a b", "é", &"x".repeat(1025)] {
            assert!(upload_id(bad.to_owned()).is_err(), "{bad:?}");
        }
    }
}
