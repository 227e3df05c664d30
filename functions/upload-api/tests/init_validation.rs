//! `POST /upload/init`: every way a request can be refused, each answered
//! clearly, none writing anything.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::{Value, json};

#[tokio::test]
#[allow(clippy::too_many_lines)]
async fn init_refusals_answer_clearly_and_write_nothing() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
    let init = |auth: Option<&str>, body: Value| req("POST", "/upload/init", auth, Some(body));
    expect_error(
        &app,
        init(
            Some(&tok),
            json!({"filename": "a.mp4", "mime_type": "video/mp4", "account_id": "a"}),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    expect_error(
        &app,
        init(
            Some(&tok),
            json!({"filename": "a.txt", "mime_type": "text/plain", "account_id": "a"}),
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "UNSUPPORTED_MEDIA_TYPE",
    )
    .await;
    let b = expect_error(
        &app,
        init(
            Some(&tok),
            json!({"filename": "a.wav", "file_size": 1_000_001, "account_id": "a"}),
        ),
        StatusCode::PAYLOAD_TOO_LARGE,
        "FILE_TOO_LARGE",
    )
    .await;
    assert_eq!(b["field"], "file_size");
    let bad_json = Request::builder()
        .method("POST")
        .uri("/upload/init")
        .header("authorization", format!("Bearer {tok}"))
        .body(Body::from("{\"filename\": "))
        .unwrap();
    expect_error(&app, bad_json, StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
    let b = expect_error(
        &app,
        init(
            Some(&tok),
            json!({"filename": "a.wav", "file_size": "big", "account_id": "a"}),
        ),
        StatusCode::BAD_REQUEST,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(b["field"], "file_size");
    assert!(b["detail"].as_str().unwrap().starts_with("file_size"));
    let b = expect_error(
        &app,
        init(Some(&tok), json!({"filename": 7, "account_id": "a"})),
        StatusCode::BAD_REQUEST,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(b["field"], "filename");
    let b = expect_error(
        &app,
        init(Some(&tok), json!({"account_id": "a"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(b["field"], "filename");
    expect_error(
        &app,
        init(
            Some(&tok),
            json!({"filename": "x".repeat(256), "account_id": "a"}),
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    let b = expect_error(
        &app,
        init(
            Some(&tok),
            json!({"filename": "a.wav", "account_id": "a", "job_type": "video_editing"}),
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(b["field"], "job_type");
    let big = json!({"filename": "a.wav", "account_id": "a", "metadata": {"notes": "x".repeat(17 * 1024)}});
    let b = expect_error(
        &app,
        init(Some(&tok), big),
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(b["field"], "metadata");
    expect_error(
        &app,
        init(
            Some(&tok),
            json!({"filename": "a.wav", "account_id": "a", "metadata": [1]}),
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    expect_error(
        &app,
        init(
            Some(&tok),
            json!({"filename": "a.wav", "account_id": "a", "interaction_id": "nope"}),
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    expect_error(
        &app,
        init(
            Some(&tok),
            json!({"filename": "a.wav", "account_id": "a", "checksum_sha256": "abc"}),
        ),
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    let b = expect_error(
        &app,
        init(Some(&tok), json!({"filename": "a.wav"})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(b["field"], "account_id");
    let mismatch = Request::builder()
        .method("POST")
        .uri("/upload/init")
        .header("authorization", format!("Bearer {tok}"))
        .header("x-account-id", "acct-OTHER")
        .body(Body::from(init_body().to_string()))
        .unwrap();
    let b = expect_error(&app, mismatch, StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
    assert_eq!(b["field"], "account_id");
    let huge = Request::builder()
        .method("POST")
        .uri("/upload/init")
        .header("authorization", format!("Bearer {tok}"))
        .body(Body::from(format!(
            "{{\"filename\": \"{}\"}}",
            "a".repeat(70 * 1024)
        )))
        .unwrap();
    expect_error(
        &app,
        huge,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await;
    let bad_trace = Request::builder()
        .method("POST")
        .uri("/upload/init")
        .header("authorization", format!("Bearer {tok}"))
        .header("x-trace-id", "not-a-uuid")
        .body(Body::from(init_body().to_string()))
        .unwrap();
    expect_error(
        &app,
        bad_trace,
        StatusCode::BAD_REQUEST,
        "VALIDATION_FAILED",
    )
    .await;
    let bad_key = Request::builder()
        .method("POST")
        .uri("/upload/init")
        .header("authorization", format!("Bearer {tok}"))
        .header("idempotency-key", "tab\there")
        .body(Body::from(init_body().to_string()))
        .unwrap();
    expect_error(&app, bad_key, StatusCode::BAD_REQUEST, "VALIDATION_FAILED").await;
}
