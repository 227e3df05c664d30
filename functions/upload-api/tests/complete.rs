//! `POST /upload/complete`: prefix and object checks, then the job advances.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

#[tokio::test]
#[allow(clippy::too_many_lines)]
async fn complete_checks_prefix_and_object_then_advances_idempotently() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
    let (_, _, init) = app
        .call(req("POST", "/upload/init", Some(&tok), Some(init_body())))
        .await;
    let key = init["file_key"].as_str().unwrap().to_owned();

    let foreign = format!(
        "tenant/0b9a7c2e-0000-4000-8000-000000000001/uploads/{}/a.wav",
        uuid::Uuid::new_v4()
    );
    expect_error(
        &app,
        req(
            "POST",
            "/upload/complete",
            Some(&tok),
            Some(json!({"file_key": foreign})),
        ),
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    )
    .await;
    expect_error(
        &app,
        req("POST", "/upload/complete", Some(&tok), Some(json!({}))),
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    // Not uploaded yet.
    expect_error(
        &app,
        req(
            "POST",
            "/upload/complete",
            Some(&tok),
            Some(json!({"file_key": key})),
        ),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;

    app.objects.put(&key, 1234);
    for _ in 0..2 {
        let (st, _, body) = app
            .call(req(
                "POST",
                "/upload/complete",
                Some(&tok),
                Some(json!({"file_key": key})),
            ))
            .await;
        assert_eq!(st, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "processing");
        assert_eq!(body["job_id"], init["job_id"]);
        assert_eq!(body["interaction_id"], init["interaction_id"]);
    }
    // An object of the wrong size fails the job, and complete says so.
    let (_, _, init2) = app
        .call(req("POST", "/upload/init", Some(&tok), Some(init_body())))
        .await;
    let key2 = init2["file_key"].as_str().unwrap();
    app.objects.put(key2, 5);
    let (st, _, body) = app
        .call(req(
            "POST",
            "/upload/complete",
            Some(&tok),
            Some(json!({"file_key": key2})),
        ))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body["status"], "failed");
    // Storage outage: 503, not 500.
    app.objects.set_failing(true);
    let (st, h, _) = app
        .call(req(
            "POST",
            "/upload/complete",
            Some(&tok),
            Some(json!({"file_key": key})),
        ))
        .await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert!(h.get("retry-after").is_some());
}
