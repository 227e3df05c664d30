//! The database: one round trip per request (three for an idempotent repeat), 503 while it is down, and
//! recovery without a restart.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::*;
use upload_core::Db;
use upload_core::db::DbSettings;
use upload_testkit::{CountingProxy, MemoryObjects, refused_addr};

#[tokio::test]
async fn init_status_and_list_are_one_round_trip_each() {
    let app = TestApp::new().await;
    let proxy = CountingProxy::start(app.t.server_addr()).await;
    let db = Db::new(DbSettings::new(app.t.url_via(proxy.addr)).unwrap());
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

    // An idempotent repeat (the same Idempotency-Key), the one case with more
    // statements: the insert finds the id taken, the stored row is read and
    // compared, and its upload window moves to the new URL's expiry.
    let repeat = || {
        let mut r = req("POST", "/upload/init", Some(&tok), Some(init_body()));
        r.headers_mut()
            .insert("idempotency-key", "order-7".parse().unwrap());
        r
    };
    let (st, _, first) = call(&state, repeat()).await;
    assert_eq!(st, StatusCode::CREATED);
    proxy.reset();
    let (st, _, again) = call(&state, repeat()).await;
    assert_eq!(st, StatusCode::CREATED, "{again}");
    assert_eq!(again["job_id"], first["job_id"]);
    assert_eq!(proxy.round_trips(), 3, "init repeated");
}

#[tokio::test]
async fn database_down_is_503_with_retry_after_quickly() {
    let url = format!("postgres://postgres@{}/x", refused_addr());
    let mut s = DbSettings::new(&url).unwrap();
    s.connect_timeout = Duration::from_millis(500);
    let state = state_for(
        config(&url, &[]),
        Db::new(s),
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
    let mut s = DbSettings::new(app.t.url_via(down)).unwrap();
    s.connect_timeout = Duration::from_millis(500);
    let state = state_for(
        config(&app.t.url, &[]),
        Db::new(s),
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
