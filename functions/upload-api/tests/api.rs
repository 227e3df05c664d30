//! The router in-process, against real PostgreSQL.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::{Value, json};
use upload_shared::db::DbSettings;
use upload_shared::objects::MemoryObjects;
use upload_shared::testing::{CountingProxy, refused_addr};
use upload_shared::{Db, FileKey, JobId, TenantId, repo};

fn query_map(url: &str) -> (url::Url, std::collections::HashMap<String, String>) {
    let u = url::Url::parse(url).unwrap();
    let q = u
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (u, q)
}

#[tokio::test]
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
    let mut state = upload_api::AppState::with_objects(
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

#[tokio::test]
async fn status_and_jobs_and_tenant_isolation() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut b = init_body();
        b["filename"] = json!(format!("{i}.wav"));
        let (st, _, body) = app
            .call(req("POST", "/upload/init", Some(&tok), Some(b)))
            .await;
        assert_eq!(st, StatusCode::CREATED);
        ids.push(body["job_id"].as_str().unwrap().to_owned());
    }
    let (st, h, body) = app
        .call(req(
            "GET",
            &format!("/upload/status/{}", ids[0]),
            Some(&tok),
            None,
        ))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(h.get("x-trace-id").is_some());
    for k in [
        "job_id",
        "status",
        "job_type",
        "interaction_id",
        "file_key",
        "file_name",
        "mime_type",
        "file_size",
        "created_at",
        "updated_at",
        "started_at",
        "completed_at",
        "result_summary",
        "error_code",
        "error_message",
    ] {
        assert!(body.get(k).is_some(), "missing {k}");
    }
    assert_eq!(body["status"], "queued");
    assert_eq!(body["job_type"], "audio_transcription");
    assert!(body["started_at"].is_null());
    assert!(body["created_at"].as_str().unwrap().ends_with('Z'));

    // Another tenant: the same 404 as for a job that does not exist.
    let other = good_token("0b9a7c2e-0000-4000-8000-000000000001");
    let (st1, _, b1) = app
        .call(req(
            "GET",
            &format!("/upload/status/{}", ids[0]),
            Some(&other),
            None,
        ))
        .await;
    let (st2, _, b2) = app
        .call(req(
            "GET",
            &format!("/upload/status/{}", uuid::Uuid::new_v4()),
            Some(&other),
            None,
        ))
        .await;
    assert_eq!((st1, st2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(b1, b2);
    let (_, _, list) = app
        .call(req("GET", "/upload/jobs", Some(&other), None))
        .await;
    assert_eq!(list["jobs"], json!([]));
    assert!(list["next_cursor"].is_null());

    // Pages of 2, newest first, no repeats.
    let mut seen = Vec::new();
    let mut url = "/upload/jobs?limit=2".to_owned();
    loop {
        let (st, _, page) = app.call(req("GET", &url, Some(&tok), None)).await;
        assert_eq!(st, StatusCode::OK, "{page}");
        let jobs = page["jobs"].as_array().unwrap();
        assert!(jobs.len() <= 2);
        seen.extend(
            jobs.iter()
                .map(|j| j["job_id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/upload/jobs?limit=2&cursor={c}"),
            None => break,
        }
    }
    let mut want = ids.clone();
    want.reverse();
    assert_eq!(seen, want);
    let (_, _, page) = app
        .call(req(
            "GET",
            "/upload/jobs?status=processing",
            Some(&tok),
            None,
        ))
        .await;
    assert_eq!(page["jobs"], json!([]));
    let (_, _, page) = app
        .call(req(
            "GET",
            "/upload/jobs?status=queued&limit=100",
            Some(&tok),
            None,
        ))
        .await;
    assert_eq!(page["jobs"].as_array().unwrap().len(), 5);
}

async fn expect_error(app: &TestApp, r: Request<Body>, status: StatusCode, code: &str) -> Value {
    let before = app.rows().await;
    let (st, h, body) = app.call(r).await;
    assert_eq!(st, status, "{body}");
    assert_eq!(h.get("content-type").unwrap(), "application/problem+json");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert!(body["title"].is_string() && body["type"].is_string());
    assert_eq!(app.rows().await, before, "nothing written");
    body
}

#[tokio::test]
async fn every_error_path_answers_clearly_and_writes_nothing() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
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

    // Validation
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

    // Status / list / routing
    expect_error(
        &app,
        req("GET", "/upload/status/not-a-uuid", Some(&tok), None),
        StatusCode::BAD_REQUEST,
        "VALIDATION_FAILED",
    )
    .await;
    expect_error(
        &app,
        req(
            "GET",
            &format!("/upload/status/{}", uuid::Uuid::new_v4()),
            Some(&tok),
            None,
        ),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    expect_error(
        &app,
        req("GET", "/upload/jobs?limit=0", Some(&tok), None),
        StatusCode::BAD_REQUEST,
        "VALIDATION_FAILED",
    )
    .await;
    expect_error(
        &app,
        req("GET", "/upload/jobs?limit=101", Some(&tok), None),
        StatusCode::BAD_REQUEST,
        "VALIDATION_FAILED",
    )
    .await;
    expect_error(
        &app,
        req("GET", "/upload/jobs?status=lost", Some(&tok), None),
        StatusCode::BAD_REQUEST,
        "VALIDATION_FAILED",
    )
    .await;
    expect_error(
        &app,
        req("GET", "/upload/jobs?cursor=garbage!", Some(&tok), None),
        StatusCode::BAD_REQUEST,
        "VALIDATION_FAILED",
    )
    .await;
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
        &[repo::AdvanceItem {
            tenant_id: fk.tenant(),
            file_key: key.into(),
            size: Some(1234),
        }],
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

#[tokio::test]
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

#[tokio::test]
async fn init_status_and_list_are_one_round_trip_each() {
    let app = TestApp::new().await;
    let proxy = CountingProxy::start(app.t.server_addr()).await;
    let db = Db::new(DbSettings::new(app.t.url_via(proxy.addr))).unwrap();
    let state = state_for(
        config(&app.t.url, &[]),
        db,
        Arc::new(MemoryObjects::default()),
    );
    let tok = good_token(TENANT);
    // Warm the pool so connection start-up is not counted.
    call(&state, req("GET", "/upload/jobs", Some(&tok), None)).await;

    proxy.reset();
    let (st, _, body) = call(
        &state,
        req("POST", "/upload/init", Some(&tok), Some(init_body())),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(proxy.round_trips(), 1, "init");
    proxy.reset();
    let (st, _, _) = call(
        &state,
        req(
            "GET",
            &format!("/upload/status/{}", body["job_id"].as_str().unwrap()),
            Some(&tok),
            None,
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(proxy.round_trips(), 1, "status");
    proxy.reset();
    call(&state, req("GET", "/upload/jobs", Some(&tok), None)).await;
    assert_eq!(proxy.round_trips(), 1, "list");
}

#[tokio::test]
async fn database_down_is_503_with_retry_after_quickly() {
    let url = format!("postgres://postgres@{}/x", refused_addr());
    let mut s = DbSettings::new(&url);
    s.connect_timeout = Duration::from_millis(500);
    let state = state_for(
        config(&url, &[]),
        Db::new(s).unwrap(),
        Arc::new(MemoryObjects::default()),
    );
    let tok = good_token(TENANT);
    let started = Instant::now();
    for r in [
        req("POST", "/upload/init", Some(&tok), Some(init_body())),
        req(
            "GET",
            &format!("/upload/status/{}", uuid::Uuid::new_v4()),
            Some(&tok),
            None,
        ),
        req("GET", "/upload/jobs", Some(&tok), None),
    ] {
        let (st, h, body) = call(&state, r).await;
        assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["code"], "SERVICE_UNAVAILABLE");
        assert!(h.get("retry-after").is_some());
        assert!(!body.to_string().contains("postgres://"));
    }
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn the_api_recovers_by_itself_when_the_database_returns() {
    let app = TestApp::new().await;
    let down = refused_addr();
    let mut s = DbSettings::new(app.t.url_via(down));
    s.connect_timeout = Duration::from_millis(500);
    let state = state_for(
        config(&app.t.url, &[]),
        Db::new(s).unwrap(),
        Arc::new(MemoryObjects::default()),
    );
    let tok = good_token(TENANT);
    let (st, _, _) = call(&state, req("GET", "/upload/jobs", Some(&tok), None)).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    // The database comes back at the same address: the same state serves again.
    let _proxy = CountingProxy::start_at(down, app.t.server_addr()).await;
    let (st, _, body) = call(&state, req("GET", "/upload/jobs", Some(&tok), None)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
}
