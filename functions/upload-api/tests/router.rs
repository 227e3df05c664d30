//! The router as a whole: real API Gateway v2 payloads through every route,
//! and problem+json for unknown routes and methods and whatever the
//! framework would refuse before a handler runs.

mod common;

use std::path::PathBuf;

use axum::http::StatusCode;
use common::*;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use upload_core::repo::{self, NewJob};
use upload_core::{FileKey, JobId, JobType, SafeFileName, TenantId};

fn fixture(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

async fn invoke(app: &TestApp, name: &str) -> (StatusCode, Value) {
    let req =
        lambda_http::request::from_str(&fixture(name)).expect("a valid API Gateway v2 payload");
    let res = upload_api::router(app.state.clone())
        .oneshot(req)
        .await
        .unwrap();
    let st = res.status();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (st, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
#[allow(clippy::too_many_lines)]
async fn api_gateway_v2_payloads_drive_every_route() {
    // Authorizer-claims identity: the gateway's own bearer token fails the
    // internal JWT check, and the claims in the request context are used.
    let app = TestApp::with(&[
        ("ALLOW_LEGACY_HEADER_AUTH", "false"),
        ("MAX_UPLOAD_BYTES", "524288000"),
    ])
    .await;
    let tenant = TenantId::parse(TENANT).unwrap();

    // Base64-encoded body, Idempotency-Key, authorizer claims.
    let (st, init) = invoke(&app, "apigw-init.json").await;
    assert_eq!(st, StatusCode::CREATED, "{init}");
    assert_eq!(init["signed_content_type"], "audio/mp4");
    assert!(
        init["file_key"]
            .as_str()
            .unwrap()
            .ends_with("/Réunion équipe+notes (1).wav")
    );
    let (st, again) = invoke(&app, "apigw-init.json").await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(again["job_id"], init["job_id"]);
    let job = repo::get_job(
        &app.t.db,
        tenant,
        JobId::parse(init["job_id"].as_str().unwrap()).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(job.user_id, "user-42");
    assert_eq!(
        job.trace_id.as_deref(),
        Some("7d0c6f1e-8b9a-4c3d-9e2f-1a2b3c4d5e6f")
    );

    // The status and complete fixtures name a fixed job.
    let id = JobId::parse("5b0e9f3a-2c1d-4e6f-8a7b-9c0d1e2f3a4b").unwrap();
    let key = FileKey::build(tenant, id, SafeFileName::new("interview.wav"));
    repo::create_queued_job(
        &app.t.db,
        &NewJob {
            id,
            tenant_id: tenant,
            user_id: "user-42".into(),
            job_type: JobType::AudioTranscription,
            file_key: key.clone(),
            file_name: "interview.wav".into(),
            mime_type: "audio/wav".into(),
            file_size: None,
            interaction_id: uuid::Uuid::new_v4(),
            trace_id: None,
            account_id: Some("acct-001".into()),
            metadata_json: None,
        },
    )
    .await
    .unwrap();
    let (st, status) = invoke(&app, "apigw-status.json").await;
    assert_eq!(st, StatusCode::OK, "{status}");
    assert_eq!(status["job_id"], id.to_string());
    assert_eq!(status["status"], "queued");

    let (st, list) = invoke(&app, "apigw-jobs.json").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list["jobs"].as_array().unwrap().len(), 2);

    let (st, body) = invoke(&app, "apigw-complete.json").await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    app.objects.put(key.as_str(), 1000);
    let (st, body) = invoke(&app, "apigw-complete.json").await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "processing");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_problems() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
    expect_error(
        &app,
        req("GET", "/upload/nowhere", Some(&tok), None),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    expect_error(
        &app,
        req("DELETE", "/upload/init", Some(&tok), None),
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;
}

/// The problem code each status of these tests carries.
fn code_of(status: u16) -> &'static str {
    match status {
        404 => "NOT_FOUND",
        405 => "METHOD_NOT_ALLOWED",
        413 => "PAYLOAD_TOO_LARGE",
        _ => "VALIDATION_FAILED",
    }
}

/// What the framework would refuse before a handler runs (bad path or query
/// encoding, a repeated or mistyped query parameter, an unknown route or
/// method) is problem+json naming the parameter where there is one.
#[tokio::test]
async fn framework_rejections_are_problems_naming_the_field() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
    let cases: [(&str, &str, u16, Option<&str>); 10] = [
        ("GET", "/upload/jobs?limit=1&limit=2", 400, Some("limit")),
        (
            "GET",
            "/upload/jobs?status=queued&cursor=a&cursor=",
            400,
            Some("cursor"),
        ),
        ("GET", "/upload/jobs?status=%FF", 400, Some("status")),
        ("GET", "/upload/jobs?limit=ten", 400, Some("limit")),
        ("GET", "/upload/jobs?li%6Dit=1&limit=2", 400, Some("limit")),
        ("GET", "/upload/status/%FF", 400, Some("job_id")),
        ("GET", "/upload/status/%C3%28", 400, Some("job_id")),
        ("GET", "/upload/nowhere/%FF", 404, None),
        ("PUT", "/upload/jobs", 405, None),
        ("OPTIONS", "/upload/init", 405, None),
    ];
    for (method, path, status, field) in cases {
        let status = StatusCode::from_u16(status).unwrap();
        let r = req(method, path, Some(&tok), None);
        let got = expect_error(&app, r, status, code_of(status.as_u16())).await;
        assert_eq!(got["field"].as_str(), field, "{method} {path}: {got}");
    }
}

/// A body that is not JSON, whatever its Content-Type says, a value of the
/// wrong type, and a body over 64 KiB are problem+json too.
#[tokio::test]
async fn bad_bodies_are_problems_naming_the_field() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
    let long = format!(r#"{{"filename": "{}"}}"#, "a".repeat(70_000));
    let cases: [(&str, &str, String, u16, Option<&str>); 6] = [
        (
            "/upload/init",
            "text/plain",
            "filename=a.wav".into(),
            400,
            Some("body"),
        ),
        (
            "/upload/init",
            "application/x-www-form-urlencoded",
            "filename=a".into(),
            400,
            Some("body"),
        ),
        (
            "/upload/init",
            "application/json",
            r#"{"filename": "#.into(),
            400,
            Some("body"),
        ),
        (
            "/upload/init",
            "application/json",
            r#"{"file_size": 1.5}"#.into(),
            400,
            Some("file_size"),
        ),
        (
            "/upload/complete",
            "application/json",
            r#"{"file_key": 5}"#.into(),
            400,
            Some("file_key"),
        ),
        ("/upload/init", "application/json", long, 413, None),
    ];
    for (path, content_type, body, status, field) in cases {
        let r = axum::http::Request::builder()
            .method("POST")
            .uri(path)
            .header("authorization", format!("Bearer {tok}"))
            .header("content-type", content_type)
            .body(axum::body::Body::from(body))
            .unwrap();
        let status = StatusCode::from_u16(status).unwrap();
        let got = expect_error(&app, r, status, code_of(status.as_u16())).await;
        assert_eq!(got["field"].as_str(), field, "{path} {content_type}: {got}");
    }
}

/// JSON has one number type and the document says `integer`: `1234.0` is a
/// file size of 1234 bytes, as `1234` is (the fuzzer sends both).
#[tokio::test]
async fn a_whole_file_size_written_with_a_fraction_is_accepted() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
    for size in ["1234", "1234.0", "1.234e3"] {
        let mut body = init_body();
        body["file_size"] = serde_json::from_str(size).unwrap();
        let (st, _, res) = app
            .call(req("POST", "/upload/init", Some(&tok), Some(body)))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{size}: {res}");
        assert_eq!(res["upload_headers"]["Content-Length"], "1234", "{size}");
    }
}
