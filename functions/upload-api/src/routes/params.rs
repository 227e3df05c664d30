//! Path and query parameters, read so that every way they can be malformed
//! (not valid UTF-8 once percent-decoded, repeated, of the wrong type) is a
//! problem+json `400 VALIDATION_FAILED` naming the parameter, never the
//! framework's plain-text answer.

use std::collections::HashSet;

use axum::extract::path::ErrorKind;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use percent_encoding::percent_decode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The route's path parameters (`{job_id}`), percent-decoded.
pub struct PathParams<T>(pub T);

impl<T, S> FromRequestParts<S> for PathParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(Self(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(path_error(e.into_kind())),
            Err(e) => {
                // No parameters matched: the route and the handler disagree.
                tracing::error!(error = %e, "path parameters missing");
                Err(ApiError::internal())
            }
        }
    }
}

fn path_error(kind: ErrorKind) -> ApiError {
    match kind {
        ErrorKind::InvalidUtf8InPathParam { key } => ApiError::bad_request(
            &key,
            format!("{key} is not valid UTF-8 once percent-decoded."),
        ),
        ErrorKind::ParseErrorAtKey {
            key, expected_type, ..
        } => ApiError::bad_request(&key, format!("{key} must be {expected_type}.")),
        ErrorKind::DeserializeError { key, message, .. } => {
            ApiError::bad_request(&key, format!("{key}: {message}."))
        }
        ErrorKind::WrongNumberOfParameters { .. } | ErrorKind::UnsupportedType { .. } => {
            tracing::error!(error = %kind, "path parameters do not fit the handler");
            ApiError::internal()
        }
        other => ApiError::bad_request("path", format!("The path is not valid: {other}.")),
    }
}

/// The query string, deserialized into `T`. A parameter given twice, or
/// whose name or value is not UTF-8 once percent-decoded, is refused before
/// `T` sees it; a value `T` cannot take is refused naming its parameter.
/// Parameters `T` does not name are ignored.
pub struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Self)
    }
}

/// `application/x-www-form-urlencoded` decoding of one name or value: `+`
/// is a space, `%XX` a byte; `None` when the bytes are not UTF-8.
fn decode(raw: &str) -> Option<String> {
    let plus_as_space = raw.replace('+', " ");
    percent_decode(plus_as_space.as_bytes())
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Checks the query string, then deserializes it.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let mut seen = HashSet::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let Some(name) = decode(raw_name) else {
            return Err(ApiError::bad_request(
                "query",
                "A query parameter's name is not valid UTF-8 once percent-decoded.",
            ));
        };
        if decode(raw_value).is_none() {
            return Err(ApiError::bad_request(
                &name,
                format!("The query parameter {name} is not valid UTF-8 once percent-decoded."),
            ));
        }
        if !seen.insert(name.clone()) {
            return Err(ApiError::bad_request(
                if name.is_empty() { "query" } else { &name },
                format!("The query parameter {name} is given more than once."),
            ));
        }
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            ApiError::bad_request("query", format!("The query string is not valid: {inner}."))
        } else {
            ApiError::bad_request(&path, format!("The query parameter {path}: {inner}."))
        }
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Typed {
        page: Option<u32>,
        name: Option<String>,
    }

    fn refused(query: &str) -> ApiError {
        match parse_query::<Typed>(query) {
            Ok(v) => panic!("{query:?} accepted as {v:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn malformed_queries_name_their_parameter() {
        for (query, field) in [
            ("page=1&page=2", "page"),
            ("name=a&name=", "name"),
            ("na%6De=a&name=b", "name"),
            ("page=x", "page"),
            ("page=-1", "page"),
            ("name=%FF", "name"),
            ("name=%C3", "name"),
            ("%FF=1", "query"),
        ] {
            let e = refused(query);
            assert_eq!(e.status.as_u16(), 400, "{query}");
            assert_eq!(e.field.as_deref(), Some(field), "{query}: {}", e.detail);
            assert!(!e.detail.is_empty());
        }
    }

    #[test]
    fn well_formed_queries_decode() {
        let q: Typed = parse_query("name=a+b%20c%C3%A9&other=1&&page=7").unwrap();
        assert_eq!(q.name.as_deref(), Some("a b cé"));
        assert_eq!(q.page, Some(7));
        let empty: Typed = parse_query("").unwrap();
        assert!(empty.name.is_none() && empty.page.is_none());
    }
}
