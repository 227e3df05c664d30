//! The router as a whole: real API Gateway v2 payloads through every route,
//! and problem+json for unknown routes and methods.

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
