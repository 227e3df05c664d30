//! Who is calling: the internal JWT, and the dev-only legacy headers.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::{Value, json};

#[tokio::test]
#[allow(clippy::too_many_lines)]
async fn identity_errors_answer_clearly_and_write_nothing() {
    let app = TestApp::new().await;
    let init = |auth: Option<&str>, body: Value| req("POST", "/upload/init", auth, Some(body));
    let claims = |over: Value| {
        let mut c = json!({"iss": "eq-frontend", "aud": "eq-backend", "exp": now() + 600, "tenant_id": TENANT, "user_id": "u"});
        for (k, v) in over.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    // Identity
    expect_error(
        &app,
        init(None, init_body()),
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
    let expired = token(claims(json!({"exp": now() - 120})), JWT_SECRET);
    let b = expect_error(
        &app,
        init(Some(&expired), init_body()),
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
    assert!(b["detail"].as_str().unwrap().contains("expired"));
    let wrong_aud = token(claims(json!({"aud": "someone-else"})), JWT_SECRET);
    let b = expect_error(
        &app,
        init(Some(&wrong_aud), init_body()),
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
    assert!(b["detail"].as_str().unwrap().contains("audience"));
    let wrong_iss = token(claims(json!({"iss": "mallory"})), JWT_SECRET);
    expect_error(
        &app,
        init(Some(&wrong_iss), init_body()),
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
    let wrong_sig = token(claims(json!({})), "another-secret-that-is-long-enough-000");
    let b = expect_error(
        &app,
        init(Some(&wrong_sig), init_body()),
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
    assert!(b["detail"].as_str().unwrap().contains("signature"));
    let no_tenant = token(
        json!({"iss": "eq-frontend", "aud": "eq-backend", "exp": now() + 60, "user_id": "u"}),
        JWT_SECRET,
    );
    expect_error(
        &app,
        init(Some(&no_tenant), init_body()),
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
    expect_error(
        &app,
        init(Some("not.a.jwt"), init_body()),
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
    // Within the 30 s leeway an expired token still works.
    let just_expired = token(claims(json!({"exp": now() - 10})), JWT_SECRET);
    let (st, _, _) = app.call(init(Some(&just_expired), init_body())).await;
    assert_eq!(st, StatusCode::CREATED);
    expect_error(
        &app,
        req("GET", "/upload/jobs", None, None),
        StatusCode::UNAUTHORIZED,
        "UNAUTHORIZED",
    )
    .await;
}

#[tokio::test]
async fn header_auth_only_when_enabled() {
    let app = TestApp::with(&[("ALLOW_LEGACY_HEADER_AUTH", "false")]).await;
    let r = Request::builder()
        .method("POST")
        .uri("/upload/init")
        .header("x-tenant-id", TENANT)
        .header("x-user-id", "u1")
        .body(Body::from(init_body().to_string()))
        .unwrap();
    let b = expect_error(&app, r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
    assert!(b["detail"].as_str().unwrap().contains("disabled"));

    let on = TestApp::new().await;
    let r = Request::builder()
        .method("POST")
        .uri("/upload/init")
        .header("x-tenant-id", TENANT)
        .header("x-user-id", "u1")
        .body(Body::from(init_body().to_string()))
        .unwrap();
    let (st, _, body) = on.call(r).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let r = Request::builder()
        .method("POST")
        .uri("/upload/init")
        .header("x-tenant-id", "nope")
        .header("x-user-id", "u1")
        .body(Body::from(init_body().to_string()))
        .unwrap();
    expect_error(&on, r, StatusCode::UNAUTHORIZED, "UNAUTHORIZED").await;
}
