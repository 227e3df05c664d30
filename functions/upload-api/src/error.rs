//! API errors as `application/problem+json` (RFC 9457) with a stable `code`,
//! and their description in the OpenAPI document.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use upload_core::DbError;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Type};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, Ref, RefOr, ResponseBuilder, response::Response as DocResponse,
};
use utoipa::{ToResponse, ToSchema};

/// The stable, machine-readable error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    ValidationFailed,
    UnsupportedMediaType,
    FileTooLarge,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    Conflict,
    PayloadTooLarge,
    ServiceUnavailable,
    Internal,
}

impl Code {
    /// The wire name, for the request log line.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::ValidationFailed => "VALIDATION_FAILED",
            Code::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Code::FileTooLarge => "FILE_TOO_LARGE",
            Code::Unauthorized => "UNAUTHORIZED",
            Code::Forbidden => "FORBIDDEN",
            Code::NotFound => "NOT_FOUND",
            Code::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Code::Conflict => "CONFLICT",
            Code::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Code::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Code::Internal => "INTERNAL",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Code,
    pub detail: String,
    /// The offending field or header, when there is one.
    pub field: Option<String>,
    pub retry_after: Option<u32>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: Code, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
            retry_after: None,
        }
    }
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Malformed request (bad JSON, bad path or query value, bad header).
    pub fn bad_request(field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Code::ValidationFailed, detail).with_field(field)
    }
    /// Well-formed but invalid field.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Code::ValidationFailed,
            detail,
        )
        .with_field(field)
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, Code::Unauthorized, detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, Code::Forbidden, detail)
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, Code::NotFound, detail)
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, Code::Conflict, detail)
    }
    pub fn unavailable(detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::ServiceUnavailable,
            detail,
        );
        e.retry_after = Some(5);
        e
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Code::Internal,
            "The server failed to handle the request; it has been logged.",
        )
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        // The error shows the SQLSTATE and the server's message, never the
        // statement's parameters.
        if e.is_transient() {
            tracing::warn!(error = %e, sqlstate = e.sqlstate(), "database unavailable");
            ApiError::unavailable("The job database is temporarily unavailable; retry shortly.")
        } else {
            tracing::error!(error = %e, sqlstate = e.sqlstate(), "database error");
            ApiError::internal()
        }
    }
}

/// Every error body (RFC 9457 problem details).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody {
    // Fields in the order clients have always received them (alphabetical).
    code: Code,
    /// A human sentence.
    detail: String,
    /// The offending field or header, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    field: Option<String>,
    /// The HTTP status code.
    status: u16,
    /// The status code's reason phrase.
    title: &'static str,
    /// Always `about:blank`.
    #[serde(rename = "type")]
    kind: &'static str,
}

impl From<&ApiError> for ProblemBody {
    fn from(e: &ApiError) -> Self {
        Self {
            code: e.code,
            detail: e.detail.clone(),
            field: e.field.clone(),
            status: e.status.as_u16(),
            title: e.status.canonical_reason().unwrap_or("Error"),
            kind: "about:blank",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(ProblemBody::from(&self))).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        // For the request log line.
        res.extensions_mut().insert(self.code);
        res
    }
}

/// The documented error responses: status, component name, the codes an
/// answer with that status carries, and when it happens.
const PROBLEMS: &[(u16, &str, &[Code], &str)] = &[
    (
        400,
        "BadRequest",
        &[Code::ValidationFailed],
        "Malformed request: a body that is not JSON or has a value of the wrong type, a bad path or query value, or a bad header (X-Trace-Id, Idempotency-Key, X-Account-ID).",
    ),
    (
        401,
        "Unauthorized",
        &[Code::Unauthorized],
        "No identity, or one that does not verify.",
    ),
    (
        403,
        "Forbidden",
        &[Code::Forbidden],
        "The file_key is not under the caller's tenant.",
    ),
    (
        404,
        "NotFound",
        &[Code::NotFound],
        "No such job for the caller's tenant (another tenant's job answers the same), or no uploaded object yet.",
    ),
    (
        409,
        "Conflict",
        &[Code::Conflict],
        "The Idempotency-Key was already used with a different request, or its upload was already received.",
    ),
    (
        413,
        "PayloadTooLarge",
        &[Code::PayloadTooLarge, Code::FileTooLarge],
        "PAYLOAD_TOO_LARGE: the request body is over 64 KiB; FILE_TOO_LARGE: file_size is over the deployment's MAX_UPLOAD_BYTES.",
    ),
    (
        415,
        "UnsupportedMediaType",
        &[Code::UnsupportedMediaType],
        "The mime_type is not accepted for the job_type.",
    ),
    (
        422,
        "Unprocessable",
        &[Code::ValidationFailed],
        "Well-formed but invalid: a missing or out-of-range field.",
    ),
    (
        500,
        "Internal",
        &[Code::Internal],
        "The server failed; the failure is logged.",
    ),
    (
        503,
        "Unavailable",
        &[Code::ServiceUnavailable],
        "The database or object storage is unavailable, or no upload URL could be signed; retry after Retry-After seconds.",
    ),
];

/// Where `status` is in [`PROBLEMS`]; a compile error for a `Problem<STATUS>`
/// that is not there.
const fn problem_index(status: u16) -> usize {
    let mut i = 0;
    while i < PROBLEMS.len() {
        if PROBLEMS[i].0 == status {
            return i;
        }
        i += 1;
    }
    panic!("no documented problem response for this status")
}

fn problem_response(index: usize) -> DocResponse {
    let (status, _, codes, description) = PROBLEMS[index];
    let schema = AllOfBuilder::new()
        .item(Ref::from_schema_name(ProblemBody::name()))
        .item(
            ObjectBuilder::new().property(
                "code",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(codes.iter().map(|c| c.as_str()))),
            ),
        );
    let mut response = ResponseBuilder::new().description(description).content(
        "application/problem+json",
        ContentBuilder::new().schema(Some(schema)).build(),
    );
    if status == StatusCode::SERVICE_UNAVAILABLE.as_u16() {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(Type::Integer))
                .description(Some("Seconds to wait before retrying."))
                .build(),
        );
    }
    response.build()
}

/// A documented error response, `components/responses/<name>`, for
/// `responses((status = 404, response = Problem<404>))` in a route's
/// `#[utoipa::path]`.
pub struct Problem<const STATUS: u16>;

impl<const STATUS: u16> Problem<STATUS> {
    const INDEX: usize = problem_index(STATUS);
}

impl<const STATUS: u16> ToResponse<'static> for Problem<STATUS> {
    fn response() -> (&'static str, RefOr<DocResponse>) {
        (
            PROBLEMS[Self::INDEX].1,
            RefOr::T(problem_response(Self::INDEX)),
        )
    }
}

/// Every documented error response, for the document's components.
pub(crate) fn problem_responses() -> impl Iterator<Item = (&'static str, DocResponse)> {
    (0..PROBLEMS.len()).map(|i| (PROBLEMS[i].1, problem_response(i)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_a_route_answers_is_documented_with_its_code() {
        let built = [
            ApiError::bad_request("f", "x"),
            ApiError::invalid("f", "x"),
            ApiError::unauthorized("x"),
            ApiError::forbidden("x"),
            ApiError::not_found("x"),
            ApiError::conflict("x"),
            ApiError::unavailable("x"),
            ApiError::internal(),
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, Code::PayloadTooLarge, "x"),
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, Code::FileTooLarge, "x"),
            ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::UnsupportedMediaType,
                "x",
            ),
        ];
        for e in built {
            let (_, _, codes, _) = PROBLEMS[problem_index(e.status.as_u16())];
            assert!(codes.contains(&e.code), "{e:?}");
        }
    }

    #[test]
    fn log_names_are_the_wire_names() {
        for c in [
            Code::ValidationFailed,
            Code::UnsupportedMediaType,
            Code::FileTooLarge,
            Code::Unauthorized,
            Code::Forbidden,
            Code::NotFound,
            Code::MethodNotAllowed,
            Code::Conflict,
            Code::PayloadTooLarge,
            Code::ServiceUnavailable,
            Code::Internal,
        ] {
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
    }
}
