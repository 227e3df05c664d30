//! `POST /upload/init`: the job row, the presigned URL, idempotency, and
//! every way a request can be refused.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::{Value, json};
use upload_core::{FileKey, JobId, TenantId, repo};

fn query_map(url: &str) -> (url::Url, std::collections::HashMap<String, String>) {
    let u = url::Url::parse(url).unwrap();
    let q = u
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (u, q)
}

#[tokio::test]
#[allow(clippy::too_many_lines)]
async fn init_queues_a_job_and_returns_an_honest_presigned_url() {
    let app = TestApp::new().await;
    let before = chrono::Utc::now().timestamp();
    let (st, _, body) = app
        .call(req(
            "POST",
            "/upload/init",
            Some(&good_token(TENANT)),
            Some(init_body()),
        ))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    for k in [
        "job_id",
        "file_key",
        "upload_url",
        "expires_at",
        "signed_content_type",
        "upload_headers",
        "status",
        "interaction_id",
    ] {
        assert!(body.get(k).is_some(), "missing {k}: {body}");
    }
    assert_eq!(body["status"], "queued");
    assert_eq!(body["signed_content_type"], "audio/wav");
    assert_eq!(body["upload_headers"]["Content-Type"], "audio/wav");
    assert_eq!(body["upload_headers"]["Content-Length"], "1234");
    let job_id = body["job_id"].as_str().unwrap();
    let key = body["file_key"].as_str().unwrap();
    assert_eq!(
        key,
        format!("tenant/{TENANT}/uploads/{job_id}/Réunion équipe+notes (1).wav")
    );

    // The job row is there, queued, before the client ever sees the URL.
    let job = repo::get_job(
        &app.t.db,
        TenantId::parse(TENANT).unwrap(),
        JobId::parse(job_id).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(job.status.as_str(), "queued");
    assert_eq!(job.user_id, "user-7");
    assert_eq!(job.account_id.as_deref(), Some("acct-9"));
    assert_eq!(job.file_size, Some(1234));
    assert_eq!(job.mime_type.as_deref(), Some("audio/wav"));
    assert!(job.trace_id.is_some());

    // The URL, decoded: bucket and key, signed headers, expiry.
    let (u, q) = query_map(body["upload_url"].as_str().unwrap());
    assert_eq!(u.host_str(), Some("127.0.0.1"));
    let path = percent_encoding::percent_decode_str(u.path())
        .decode_utf8()
        .unwrap();
    assert_eq!(path, format!("/{BUCKET}/{key}"));
    let signed: Vec<&str> = q["X-Amz-SignedHeaders"].split(';').collect();
    assert!(signed.contains(&"content-type"), "{signed:?}");
    assert!(signed.contains(&"content-length"), "{signed:?}");
    assert!(signed.contains(&"host"));
    assert_eq!(q["X-Amz-Expires"], "300");
    assert!(
        !q.keys()
            .any(|k| k.to_ascii_lowercase().contains("checksum")),
        "no SDK checksum in the URL: {q:?}"
    );
    let signed_at = chrono::NaiveDateTime::parse_from_str(&q["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
        .unwrap()
        .and_utc();
    let expires =
        chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires.timestamp(), signed_at.timestamp() + 300);
    assert!(signed_at.timestamp() >= before - 1);

    // Without file_size, Content-Length is not signed; a checksum is.
    let sum = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";
    let (st, _, body) = app
        .call(req(
            "POST",
            "/upload/init",
            Some(&good_token(TENANT)),
            Some(json!({"filename": "b.wav", "account_id": "a", "checksum_sha256": sum})),
        ))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let (_, q) = query_map(body["upload_url"].as_str().unwrap());
    let signed: Vec<&str> = q["X-Amz-SignedHeaders"].split(';').collect();
    assert!(!signed.contains(&"content-length"), "{signed:?}");
    assert!(signed.contains(&"x-amz-checksum-sha256"), "{signed:?}");
    assert_eq!(body["upload_headers"]["x-amz-checksum-sha256"], sum);
    assert!(body["upload_headers"].get("Content-Length").is_none());
}

#[tokio::test]
async fn a_short_lived_credential_shortens_expires_at() {
    let app = TestApp::new().await;
    let creds = aws_credential_types::Credentials::new(
        "AKID",
        "secret",
        Some("token".into()),
        Some(std::time::SystemTime::now() + Duration::from_secs(90)),
        "sts",
    );
    let provider = aws_credential_types::provider::SharedCredentialsProvider::new(creds);
    let mut state = upload_api::AppState::new(
        config(&app.t.url, &[]),
        app.t.db.clone(),
        app.state.presigner.client.clone(),
        Some(provider),
        app.objects.clone(),
    );
    state.presigner.ttl = Duration::from_secs(300);
    let state = Arc::new(state);
    let (st, _, body) = call(
        &state,
        req(
            "POST",
            "/upload/init",
            Some(&good_token(TENANT)),
            Some(init_body()),
        ),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let (_, q) = query_map(body["upload_url"].as_str().unwrap());
    let expires =
        chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    let left = expires.timestamp() - chrono::Utc::now().timestamp();
    assert!((85..=91).contains(&left), "{left}");
    assert!(q["X-Amz-Expires"].parse::<i64>().unwrap() <= 90);
}

fn idem_req(key: &str, body: Value) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri("/upload/init")
        .header("authorization", format!("Bearer {}", good_token(TENANT)))
        .header("idempotency-key", key)
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn idempotency_key_gives_one_row_and_the_same_job() {
    let app = TestApp::new().await;
    let (s1, _, a) = app.call(idem_req("order-1", init_body())).await;
    let (s2, h2, b) = app.call(idem_req("order-1", init_body())).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED), "{b}");
    assert_eq!(a["job_id"], b["job_id"]);
    assert_eq!(a["file_key"], b["file_key"]);
    assert_eq!(a["interaction_id"], b["interaction_id"]);
    assert_eq!(h2.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(app.rows().await, 1);

    // A different body under the same key: 409, nothing written.
    let mut other = init_body();
    other["file_size"] = json!(999);
    expect_error(
        &app,
        idem_req("order-1", other),
        StatusCode::CONFLICT,
        "CONFLICT",
    )
    .await;

    // 20 concurrent repeats of a new key: one row, one job id.
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let state = app.state.clone();
            tokio::spawn(async move { call(&state, idem_req("order-2", init_body())).await })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (st, _, body) = t.await.unwrap();
        assert_eq!(st, StatusCode::CREATED, "{body}");
        ids.insert(body["job_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(app.rows().await, 2);

    // Once the upload arrived, a repeat cannot get a new URL.
    let key = a["file_key"].as_str().unwrap();
    let fk = FileKey::parse(key).unwrap();
    repo::advance_batch(
        &app.t.db,
        &[repo::UploadedObject::at(&fk, Some(1234), None)],
        1_000_000,
    )
    .await
    .unwrap();
    expect_error(
        &app,
        idem_req("order-1", init_body()),
        StatusCode::CONFLICT,
        "CONFLICT",
    )
    .await;
}
