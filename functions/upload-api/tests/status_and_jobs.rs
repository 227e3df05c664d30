//! `GET /upload/status/{job_id}` and `GET /upload/jobs`: the status object,
//! pages, tenant isolation, and refused queries.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::json;

#[tokio::test]
#[allow(clippy::too_many_lines)]
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

#[tokio::test]
async fn status_and_jobs_refusals_answer_clearly_and_write_nothing() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
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
}

/// A cursor in this API's format, for a creation time in microseconds.
fn cursor_at(micros: i128) -> String {
    use base64::Engine;
    let raw = format!("{micros}:{}", uuid::Uuid::new_v4());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// Microseconds since 1970 at the start of `year` (proleptic Gregorian).
fn micros_at_year(year: i32) -> i128 {
    let days = chrono::NaiveDate::from_ymd_opt(year, 1, 1)
        .map(|d| d.signed_duration_since(chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()))
        .map(|d| i128::from(d.num_days()))
        // Beyond chrono's range: 365.2425 days a year is close enough.
        .unwrap_or_else(|| (i128::from(year) - 1970) * 3_652_425 / 10_000);
    days * 86_400_000_000
}

/// A cursor carrying a time no job of this API can have (one Postgres
/// cannot store, or outside the RFC 3339 years 0001 to 9999 the API writes
/// timestamps in) is a 400 naming `cursor`, not a database error.
#[tokio::test]
async fn jobs_cursor_out_of_range_is_a_validation_error() {
    let app = TestApp::new().await;
    let tok = good_token(TENANT);
    for year in [
        -300_000, -262_000, -5000, -4713, -3000, 0, 10_000, 262_000, 300_000,
    ] {
        let micros = micros_at_year(year);
        let body = expect_error(
            &app,
            req(
                "GET",
                &format!("/upload/jobs?cursor={}", cursor_at(micros)),
                Some(&tok),
                None,
            ),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        )
        .await;
        assert_eq!(body["field"], "cursor", "year {year}: {body}");
    }
    for micros in [
        i128::from(i64::MIN),
        i128::from(i64::MAX),
        i128::from(i64::MAX) + 1,
    ] {
        let body = expect_error(
            &app,
            req(
                "GET",
                &format!("/upload/jobs?cursor={}", cursor_at(micros)),
                Some(&tok),
                None,
            ),
            StatusCode::BAD_REQUEST,
            "VALIDATION_FAILED",
        )
        .await;
        assert_eq!(body["field"], "cursor", "{micros} µs: {body}");
    }
    // The edges of the range are cursors like any other.
    for year in [1, 1970, 9999] {
        let (st, _, body) = app
            .call(req(
                "GET",
                &format!("/upload/jobs?cursor={}", cursor_at(micros_at_year(year))),
                Some(&tok),
                None,
            ))
            .await;
        assert_eq!(st, StatusCode::OK, "year {year}: {body}");
    }
}
