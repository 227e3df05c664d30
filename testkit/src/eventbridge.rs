//! A local EventBridge endpoint for `PutEvents` (AWS JSON 1.1), as the SDK
//! speaks it: each entry put is appended as one JSON line to a file, in the
//! shape a rule target receives (`{"version":"0","id","detail-type","source",
//! "account","time","region","resources","detail":{...}}`). The local stack
//! writes `{data-dir}/handoff.jsonl` with it; tests inject failures.
//!
//! Like EventBridge: more than 10 entries in one request is a
//! `ValidationException`, and a `Detail` that is not a JSON object is refused
//! per entry (`MalformedDetail`). Signatures are not checked.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The account id written into events (the local stack has no account).
pub const LOCAL_ACCOUNT: &str = "000000000000";

/// Failures to inject, counted down as requests and entries arrive.
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<FaultState>>);

#[derive(Default)]
struct FaultState {
    failing_requests: usize,
    failing_entries: usize,
    requests: Vec<usize>,
    buses: Vec<String>,
}

impl Faults {
    /// The next `n` requests answer 500 `InternalException` (the SDK retries
    /// a 500 twice: 3 failed requests fail one PutEvents call).
    pub fn fail_next_requests(&self, n: usize) {
        self.0.lock().expect("lock").failing_requests = n;
    }

    /// The next `n` entries are refused with `InternalFailure` in an
    /// otherwise successful response (`FailedEntryCount`).
    pub fn fail_next_entries(&self, n: usize) {
        self.0.lock().expect("lock").failing_entries = n;
    }

    /// The number of entries of each request received so far, failed ones
    /// included.
    pub fn requests(&self) -> Vec<usize> {
        self.0.lock().expect("lock").requests.clone()
    }

    /// The `EventBusName` of each entry put so far (`default` when absent).
    pub fn buses(&self) -> Vec<String> {
        self.0.lock().expect("lock").buses.clone()
    }
}

struct Endpoint {
    out: PathBuf,
    region: String,
    faults: Faults,
    write: Mutex<()>,
}

/// A started endpoint.
pub struct LocalEventBridge {
    /// What the SDK's `endpoint_url` is set to.
    pub url: String,
    pub faults: Faults,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LocalEventBridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LocalEventBridge {
    /// Serves on a free local port, appending events to `out`.
    pub async fn start(out: PathBuf, region: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let faults = Faults::default();
        let router = router(out, region, faults.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(Self { url, faults, task })
    }
}

/// The endpoint's routes, for a caller that serves them itself.
pub fn router(out: PathBuf, region: &str, faults: Faults) -> Router {
    let endpoint = Arc::new(Endpoint {
        out,
        region: region.to_owned(),
        faults,
        write: Mutex::new(()),
    });
    Router::new().fallback(put_events).with_state(endpoint)
}

fn aws_json(status: StatusCode, body: &Value) -> Response {
    let headers = [(header::CONTENT_TYPE, "application/x-amz-json-1.1")];
    (status, headers, body.to_string()).into_response()
}

fn client_error(kind: &str, message: &str) -> Response {
    let body = json!({"__type": kind, "message": message});
    aws_json(StatusCode::BAD_REQUEST, &body)
}

async fn put_events(State(ep): State<Arc<Endpoint>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    if target != Some("AWSEvents.PutEvents") {
        return client_error("UnknownOperationException", "only PutEvents is served here");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return client_error("SerializationException", "body is not JSON");
    };
    let Some(entries) = request["Entries"].as_array().filter(|e| !e.is_empty()) else {
        return client_error("ValidationException", "Entries must hold 1 to 10 entries");
    };
    let mut f = ep.faults.0.lock().expect("lock");
    f.requests.push(entries.len());
    if entries.len() > 10 {
        return client_error("ValidationException", "at most 10 entries per request");
    }
    if f.failing_requests > 0 {
        f.failing_requests -= 1;
        let body = json!({"__type": "InternalException", "message": "injected failure"});
        return aws_json(StatusCode::INTERNAL_SERVER_ERROR, &body);
    }
    drop(f);
    let results: Vec<Value> = entries.iter().map(|e| put_one(&ep, e)).collect();
    let failed = results
        .iter()
        .filter(|r| r.get("ErrorCode").is_some())
        .count();
    let body = json!({"FailedEntryCount": failed, "Entries": results});
    aws_json(StatusCode::OK, &body)
}

fn entry_error(code: &str, message: &str) -> Value {
    json!({"ErrorCode": code, "ErrorMessage": message})
}

/// One entry: appended to the file, or its error.
fn put_one(ep: &Endpoint, entry: &Value) -> Value {
    {
        let mut f = ep.faults.0.lock().expect("lock");
        if f.failing_entries > 0 {
            f.failing_entries -= 1;
            return entry_error("InternalFailure", "injected failure");
        }
    }
    let (Some(source), Some(detail_type)) =
        (entry["Source"].as_str(), entry["DetailType"].as_str())
    else {
        return entry_error("InvalidArgument", "Source and DetailType are required");
    };
    let detail = entry["Detail"]
        .as_str()
        .and_then(|d| serde_json::from_str::<Value>(d).ok());
    let Some(detail) = detail.filter(Value::is_object) else {
        return entry_error("MalformedDetail", "Detail is not a JSON object");
    };
    let bus = entry["EventBusName"]
        .as_str()
        .unwrap_or("default")
        .to_owned();
    ep.faults.0.lock().expect("lock").buses.push(bus);
    let id = uuid::Uuid::new_v4().to_string();
    let event = json!({
        "version": "0",
        "id": id,
        "detail-type": detail_type,
        "source": source,
        "account": LOCAL_ACCOUNT,
        "time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "region": ep.region,
        "resources": entry.get("Resources").cloned().unwrap_or_else(|| json!([])),
        "detail": detail,
    });
    let _guard = ep.write.lock().expect("lock");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&ep.out)
        .and_then(|mut f| f.write_all(format!("{event}\n").as_bytes()));
    match written {
        Ok(()) => json!({"EventId": id}),
        Err(e) => entry_error(
            "InternalFailure",
            &format!("cannot write {}: {e}", ep.out.display()),
        ),
    }
}
