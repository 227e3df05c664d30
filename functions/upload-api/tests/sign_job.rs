//! `POST /upload/sign` and what the job's own row decides: a job with a
//! checksum can only be a single PUT; every signature moves the job's
//! upload window.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

async fn queued_job(app: &TestApp, tok: &str, body: Value) -> String {
    let (st, _, init) = app
        .call(req("POST", "/upload/init", Some(tok), Some(body)))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{init}");
    init["job_id"].as_str().unwrap().to_owned()
}

async fn sign(app: &TestApp, tok: &str, body: Value) -> (StatusCode, Value) {
    let (st, _, v) = app
        .call(req("POST", "/upload/sign", Some(tok), Some(body)))
        .await;
    (st, v)
}

#[tokio::test]
async fn a_job_with_a_checksum_can_only_be_signed_a_single_put() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
    let sum = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";
    let mut body = init_body();
    body["checksum_sha256"] = json!(sum);
    let job = queued_job(&app, &tok, body).await;
    let v = expect_error(
        &app,
        req(
            "POST",
            "/upload/sign",
            Some(&tok),
            Some(json!({"job_id": job, "method": "POST"})),
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(v["field"], "method");
    let (st, v) = sign(&app, &tok, json!({"job_id": job, "method": "PUT"})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["headers"]["x-amz-checksum-sha256"], sum, "{v}");
}

#[tokio::test]
async fn signing_moves_the_upload_window_to_the_new_urls_expiry() {
    let app = TestApp::with(&[("UPLOAD_URL_TTL_SECONDS", "60")]).await;
    let tok = good_token(TENANT);
    let job = queued_job(&app, &tok, init_body()).await;
    let c = app.t.client().await;
    // As if init had been a while ago.
    c.execute(
        "UPDATE upload_jobs SET upload_expires_at = now() - interval '1 hour'",
        &[],
    )
    .await
    .unwrap();
    let (st, v) = sign(
        &app,
        &tok,
        json!({"job_id": job, "method": "PUT", "upload_id": "u", "part_number": 1}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let expires = chrono::DateTime::parse_from_rfc3339(v["expires_at"].as_str().unwrap()).unwrap();
    let row = c
        .query_one(
            "SELECT upload_expires_at, updated_at = created_at FROM upload_jobs",
            &[],
        )
        .await
        .unwrap();
    let stored: chrono::DateTime<chrono::Utc> = row.get(0);
    assert_eq!(stored.timestamp(), expires.timestamp());
    // The reaper's "never claimed" marker is untouched.
    assert!(row.get::<_, bool>(1));
}
