//! `POST /upload/init`: overwrite protection signed into the URL on request,
//! U+0000 refused in every text the row stores (and round-tripping inside
//! the JSON ones).
#![allow(clippy::too_many_lines)] // tests read top to bottom

mod common;

use axum::http::{HeaderValue, StatusCode};
use common::*;
use serde_json::{Value, json};
use uuid::Uuid;

fn signed_headers(body: &Value) -> Vec<String> {
    let u = url::Url::parse(body["upload_url"].as_str().unwrap()).unwrap();
    let (_, v) = u
        .query_pairs()
        .find(|(k, _)| k == "X-Amz-SignedHeaders")
        .expect("X-Amz-SignedHeaders");
    v.split(';').map(str::to_owned).collect()
}

fn with_body(extra: Value) -> Value {
    let mut b = init_body();
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

#[tokio::test]
async fn overwrite_protection_signs_if_none_match_only_when_asked() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
    let init = |body: Value| req("POST", "/upload/init", Some(&tok), Some(body));

    for body in [
        init_body(),
        with_body(json!({"overwrite_protection": false})),
    ] {
        let (st, _, b) = app.call(init(body)).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        assert!(!signed_headers(&b).contains(&"if-none-match".to_owned()));
        assert!(b["upload_headers"].get("If-None-Match").is_none(), "{b}");
        assert!(!b["upload_url"].as_str().unwrap().contains("If-None-Match"));
    }

    let (st, _, b) = app
        .call(init(with_body(json!({"overwrite_protection": true}))))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let signed = signed_headers(&b);
    assert!(signed.contains(&"if-none-match".to_owned()), "{signed:?}");
    assert!(signed.contains(&"content-type".to_owned()), "{signed:?}");
    assert_eq!(b["upload_headers"]["If-None-Match"], "*");
    assert_eq!(b["upload_headers"]["Content-Type"], "audio/wav");
    assert_eq!(b["upload_headers"]["Content-Length"], "1234");
    assert_eq!(b["upload_headers"].as_object().unwrap().len(), 3);

    let e = expect_error(
        &app,
        init(with_body(json!({"overwrite_protection": "yes"}))),
        StatusCode::BAD_REQUEST,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(e["field"], "overwrite_protection");
}

#[tokio::test]
async fn nul_characters_are_refused_naming_the_field() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
    let init = |tok: &str, body: Value| req("POST", "/upload/init", Some(tok), Some(body));
    let claims = |extra: Value| {
        let mut c = json!({"iss": "eq-frontend", "aud": "eq-backend", "exp": now() + 600,
                           "tenant_id": TENANT, "user_id": "user-7"});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        token(c, JWT_SECRET)
    };
    let cases = [
        (
            tok.clone(),
            json!({"filename": "a\u{0}b.wav", "account_id": "acct-1"}),
            "filename",
        ),
        (
            tok.clone(),
            json!({"filename": "a.wav", "account_id": "acct\u{0}-1"}),
            "account_id",
        ),
        (
            claims(json!({"user_id": "u\u{0}7"})),
            init_body(),
            "user_id",
        ),
        (
            claims(json!({"pg_user_id": "pg\u{0}"})),
            init_body(),
            "pg_user_id",
        ),
        (
            claims(json!({"user_name": "\u{0}Zoë"})),
            init_body(),
            "user_name",
        ),
    ];
    for (tok, body, field) in cases {
        let b = expect_error(
            &app,
            init(&tok, body),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        )
        .await;
        assert_eq!(b["field"], field, "{b}");
        assert!(b["detail"].as_str().unwrap().contains("U+0000"), "{b}");
    }
    assert_eq!(app.rows().await, 0);
    // Headers (X-Account-ID, X-User-ID, X-Trace-Id) cannot carry a NUL at
    // all: HTTP refuses it before the API sees the request.
    assert!(HeaderValue::from_bytes(b"acct\0-1").is_err());
}

#[tokio::test]
async fn nul_inside_metadata_and_participants_round_trips() {
    let app = TestApp::new().await;
    let metadata = json!({"note\u{0}": "a\u{0}b", "nested": {"x": ["\u{0}"]}});
    let participants = json!([{"email": "a@b", "display_name": "Zo\u{0}ë"}]);
    let body = with_body(json!({"metadata": metadata, "participants": participants}));
    let (st, _, b) = app
        .call(req(
            "POST",
            "/upload/init",
            Some(&good_token(TENANT)),
            Some(body),
        ))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let id = Uuid::parse_str(b["job_id"].as_str().unwrap()).unwrap();
    let row = app
        .t
        .client()
        .await
        .query_one(
            "SELECT metadata_json, participants_json FROM upload_jobs WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    let (meta, people): (String, String) = (row.get(0), row.get(1));
    assert!(!meta.contains('\0') && !people.contains('\0'));
    assert_eq!(serde_json::from_str::<Value>(&meta).unwrap(), metadata);
    assert_eq!(
        people,
        r#"[{"email": "a@b", "display_name": "Zo\u0000\u00eb"}]"#
    );
    assert_eq!(
        serde_json::from_str::<Value>(&people).unwrap(),
        participants
    );
}
