//! The request metrics: one valid EMF `Requests` line per request, by route
//! template and status class, and `InitLatency` per `POST /upload/init`.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::{Value, json};
use upload_api::AppState;
use upload_core::Db;
use upload_core::db::DbSettings;
use upload_core::metrics::{Metrics, Sink};
use upload_testkit::{MemoryObjects, TestDb, refused_addr, validate_emf};

const NAME: &str = "upload-api-test";

type Lines = Arc<Mutex<Vec<String>>>;

fn with_capture(state: AppState) -> (Arc<AppState>, Lines) {
    let (sink, lines) = Sink::capture();
    (
        Arc::new(state.with_metrics(Metrics::new(sink, NAME))),
        lines,
    )
}

/// What the lines say: `Requests` per (route, class), and the
/// `InitLatency` values. Every line must be valid EMF, in `UploadJobs`,
/// with `FunctionName` first.
#[derive(Default)]
struct Seen {
    requests: BTreeMap<(String, String), u32>,
    init_latency: Vec<f64>,
}

fn read(lines: &Lines) -> Seen {
    let mut seen = Seen::default();
    for line in lines.lock().unwrap().iter() {
        validate_emf(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let v: Value = serde_json::from_str(line).unwrap();
        let d = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(d["Namespace"], "UploadJobs", "{line}");
        assert_eq!(v["FunctionName"], NAME, "{line}");
        assert_eq!(d["Dimensions"][0][0], "FunctionName", "{line}");
        match d["Metrics"][0]["Name"].as_str().unwrap() {
            "Requests" => {
                assert_eq!(
                    d["Dimensions"],
                    json!([["FunctionName", "Route", "StatusClass"]])
                );
                assert_eq!(d["Metrics"], json!([{"Name": "Requests", "Unit": "Count"}]));
                assert_eq!(v["Requests"].as_f64(), Some(1.0), "{line}");
                let key = (
                    v["Route"].as_str().unwrap().to_owned(),
                    v["StatusClass"].as_str().unwrap().to_owned(),
                );
                *seen.requests.entry(key).or_default() += 1;
            }
            "InitLatency" => {
                assert_eq!(d["Dimensions"], json!([["FunctionName"]]));
                assert_eq!(
                    d["Metrics"],
                    json!([{"Name": "InitLatency", "Unit": "Milliseconds"}])
                );
                seen.init_latency.push(v["InitLatency"].as_f64().unwrap());
            }
            other => panic!("unexpected metric {other}: {line}"),
        }
    }
    seen
}

fn raw(method: &str, path: &str, tok: &str, body: &'static str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {tok}"))
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
#[allow(clippy::too_many_lines)]
async fn every_request_is_one_requests_line_by_route_and_status_class() {
    let t = TestDb::new().await;
    let objects = Arc::new(MemoryObjects::default());
    let (state, lines) = with_capture(app_state(config(&t.url, &[]), t.db.clone(), objects));
    let tok = good_token(TENANT);
    let status_of = |id: &str| format!("/upload/status/{id}");

    let mut made: Vec<(&str, StatusCode)> = Vec::new();
    let mut send = async |r: Request<Body>, route: &'static str, expect: StatusCode| {
        let (st, _, body) = call(&state, r).await;
        assert_eq!(st, expect, "{route}: {body}");
        made.push((route, st));
        body
    };
    let init = "/upload/init";
    let status = "/upload/status/{job_id}";
    let created = send(
        req("POST", init, Some(&tok), Some(init_body())),
        init,
        StatusCode::CREATED,
    )
    .await;
    send(
        req("POST", init, Some(&tok), Some(init_body())),
        init,
        StatusCode::CREATED,
    )
    .await;
    let id = created["job_id"].as_str().unwrap().to_owned();
    send(
        req("GET", &status_of(&id), Some(&tok), None),
        status,
        StatusCode::OK,
    )
    .await;
    let unknown = uuid::Uuid::new_v4().to_string();
    send(
        req("GET", &status_of(&unknown), Some(&tok), None),
        status,
        StatusCode::NOT_FOUND,
    )
    .await;
    send(
        req("GET", &status_of(&unknown), None, None),
        status,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    send(
        raw("POST", init, &tok, "{\"filename\": "),
        init,
        StatusCode::BAD_REQUEST,
    )
    .await;
    send(
        req("POST", init, Some(&tok), Some(json!({"account_id": "a"}))),
        init,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    send(
        req("GET", "/upload/jobs", Some(&tok), None),
        "/upload/jobs",
        StatusCode::OK,
    )
    .await;
    // A route that exists, with the wrong method: its route, 4xx, no latency.
    send(
        req("GET", init, Some(&tok), None),
        init,
        StatusCode::METHOD_NOT_ALLOWED,
    )
    .await;
    send(
        req("GET", "/no/such/route", Some(&tok), None),
        "unmatched",
        StatusCode::NOT_FOUND,
    )
    .await;

    let seen = read(&lines);
    let mut expected: BTreeMap<(String, String), u32> = BTreeMap::new();
    for (route, st) in &made {
        let class = format!("{}xx", st.as_u16() / 100);
        *expected.entry(((*route).to_owned(), class)).or_default() += 1;
    }
    assert_eq!(seen.requests, expected);
    assert_eq!(seen.requests.values().sum::<u32>() as usize, made.len());
    assert_eq!(
        seen.requests[&(status.to_owned(), "4xx".to_owned())],
        2,
        "404 and 401 on the status route"
    );
    // POST /upload/init four times (201, 201, 400, 422); the 405 GET not.
    assert_eq!(seen.init_latency.len(), 4, "{:?}", seen.init_latency);
    assert!(
        seen.init_latency
            .iter()
            .all(|ms| ms.is_finite() && *ms >= 0.0 && *ms < 30_000.0)
    );
}

#[tokio::test]
async fn a_database_outage_is_5xx_and_init_latency_is_still_measured() {
    let url = format!("postgres://postgres@{}/x", refused_addr());
    let mut s = DbSettings::new(&url).unwrap();
    s.connect_timeout = Duration::from_millis(300);
    let objects = Arc::new(MemoryObjects::default());
    let (state, lines) = with_capture(app_state(config(&url, &[]), Db::new(s), objects));
    let tok = good_token(TENANT);
    let (st, _, _) = call(
        &state,
        req("POST", "/upload/init", Some(&tok), Some(init_body())),
    )
    .await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    let seen = read(&lines);
    let expected = BTreeMap::from([(("/upload/init".to_owned(), "5xx".to_owned()), 1)]);
    assert_eq!(seen.requests, expected);
    assert_eq!(seen.init_latency.len(), 1);
}

#[tokio::test]
async fn metrics_are_off_unless_set() {
    let t = TestDb::new().await;
    let state = state_for(
        config(&t.url, &[]),
        t.db.clone(),
        Arc::new(MemoryObjects::default()),
    );
    assert!(state.metrics.is_off());
    let (st, _, _) = call(&state, req("GET", "/no/such/route", None, None)).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}
