//! What every route reads the same way: the caller (identity and trace id)
//! and a size-limited JSON body.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde::de::DeserializeOwned;
use utoipa::IntoParams;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use uuid::Uuid;

use crate::SharedState;
use crate::auth::Identity;
use crate::error::{ApiError, Code};
use crate::log::RequestLog;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The authenticated caller and the request's trace id (`X-Trace-Id`, a
/// fresh UUID when absent).
pub struct Caller {
    pub id: Identity,
    pub trace_id: String,
    pub log: RequestLog,
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

/// The header [`Caller`] reads besides the credentials (those are the
/// document's security schemes).
impl IntoParams for Caller {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            ParameterBuilder::new()
                .name("X-Trace-Id")
                .parameter_in(ParameterIn::Header)
                .description(Some(
                    "Stored as the job's trace_id; generated when absent; echoed in the response.",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
                ))
                .build(),
        ]
    }
}

/// A JSON body of at most [`MAX_BODY_BYTES`]; a value of the wrong type is
/// answered naming its field.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        read_json(&parts.headers, body).await.map(JsonBody)
    }
}

async fn read_json<T: DeserializeOwned>(headers: &HeaderMap, body: Body) -> Result<T, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::PayloadTooLarge,
            format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
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
