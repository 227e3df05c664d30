//! Real API Gateway v2 payloads through the router, and openapi.yaml vs the router.

mod common;

use std::path::PathBuf;

use axum::http::StatusCode;
use common::*;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use upload_shared::repo::{self, NewJob};
use upload_shared::{FileKey, JobId, JobType, SafeFileName, TenantId};

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

#[test]
fn openapi_lists_exactly_the_router_routes() {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi.yaml");
    let doc: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(p).unwrap()).expect("openapi.yaml parses");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_mapping().expect("paths") {
        for (method, _) in item.as_mapping().unwrap() {
            let m = method.as_str().unwrap().to_ascii_uppercase();
            if ["GET", "POST", "PUT", "PATCH", "DELETE"].contains(&m.as_str()) {
                documented.push((m, path.as_str().unwrap().to_owned()));
            }
        }
    }
    let mut routed: Vec<(String, String)> = upload_api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    documented.sort();
    routed.sort();
    assert_eq!(documented, routed);
    // Every problem code the API can answer is in the document's enum.
    let codes = &doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"];
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
                .as_sequence()
                .unwrap()
                .iter()
                .any(|v| v.as_str() == Some(c)),
            "{c}"
        );
    }
}
