//! `POST /upload/init` fills the columns beyond the seed schema: the Python
//! service's `pg_user_id`, `user_name`, `participants_json`, and
//! `checksum_sha256` and `upload_expires_at`; idempotent repeats compare the
//! checksum and the participants and move the upload window forward.
#![allow(clippy::too_many_lines)] // tests read top to bottom

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{DateTime, Utc};
use common::*;
use serde_json::{Value, json};
use uuid::Uuid;

/// What the row holds in the columns init fills besides the seed schema's.
#[derive(Debug, PartialEq)]
struct Extra {
    pg_user_id: Option<String>,
    user_name: Option<String>,
    participants_json: Option<String>,
    checksum_sha256: Option<String>,
    upload_expires_at: Option<DateTime<Utc>>,
}

async fn extra(app: &TestApp, job_id: &Value) -> Extra {
    let id = Uuid::parse_str(job_id.as_str().unwrap()).unwrap();
    let r = app
        .t
        .client()
        .await
        .query_one(
            "SELECT pg_user_id, user_name, participants_json, checksum_sha256, upload_expires_at
             FROM upload_jobs WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    Extra {
        pg_user_id: r.get(0),
        user_name: r.get(1),
        participants_json: r.get(2),
        checksum_sha256: r.get(3),
        upload_expires_at: r.get(4),
    }
}

fn claims_token(extra: Value) -> String {
    let mut c = json!({"iss": "eq-frontend", "aud": "eq-backend", "exp": now() + 600,
                       "tenant_id": TENANT, "user_id": "user-7"});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    token(c, JWT_SECRET)
}

fn with_body(extra: Value) -> Value {
    let mut b = init_body();
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

async fn created(app: &TestApp, r: Request<Body>) -> Value {
    let (st, _, body) = app.call(r).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    body
}

fn idem(key: &str, tok: &str, body: Value) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri("/upload/init")
        .header("authorization", format!("Bearer {tok}"))
        .header("idempotency-key", key)
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn init_stores_the_python_service_columns() {
    let app = TestApp::new().await;
    // Claims and participants, written as Python's json.dumps writes them.
    let tok = claims_token(json!({"pg_user_id": "pg-42", "user_name": "Zoë Martin"}));
    let participants = json!([
        {"email": "zoe@example.com", "display_name": "Zoë \"Z\" Martin", "role": "ignored"},
        {"email": "bob@example.com"},
        {"email": "eve@example.com", "display_name": null},
    ]);
    let body = with_body(json!({"participants": participants}));
    let a = created(&app, req("POST", "/upload/init", Some(&tok), Some(body))).await;
    let row = extra(&app, &a["job_id"]).await;
    assert_eq!(row.pg_user_id.as_deref(), Some("pg-42"));
    assert_eq!(row.user_name.as_deref(), Some("Zoë Martin"));
    assert_eq!(
        row.participants_json.as_deref(),
        Some(
            r#"[{"email": "zoe@example.com", "display_name": "Zo\u00eb \"Z\" Martin"}, {"email": "bob@example.com"}, {"email": "eve@example.com"}]"#
        )
    );
    // Nothing new goes back to the client.
    assert!(a.get("participants").is_none() && a.get("user_name").is_none());

    // No such claims, no participants: NULL. An explicit [] stays "[]".
    let b = created(
        &app,
        req(
            "POST",
            "/upload/init",
            Some(&good_token(TENANT)),
            Some(init_body()),
        ),
    )
    .await;
    let row = extra(&app, &b["job_id"]).await;
    assert_eq!(
        (row.pg_user_id, row.user_name, row.participants_json),
        (None, None, None)
    );
    let c = created(
        &app,
        req(
            "POST",
            "/upload/init",
            Some(&good_token(TENANT)),
            Some(with_body(json!({"participants": []}))),
        ),
    )
    .await;
    assert_eq!(
        extra(&app, &c["job_id"]).await.participants_json.as_deref(),
        Some("[]")
    );
    let d = created(
        &app,
        req(
            "POST",
            "/upload/init",
            Some(&good_token(TENANT)),
            Some(with_body(json!({"participants": null}))),
        ),
    )
    .await;
    assert_eq!(extra(&app, &d["job_id"]).await.participants_json, None);

    // The legacy headers carry neither claim.
    let legacy = Request::builder()
        .method("POST")
        .uri("/upload/init")
        .header("x-tenant-id", TENANT)
        .header("x-user-id", "u1")
        .body(Body::from(init_body().to_string()))
        .unwrap();
    let e = created(&app, legacy).await;
    let row = extra(&app, &e["job_id"]).await;
    assert_eq!((row.pg_user_id, row.user_name), (None, None));
}

#[tokio::test]
async fn participants_are_validated_naming_the_field() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
    let send = |participants: Value| {
        req(
            "POST",
            "/upload/init",
            Some(&tok),
            Some(with_body(json!({"participants": participants}))),
        )
    };
    let unprocessable = StatusCode::UNPROCESSABLE_ENTITY;
    for (list, status, field) in [
        (
            json!([{"display_name": "A"}]),
            unprocessable,
            "participants[0].email",
        ),
        (
            json!([{"email": "a@b"}, {"email": ""}]),
            unprocessable,
            "participants[1].email",
        ),
        (
            json!([{"email": "not-an-address"}]),
            unprocessable,
            "participants[0].email",
        ),
        (
            json!([{"email": format!("{}@example.com", "a".repeat(320))}]),
            unprocessable,
            "participants[0].email",
        ),
        (
            json!([{"email": "a@b", "display_name": "n".repeat(256)}]),
            unprocessable,
            "participants[0].display_name",
        ),
        (
            Value::Array(vec![json!({"email": "a@b"}); 101]),
            unprocessable,
            "participants",
        ),
        (json!("a@b"), StatusCode::BAD_REQUEST, "participants"),
        (
            json!([{"email": 7}]),
            StatusCode::BAD_REQUEST,
            "participants[0].email",
        ),
        (
            json!([{"email": "a@b", "display_name": ["A"]}]),
            StatusCode::BAD_REQUEST,
            "participants[0].display_name",
        ),
    ] {
        let b = expect_error(&app, send(list.clone()), status, "VALIDATION_FAILED").await;
        assert_eq!(b["field"], field, "{list}: {b}");
    }
    // 100 entries are fine.
    let most = Value::Array(vec![json!({"email": "a@b"}); 100]);
    created(&app, send(most)).await;
}

#[tokio::test]
async fn idempotent_replay_compares_checksum_and_participants() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
    let sum_a = "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=";
    let sum_b = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let with_a = with_body(json!({"checksum_sha256": sum_a}));
    let first = created(&app, idem("k-1", &tok, with_a.clone())).await;
    assert_eq!(
        extra(&app, &first["job_id"])
            .await
            .checksum_sha256
            .as_deref(),
        Some(sum_a)
    );
    // Another checksum, or none: a different request.
    for other in [with_body(json!({"checksum_sha256": sum_b})), init_body()] {
        expect_error(
            &app,
            idem("k-1", &tok, other),
            StatusCode::CONFLICT,
            "CONFLICT",
        )
        .await;
    }
    // The same checksum (surrounding white space is trimmed): the same job.
    let again = with_body(json!({"checksum_sha256": format!(" {sum_a} ")}));
    let replay = created(&app, idem("k-1", &tok, again)).await;
    assert_eq!(replay["job_id"], first["job_id"]);
    assert_eq!(replay["upload_headers"]["x-amz-checksum-sha256"], sum_a);

    // None first, then one: a different request too.
    created(&app, idem("k-2", &tok, init_body())).await;
    let b = expect_error(
        &app,
        idem("k-2", &tok, with_body(json!({"checksum_sha256": sum_a}))),
        StatusCode::CONFLICT,
        "CONFLICT",
    )
    .await;
    assert!(b["detail"].as_str().unwrap().contains("different request"));

    // Participants count: other ones, none, or [] instead of none differ.
    let people = json!({"participants": [{"email": "a@b", "display_name": "A"}]});
    created(&app, idem("k-3", &tok, with_body(people.clone()))).await;
    for other in [
        json!({"participants": [{"email": "a@b"}]}),
        json!({"participants": [{"email": "a@b", "display_name": "B"}]}),
        json!({"participants": []}),
        json!({}),
    ] {
        expect_error(
            &app,
            idem("k-3", &tok, with_body(other)),
            StatusCode::CONFLICT,
            "CONFLICT",
        )
        .await;
    }
    created(&app, idem("k-3", &tok, with_body(people))).await;
    created(
        &app,
        idem("k-4", &tok, with_body(json!({"participants": []}))),
    )
    .await;
    expect_error(
        &app,
        idem("k-4", &tok, init_body()),
        StatusCode::CONFLICT,
        "CONFLICT",
    )
    .await;
    assert_eq!(app.rows().await, 4);
}

#[tokio::test]
async fn upload_expires_at_is_the_url_expiry_and_only_moves_forward() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
    let expiry = |body: &Value| {
        DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc)
    };
    let first = created(&app, idem("w-1", &tok, init_body())).await;
    let id = Uuid::parse_str(first["job_id"].as_str().unwrap()).unwrap();
    assert_eq!(
        extra(&app, &first["job_id"]).await.upload_expires_at,
        Some(expiry(&first))
    );
    // Without an Idempotency-Key too.
    let plain = created(
        &app,
        req("POST", "/upload/init", Some(&tok), Some(init_body())),
    )
    .await;
    assert_eq!(
        extra(&app, &plain["job_id"]).await.upload_expires_at,
        Some(expiry(&plain))
    );

    let set = |at: DateTime<Utc>| {
        let app = &app;
        async move {
            app.t
                .client()
                .await
                .execute(
                    "UPDATE upload_jobs SET upload_expires_at = $2 WHERE id = $1",
                    &[&id, &at],
                )
                .await
                .unwrap();
        }
    };
    // A replay's fresh URL moves the window forward...
    set(expiry(&first) - chrono::Duration::seconds(250)).await;
    let replay = created(&app, idem("w-1", &tok, init_body())).await;
    assert_eq!(replay["job_id"], first["job_id"]);
    assert_eq!(
        extra(&app, &first["job_id"]).await.upload_expires_at,
        Some(expiry(&replay))
    );
    // ...never back.
    let later = expiry(&replay) + chrono::Duration::hours(1);
    set(later).await;
    created(&app, idem("w-1", &tok, init_body())).await;
    assert_eq!(
        extra(&app, &first["job_id"]).await.upload_expires_at,
        Some(later)
    );
    // A conflicting repeat changes nothing.
    set(expiry(&first) - chrono::Duration::seconds(250)).await;
    let mut other = init_body();
    other["file_size"] = json!(999);
    expect_error(
        &app,
        idem("w-1", &tok, other),
        StatusCode::CONFLICT,
        "CONFLICT",
    )
    .await;
    assert_eq!(
        extra(&app, &first["job_id"]).await.upload_expires_at,
        Some(expiry(&first) - chrono::Duration::seconds(250))
    );
    // Once the job left `queued`, a repeat is refused and the window stays.
    app.t
        .client()
        .await
        .execute(
            "UPDATE upload_jobs SET status = 'processing', started_at = now() WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap();
    expect_error(
        &app,
        idem("w-1", &tok, init_body()),
        StatusCode::CONFLICT,
        "CONFLICT",
    )
    .await;
    assert_eq!(
        extra(&app, &first["job_id"]).await.upload_expires_at,
        Some(expiry(&first) - chrono::Duration::seconds(250))
    );
}
