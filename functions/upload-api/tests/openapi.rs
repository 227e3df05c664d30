//! `openapi.yaml` (repository root) is generated from the code: the
//! handlers' `#[utoipa::path]` attributes and the request and response
//! types. This test fails when the committed file differs; regenerate it with
//!
//! ```text
//! UPDATE_OPENAPI=1 cargo test -p upload-api --test openapi
//! ```

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use axum::http::StatusCode;
use common::*;
use serde_json::Value;
use upload_core::Db;
use upload_testkit::MemoryObjects;

const HEADER: &str = "\
# Generated from the code (functions/upload-api): edit the handlers'
# #[utoipa::path] attributes and the request and response types, then run
#   UPDATE_OPENAPI=1 cargo test -p upload-api --test openapi
";

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi.yaml")
}

fn rendered() -> String {
    let yaml = serde_yaml_ng::to_string(&upload_api::openapi()).expect("the document renders");
    format!("{HEADER}{yaml}")
}

/// The document as JSON (what openapi.yaml holds, checked above).
fn generated() -> Value {
    serde_json::to_value(upload_api::openapi()).expect("the document serializes")
}

#[test]
fn openapi_yaml_is_the_document_the_code_generates() {
    let want = rendered();
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(committed_path(), &want).expect("openapi.yaml written");
        return;
    }
    let have = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        have == want,
        "openapi.yaml differs from the document the code generates; regenerate it with\n  \
         UPDATE_OPENAPI=1 cargo test -p upload-api --test openapi\nand commit it."
    );
    let parsed: Value = serde_yaml_ng::from_str(&have).expect("openapi.yaml parses");
    assert_eq!(parsed, generated());
}

/// The documented (method, path) pairs.
fn documented(doc: &Value) -> Vec<(String, String)> {
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().unwrap().keys() {
            let m = method.to_ascii_uppercase();
            if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()) {
                routes.push((m, path.clone()));
            }
        }
    }
    routes.sort();
    routes
}

#[tokio::test]
async fn openapi_lists_exactly_the_router_routes() {
    let doc = generated();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let documented = documented(&doc);
    let mut want: Vec<(String, String)> = [
        ("POST", "/upload/init"),
        ("GET", "/upload/status/{job_id}"),
        ("GET", "/upload/jobs"),
        ("POST", "/upload/complete"),
        ("POST", "/upload/sign"),
    ]
    .iter()
    .map(|(m, p)| (m.to_string(), p.to_string()))
    .collect();
    want.sort();
    assert_eq!(documented, want);
    // Each is routed: unauthenticated, it gets past routing to the caller
    // check (an unrouted one would be 404 NOT_FOUND or 405).
    let url = "postgres://postgres@127.0.0.1:1/never-connected";
    let config = config(url, &[("ALLOW_LEGACY_HEADER_AUTH", "false")]);
    let db = Db::new(config.db_settings("openapi-test"));
    let state = state_for(config, db, Arc::new(MemoryObjects::default()));
    for (method, path) in &documented {
        let path = path.replace("{job_id}", "5b0e9f3a-2c1d-4e6f-8a7b-9c0d1e2f3a4b");
        let (st, _, body) = call(&state, req(method, &path, None, None)).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{method} {path}: {body}");
    }
    // Every problem code the API can answer is in the document's enum.
    let codes = &doc["components"]["schemas"]["Code"]["enum"];
    for c in [
        "VALIDATION_FAILED",
        "UNSUPPORTED_MEDIA_TYPE",
        "FILE_TOO_LARGE",
        "UNAUTHORIZED",
        "FORBIDDEN",
        "NOT_FOUND",
        "METHOD_NOT_ALLOWED",
        "CONFLICT",
        "PAYLOAD_TOO_LARGE",
        "SERVICE_UNAVAILABLE",
        "INTERNAL",
    ] {
        assert!(
            codes
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v.as_str() == Some(c)),
            "{c}"
        );
    }
}

/// Every `$ref` in `v`.
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves_and_every_error_is_problem_json() {
    let doc = generated();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "unresolved $ref {r}");
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for (status, response) in op["responses"].as_object().unwrap() {
                if status.starts_with('2') {
                    continue;
                }
                let name = response["$ref"].as_str().unwrap_or_default();
                let resolved = doc.pointer(name.trim_start_matches('#'));
                let content = resolved.map(|r| &r["content"]);
                assert!(
                    content.is_some_and(|c| c.get("application/problem+json").is_some()),
                    "{method} {path} {status}"
                );
            }
        }
    }
}
