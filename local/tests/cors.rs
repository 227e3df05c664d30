//! CORS on the local API, as API Gateway's HTTP API does it in AWS: a
//! front-end dev server on another port can call the local stack.

mod common;

use std::process::Command;

use common::*;
use reqwest::{Method, Response};
use upload_testkit::TestDb;

/// A preflight for `POST {path}` from `origin`.
async fn preflight(api: &str, path: &str, origin: &str) -> Response {
    client()
        .request(Method::OPTIONS, format!("{api}{path}"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "content-type,idempotency-key,x-tenant-id,x-user-id",
        )
        .send()
        .await
        .unwrap()
}

fn header<'r>(res: &'r Response, name: &str) -> Option<&'r str> {
    res.headers().get(name).map(|v| v.to_str().unwrap())
}

/// The comma-separated list in `name`, lower-cased.
fn list(res: &Response, name: &str) -> Vec<String> {
    header(res, name)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

fn assert_allowed_preflight(res: &Response, origin: &str) {
    assert_eq!(res.status(), 204, "{origin}");
    assert_eq!(header(res, "access-control-allow-origin"), Some(origin));
    assert_eq!(
        list(res, "access-control-allow-methods"),
        ["get", "post", "options"]
    );
    let allowed = list(res, "access-control-allow-headers");
    for h in [
        "authorization",
        "content-type",
        "idempotency-key",
        "x-account-id",
        "x-trace-id",
        "x-tenant-id",
        "x-user-id",
    ] {
        assert!(allowed.iter().any(|a| a == h), "{h} not in {allowed:?}");
    }
    assert_eq!(header(res, "access-control-max-age"), Some("600"));
}

#[tokio::test]
async fn local_origins_get_preflights_and_cors_headers_by_default() {
    let t = TestDb::new().await;
    let dir = temp_dir("cors-default");
    let s = StackProc::start(&dir, Some(&t.url), &[]);

    for origin in ["http://localhost:5173", "http://127.0.0.1:8080"] {
        for path in ["/upload/init", "/upload/complete", "/upload/jobs"] {
            assert_allowed_preflight(&preflight(&s.api, path, origin).await, origin);
        }
    }
    for origin in [
        "http://evil.test",
        "https://localhost:5173",
        "http://localhost.evil.test:5173",
        "null",
    ] {
        let res = preflight(&s.api, "/upload/init", origin).await;
        assert_eq!(
            header(&res, "access-control-allow-origin"),
            None,
            "{origin}"
        );
    }

    // Real requests: the header on success and on errors, for allowed
    // origins only, with the exposed headers.
    let origin = "http://localhost:5173";
    let res = auth(client().get(format!("{}/upload/jobs", s.api)))
        .header("Origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(header(&res, "access-control-allow-origin"), Some(origin));
    assert_eq!(
        list(&res, "access-control-expose-headers"),
        ["x-trace-id", "retry-after", "idempotent-replayed"]
    );
    assert!(header(&res, "x-trace-id").is_some());
    let res = auth(client().get(format!("{}/upload/status/not-a-uuid", s.api)))
        .header("Origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(header(&res, "access-control-allow-origin"), Some(origin));
    for origin in [None, Some("http://evil.test")] {
        let mut r = auth(client().get(format!("{}/upload/jobs", s.api)));
        if let Some(o) = origin {
            r = r.header("Origin", o);
        }
        let res = r.send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            header(&res, "access-control-allow-origin"),
            None,
            "{origin:?}"
        );
    }
    s.stop();
}

#[tokio::test]
async fn allowed_origins_flag_allows_exactly_those() {
    let t = TestDb::new().await;
    let dir = temp_dir("cors-flag");
    let allowed = ["https://app.example.test", "http://dev.example.test:8080"];
    let s = StackProc::start_with_args(
        &dir,
        Some(&t.url),
        &[],
        &["--allowed-origins", &allowed.join(",")],
    );
    for origin in allowed {
        assert_allowed_preflight(&preflight(&s.api, "/upload/init", origin).await, origin);
    }
    for origin in ["http://localhost:5173", "https://app.example.test:8443"] {
        let res = preflight(&s.api, "/upload/init", origin).await;
        assert_eq!(
            header(&res, "access-control-allow-origin"),
            None,
            "{origin}"
        );
    }
    s.stop();
}

#[test]
fn a_bad_allowed_origins_flag_is_a_usage_error() {
    for bad in ["http://a.test/", "a.test", ""] {
        let out = Command::new(env!("CARGO_BIN_EXE_local-stack"))
            .args(["--allowed-origins", bad])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--allowed-origins"), "{bad:?}: {err}");
    }
}

/// The local configuration is template.yaml's `CorsConfiguration` of the
/// HTTP API (plus the development identity headers).
#[test]
fn local_cors_mirrors_the_http_api_in_template_yaml() {
    use local_stack::cors;
    use serde_yaml_ng::Value;

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let t: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let c = &t["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_sequence()
            .expect("a list")
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(strings(&c["AllowMethods"]), cors::ALLOW_METHODS);
    assert_eq!(strings(&c["AllowHeaders"]), cors::ALLOW_HEADERS);
    assert_eq!(strings(&c["ExposeHeaders"]), cors::EXPOSE_HEADERS);
    assert_eq!(c["MaxAge"].as_u64(), Some(cors::MAX_AGE_SECS));
}
