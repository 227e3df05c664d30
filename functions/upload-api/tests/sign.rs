//! `POST /upload/sign`: every request it signs, and every one it refuses
//! (status, code, field, nothing signed). That the URLs work against an
//! S3-compatible server is local/tests/multipart.rs's business.
#![allow(clippy::too_many_lines)]

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};

const OTHER_TENANT: &str = "0b9a7c2e-0000-4000-8000-000000000001";

async fn queued_job(app: &TestApp, tok: &str, body: Value) -> (String, String) {
    let (st, _, init) = app
        .call(req("POST", "/upload/init", Some(tok), Some(body)))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{init}");
    (
        init["job_id"].as_str().unwrap().to_owned(),
        init["file_key"].as_str().unwrap().to_owned(),
    )
}

async fn sign(app: &TestApp, tok: &str, body: Value) -> (StatusCode, Value) {
    let (st, _, v) = app
        .call(req("POST", "/upload/sign", Some(tok), Some(body)))
        .await;
    (st, v)
}

/// The query parameters of a signed URL, and its path.
fn parts(url: &str) -> (String, Vec<(String, String)>) {
    let u = url::Url::parse(url).expect("a URL");
    let q = u
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (u.path().to_owned(), q)
}

fn has(q: &[(String, String)], k: &str) -> Option<String> {
    q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

/// 24 MiB: five parts of 5 MiB at most.
const BIG: u64 = 24 * 1024 * 1024;

fn big_app_config() -> [(&'static str, &'static str); 1] {
    [("MAX_UPLOAD_BYTES", "104857600")]
}

fn big_body() -> Value {
    let mut b = init_body();
    b["file_size"] = json!(BIG);
    b
}

#[tokio::test]
async fn each_allowed_request_is_signed_for_the_jobs_own_key() {
    let app = TestApp::with(&big_app_config()).await;
    let tok = good_token(TENANT);
    let (job, key) = queued_job(&app, &tok, big_body()).await;
    let path = format!("/{BUCKET}/{}", key);
    let cases = [
        (json!({"method": "POST"}), "POST", vec!["uploads"], vec![]),
        (
            json!({"method": "PUT", "upload_id": "u-1", "part_number": 3}),
            "PUT",
            vec!["uploadId", "partNumber"],
            vec!["uploads"],
        ),
        (
            json!({"method": "GET", "upload_id": "u-1"}),
            "GET",
            vec!["uploadId"],
            vec!["partNumber"],
        ),
        (
            json!({"method": "POST", "upload_id": "u-1"}),
            "POST",
            vec!["uploadId"],
            vec!["uploads"],
        ),
        (
            json!({"method": "DELETE", "upload_id": "u-1"}),
            "DELETE",
            vec!["uploadId"],
            vec![],
        ),
        (
            json!({"method": "PUT"}),
            "PUT",
            vec![],
            vec!["uploadId", "partNumber", "uploads"],
        ),
    ];
    for (mut body, method, present, absent) in cases {
        body["job_id"] = json!(job);
        let (st, v) = sign(&app, &tok, body.clone()).await;
        assert_eq!(st, StatusCode::OK, "{body}: {v}");
        assert_eq!(v["method"], method, "{body}");
        let (p, q) = parts(v["url"].as_str().unwrap());
        // The SDK percent-encodes the key; decoded, it is the job's key.
        let decoded = percent_encoding::percent_decode_str(&p)
            .decode_utf8()
            .unwrap();
        assert_eq!(decoded, path, "{body}");
        for k in present {
            assert!(has(&q, k).is_some(), "{body}: {k} missing from {q:?}");
        }
        for k in absent {
            assert!(has(&q, k).is_none(), "{body}: {k} in {q:?}");
        }
        if let Some(id) = has(&q, "uploadId") {
            assert_eq!(id, "u-1");
        }
        if let Some(n) = has(&q, "partNumber") {
            assert_eq!(n, "3");
        }
        assert!(has(&q, "X-Amz-Signature").is_some());
        assert_eq!(has(&q, "X-Amz-Expires").as_deref(), Some("300"), "{body}");
        let expires =
            chrono::DateTime::parse_from_rfc3339(v["expires_at"].as_str().unwrap()).unwrap();
        let left = expires.timestamp() - chrono::Utc::now().timestamp();
        assert!((295..=301).contains(&left), "{left}");
        let h = v["headers"].as_object().unwrap();
        let signed = has(&q, "X-Amz-SignedHeaders").unwrap();
        for name in h.keys() {
            assert!(
                signed.contains(&name.to_ascii_lowercase()),
                "{name} not signed: {signed}"
            );
        }
        match (
            method,
            has(&q, "uploadId").is_some(),
            has(&q, "uploads").is_some(),
        ) {
            // Create: the job's (normalised) type, as at init.
            ("POST", false, true) => assert_eq!(h["Content-Type"], "audio/wav"),
            // Complete: S3 refuses to complete over an existing object.
            // and one of another size than declared.
            ("POST", true, _) => {
                assert_eq!(h["If-None-Match"], "*");
                assert_eq!(h["x-amz-mp-object-size"], BIG.to_string());
            }
            // A fresh single PUT: what init signs, overwrite protection on.
            ("PUT", false, _) => {
                assert_eq!(h["Content-Type"], "audio/wav");
                assert_eq!(h["Content-Length"], BIG.to_string());
                assert_eq!(h["If-None-Match"], "*");
            }
            _ => assert!(!h.contains_key("If-None-Match"), "{body}: {h:?}"),
        }
    }
}

#[tokio::test]
async fn malformed_requests_are_refused_with_the_field_named_and_nothing_signed() {
    let app = TestApp::with(&big_app_config()).await;
    let tok = good_token(TENANT);
    let (job, _) = queued_job(&app, &tok, big_body()).await;
    let mut undeclared = big_body();
    undeclared["file_size"] = Value::Null;
    let (sizeless, _) = queued_job(&app, &tok, undeclared).await;
    let cases = [
        (json!({"method": "POST"}), 422, "job_id"),
        (json!({"job_id": "nope", "method": "POST"}), 422, "job_id"),
        (json!({"job_id": job}), 422, "method"),
        (
            json!({"job_id": job, "method": "HEAD", "upload_id": "u"}),
            422,
            "method",
        ),
        (json!({"job_id": job, "method": "PATCH"}), 422, "method"),
        (
            json!({"job_id": job, "method": "PUT", "upload_id": "u"}),
            422,
            "part_number",
        ),
        (
            json!({"job_id": job, "method": "PUT", "part_number": 1}),
            422,
            "upload_id",
        ),
        (
            json!({"job_id": job, "method": "PUT", "upload_id": "u", "part_number": 0}),
            422,
            "part_number",
        ),
        (
            json!({"job_id": job, "method": "PUT", "upload_id": "u", "part_number": 10001}),
            422,
            "part_number",
        ),
        (
            json!({"job_id": job, "method": "POST", "part_number": 1}),
            422,
            "part_number",
        ),
        (
            json!({"job_id": job, "method": "GET", "upload_id": "u", "part_number": 2}),
            422,
            "part_number",
        ),
        (json!({"job_id": job, "method": "GET"}), 422, "upload_id"),
        (json!({"job_id": job, "method": "DELETE"}), 422, "upload_id"),
        (
            json!({"job_id": job, "method": "GET", "upload_id": ""}),
            422,
            "upload_id",
        ),
        (
            json!({"job_id": job, "method": "GET", "upload_id": "a b"}),
            422,
            "upload_id",
        ),
        (
            json!({"job_id": job, "method": "PUT", "upload_id": "u", "part_number": "1"}),
            400,
            "part_number",
        ),
        (
            json!({"job_id": job, "method": "PUT", "upload_id": "u", "part_number": 1.5}),
            400,
            "part_number",
        ),
        (json!({"job_id": 7, "method": "PUT"}), 400, "job_id"),
        (json!({"job_id": job, "method": ["PUT"]}), 400, "method"),
        // Uppy's own field names would otherwise sign another request.
        (
            json!({"job_id": job, "method": "POST", "uploadId": "u"}),
            400,
            "uploadId",
        ),
        (
            json!({"job_id": job, "method": "PUT", "upload_id": "u", "partNumber": 3}),
            400,
            "partNumber",
        ),
        // Every part but the last is 5 MiB or more: 24 MiB has at most 5.
        (
            json!({"job_id": job, "method": "PUT", "upload_id": "u", "part_number": 6}),
            422,
            "part_number",
        ),
        // A multipart upload needs the declared size (S3 checks it on Complete).
        (json!({"job_id": sizeless, "method": "POST"}), 422, "method"),
    ];
    for (body, status, field) in cases {
        let status = StatusCode::from_u16(status).unwrap();
        let v = expect_error(
            &app,
            req("POST", "/upload/sign", Some(&tok), Some(body.clone())),
            status,
            "VALIDATION_FAILED",
        )
        .await;
        assert_eq!(v["field"], field, "{body}: {v}");
        assert!(v.get("url").is_none());
    }
    // Not JSON at all, and no identity.
    let (st, _, v) = app
        .call(req(
            "POST",
            "/upload/sign",
            None,
            Some(json!({"job_id": job, "method": "PUT"})),
        ))
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
}

#[tokio::test]
async fn another_tenants_job_is_the_same_404_as_an_unknown_one() {
    let app = TestApp::new().await;
    let (job, _) = queued_job(&app, &good_token(OTHER_TENANT), init_body()).await;
    let c = app.t.client().await;
    c.execute(
        "UPDATE upload_jobs SET upload_expires_at = now() - interval '1 hour'",
        &[],
    )
    .await
    .unwrap();
    let tok = good_token(TENANT);
    let theirs = expect_error(
        &app,
        req(
            "POST",
            "/upload/sign",
            Some(&tok),
            Some(json!({"job_id": job, "method": "POST"})),
        ),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    let unknown = expect_error(
        &app,
        req(
            "POST",
            "/upload/sign",
            Some(&tok),
            Some(json!({"job_id": uuid::Uuid::new_v4(), "method": "POST"})),
        ),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    assert_eq!(theirs, unknown);
    // Their job's window did not move.
    let moved: bool = c
        .query_one("SELECT upload_expires_at > now() FROM upload_jobs", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!moved);
}

#[tokio::test]
async fn a_job_past_queued_is_409_and_nothing_is_signed() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
    let (job, key) = queued_job(&app, &tok, init_body()).await;
    app.objects.put(&key, 1234);
    let (st, _, v) = app
        .call(req(
            "POST",
            "/upload/complete",
            Some(&tok),
            Some(json!({"file_key": key})),
        ))
        .await;
    assert_eq!(
        (st, v["status"].as_str()),
        (StatusCode::OK, Some("processing")),
        "{v}"
    );
    for body in [
        json!({"job_id": job, "method": "POST"}),
        json!({"job_id": job, "method": "PUT"}),
        json!({"job_id": job, "method": "PUT", "upload_id": "u", "part_number": 1}),
        json!({"job_id": job, "method": "DELETE", "upload_id": "u"}),
    ] {
        let v = expect_error(
            &app,
            req("POST", "/upload/sign", Some(&tok), Some(body)),
            StatusCode::CONFLICT,
            "CONFLICT",
        )
        .await;
        assert!(v["detail"].as_str().unwrap().contains("processing"), "{v}");
    }
}
