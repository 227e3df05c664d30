//! CORS for the local API, as API Gateway's HTTP API does it in AWS
//! (`CorsConfiguration` in template.yaml): preflights are answered `204`
//! before the router sees them, and every answer to an allowed origin carries
//! `Access-Control-Allow-Origin` and the exposed headers. The Lambda itself
//! has no CORS; only the local stack needs this.

use std::str::FromStr;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use http::{HeaderName, HeaderValue, Method, StatusCode};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// template.yaml's `AllowMethods`.
pub const ALLOW_METHODS: [&str; 3] = ["GET", "POST", "OPTIONS"];
/// template.yaml's `AllowHeaders`.
pub const ALLOW_HEADERS: [&str; 5] = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "X-Account-ID",
    "X-Trace-Id",
];
/// Allowed as well, locally only: the development identity headers, which
/// the local stack accepts (`ALLOW_LEGACY_HEADER_AUTH=true`) and a deployed
/// stack refuses.
pub const DEV_IDENTITY_HEADERS: [&str; 2] = ["X-Tenant-ID", "X-User-ID"];
/// template.yaml's `ExposeHeaders`.
pub const EXPOSE_HEADERS: [&str; 3] = ["X-Trace-Id", "Retry-After", "Idempotent-Replayed"];
/// template.yaml's `MaxAge`, in seconds.
pub const MAX_AGE_SECS: u64 = 600;

/// The origins the local API answers with CORS headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// `http://localhost[:port]` and `http://127.0.0.1[:port]`: a front-end
    /// dev server on this machine, on any port.
    #[default]
    Localhost,
    /// Exactly these (`--allowed-origins a,b`).
    Exactly(Vec<HeaderValue>),
    /// Any origin (`--allowed-origins '*'`).
    Any,
}

impl FromStr for AllowedOrigins {
    type Err = String;

    /// `*`, or a comma-separated list of origins, each exactly as a browser
    /// sends it: `scheme://host[:port]`, lower-case, no path, no default
    /// port.
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim() == "*" {
            return Ok(Self::Any);
        }
        let mut origins = Vec::new();
        for o in s.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            let url = url::Url::parse(o).map_err(|e| format!("{o:?} is not an origin: {e}"))?;
            let canonical = url.origin().ascii_serialization();
            if !matches!(url.scheme(), "http" | "https") || canonical != o {
                return Err(format!(
                    "{o:?} is not an origin as browsers send it (scheme://host[:port], e.g. {canonical:?})"
                ));
            }
            origins.push(HeaderValue::from_str(o).map_err(|e| format!("{o:?}: {e}"))?);
        }
        if origins.is_empty() {
            return Err("no origin given".to_owned());
        }
        Ok(Self::Exactly(origins))
    }
}

/// `http://localhost` or `http://127.0.0.1`, with or without a port.
fn is_local_origin(origin: &[u8]) -> bool {
    let Some(rest) = std::str::from_utf8(origin)
        .ok()
        .and_then(|o| o.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = match rest.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (rest, None),
    };
    let port_ok = port.is_none_or(|p| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
    });
    matches!(host, "localhost" | "127.0.0.1") && port_ok
}

fn names(list: &[&str]) -> Vec<HeaderName> {
    list.iter()
        .map(|h| HeaderName::from_bytes(h.as_bytes()).expect("a valid header name"))
        .collect()
}

/// The CORS layer: template.yaml's configuration for `origins`.
pub fn layer(origins: &AllowedOrigins) -> CorsLayer {
    let allow_origin = match origins {
        AllowedOrigins::Localhost => AllowOrigin::predicate(|o, _| is_local_origin(o.as_bytes())),
        AllowedOrigins::Exactly(list) => AllowOrigin::list(list.iter().cloned()),
        AllowedOrigins::Any => AllowOrigin::any(),
    };
    let headers: Vec<&str> = ALLOW_HEADERS
        .into_iter()
        .chain(DEV_IDENTITY_HEADERS)
        .collect();
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods(ALLOW_METHODS.map(|m| Method::from_bytes(m.as_bytes()).expect("a method")))
        .allow_headers(names(&headers))
        .expose_headers(names(&EXPOSE_HEADERS))
        .max_age(Duration::from_secs(MAX_AGE_SECS))
}

/// `router` with CORS: preflights (any `OPTIONS`) answered `204` as API
/// Gateway answers them, CORS headers on every answer to an allowed origin.
pub fn with_cors(router: Router, origins: &AllowedOrigins) -> Router {
    router
        .layer(layer(origins))
        .layer(middleware::from_fn(preflight_no_content))
}

/// tower-http answers a preflight `200`; API Gateway answers `204`.
async fn preflight_no_content(req: Request, next: Next) -> Response {
    let preflight = req.method() == Method::OPTIONS;
    let mut res = next.run(req).await;
    if preflight && res.status() == StatusCode::OK {
        *res.status_mut() = StatusCode::NO_CONTENT;
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_origins_are_localhost_and_loopback_on_any_port() {
        for o in [
            "http://localhost:5173",
            "http://127.0.0.1:3000",
            "http://localhost",
            "http://127.0.0.1:65535",
        ] {
            assert!(is_local_origin(o.as_bytes()), "{o}");
        }
        for o in [
            "https://localhost:5173",
            "http://localhost.example.com:5173",
            "http://example.com",
            "http://localhost:",
            "http://localhost:+80",
            "http://localhost:65536",
            "http://localhost:5173/",
            "http://127.0.0.2:3000",
            "null",
        ] {
            assert!(!is_local_origin(o.as_bytes()), "{o}");
        }
    }

    #[test]
    fn allowed_origins_parse_as_browsers_send_them() {
        assert_eq!("*".parse(), Ok(AllowedOrigins::Any));
        assert_eq!(
            "http://a.test:8080, https://b.test".parse(),
            Ok(AllowedOrigins::Exactly(vec![
                HeaderValue::from_static("http://a.test:8080"),
                HeaderValue::from_static("https://b.test"),
            ]))
        );
        for bad in [
            "",
            ",",
            "a.test",
            "http://a.test/",
            "http://a.test/app",
            "http://A.test",
            "http://a.test:80",
            "ftp://a.test",
        ] {
            assert!(bad.parse::<AllowedOrigins>().is_err(), "{bad:?}");
        }
    }
}
