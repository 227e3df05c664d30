//! What every route reads the same way: the caller (identity and trace id)
//! and a size-limited JSON body.

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde::Deserializer;
use serde::de::{self, DeserializeOwned, Unexpected, Visitor};
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

/// An optional count in a JSON body, written as JSON allows a whole number
/// to be: `38`, `38.0` or `3.8e1` (JSON has one number type, and JSON
/// Schema's `integer` is any number without a fraction). A fraction, a
/// negative number or one above `u64::MAX` is refused as serde refuses a
/// wrong type, naming the field.
pub fn whole_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Whole;

    impl<'de> Visitor<'de> for Whole {
        type Value = Option<u64>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number from 0 to 18446744073709551615")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            u64::try_from(v)
                .map(Some)
                .map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            // 2^64 is the first whole f64 a u64 cannot hold.
            if v.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&v) {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(Some(v as u64))
            } else {
                Err(E::invalid_value(Unexpected::Float(v), &self))
            }
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(self)
        }
    }

    d.deserialize_option(Whole)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(default, deserialize_with = "super::whole_number")]
        n: Option<u64>,
    }

    fn n(json: &str) -> Result<Option<u64>, String> {
        serde_json::from_str::<Body>(json)
            .map(|b| b.n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_in_any_json_spelling() {
        assert_eq!(n(r#"{"n": 38}"#), Ok(Some(38)));
        assert_eq!(n(r#"{"n": 38.0}"#), Ok(Some(38)));
        assert_eq!(n(r#"{"n": 3.8e1}"#), Ok(Some(38)));
        assert_eq!(n(r#"{"n": 0}"#), Ok(Some(0)));
        assert_eq!(n(r#"{"n": 18446744073709551615}"#), Ok(Some(u64::MAX)));
        assert_eq!(n(r#"{"n": null}"#), Ok(None));
        assert_eq!(n("{}"), Ok(None));
        for bad in [
            "38.5",
            "-1",
            "-1.0",
            "1e20",
            "18446744073709551616",
            "\"38\"",
            "true",
        ] {
            let e = n(&format!(r#"{{"n": {bad}}}"#)).unwrap_err();
            assert!(
                e.contains("whole number") || e.contains("invalid type"),
                "{bad}: {e}"
            );
        }
    }
}
