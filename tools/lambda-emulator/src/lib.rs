//! A Lambda Runtime API emulator (the `/2018-06-01/runtime/...` endpoints a
//! `bootstrap` polls), so the real function binaries, `main.rs` included, run
//! exactly as Lambda runs them: spawned with `AWS_LAMBDA_RUNTIME_API` set,
//! fed one invocation at a time, their responses or errors collected.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use tokio::sync::{Mutex as AsyncMutex, mpsc, oneshot};

/// What the function answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Value),
    /// `/error`: the function reported a failure (`errorType`, `errorMessage`).
    Error(Value),
}

struct Pending {
    id: String,
    payload: Bytes,
    done: oneshot::Sender<Outcome>,
}

#[derive(Clone)]
struct Shared {
    queue: Arc<AsyncMutex<mpsc::UnboundedReceiver<Pending>>>,
    in_flight: Arc<Mutex<HashMap<String, oneshot::Sender<Outcome>>>>,
    init_error: Arc<Mutex<Option<Value>>>,
    next_calls: Arc<Mutex<u64>>,
}

/// A running emulator. Cheap to clone.
#[derive(Clone)]
pub struct Emulator {
    pub addr: SocketAddr,
    tx: mpsc::UnboundedSender<Pending>,
    shared: Shared,
}

impl Emulator {
    pub async fn start() -> Emulator {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Shared {
            queue: Arc::new(AsyncMutex::new(rx)),
            in_flight: Arc::default(),
            init_error: Arc::default(),
            next_calls: Arc::default(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind emulator");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Emulator { addr, tx, shared }
    }

    /// Sends one invocation and waits for its outcome.
    pub async fn invoke(&self, payload: &Value, timeout: Duration) -> Result<Outcome, String> {
        self.invoke_raw(Bytes::from(payload.to_string()), timeout)
            .await
    }

    pub async fn invoke_raw(&self, payload: Bytes, timeout: Duration) -> Result<Outcome, String> {
        let (done, rx) = oneshot::channel();
        let id = uuid::Uuid::new_v4().to_string();
        self.tx
            .send(Pending { id, payload, done })
            .map_err(|_| "emulator stopped".to_owned())?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(o)) => Ok(o),
            Ok(Err(_)) => Err("invocation dropped".to_owned()),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }

    /// The body the function posted to `/init/error`, if it did.
    pub fn init_error(&self) -> Option<Value> {
        self.shared.init_error.lock().expect("lock").clone()
    }

    /// How many times the function asked for the next invocation.
    pub fn next_calls(&self) -> u64 {
        *self.shared.next_calls.lock().expect("lock")
    }

    /// Waits until the function polls `/next` (its init is over).
    pub async fn wait_ready(&self, timeout: Duration) -> Result<Duration, String> {
        let start = Instant::now();
        while self.next_calls() == 0 {
            if start.elapsed() > timeout {
                return Err(format!("function did not poll /next within {timeout:?}"));
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Ok(start.elapsed())
    }

    /// Spawns a bootstrap against this emulator with the environment Lambda
    /// sets, plus `env`.
    pub fn spawn(&self, binary: &Path, env: &[(&str, &str)]) -> std::io::Result<Child> {
        self.command(binary, env).spawn()
    }

    /// The command [`Emulator::spawn`] runs, to adjust (e.g. capture stdout).
    pub fn command(&self, binary: &Path, env: &[(&str, &str)]) -> Command {
        let name = binary
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("function")
            .to_owned();
        let mut cmd = Command::new(binary);
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", self.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/27/[$LATEST]emulator")
            .env("AWS_REGION", "us-east-1")
            .env("LAMBDA_TASK_ROOT", "/var/task")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    }
}

async fn next(State(s): State<Shared>) -> Response {
    *s.next_calls.lock().expect("lock") += 1;
    let pending = {
        let mut q = s.queue.lock().await;
        q.recv().await
    };
    let Some(p) = pending else {
        return StatusCode::GONE.into_response();
    };
    s.in_flight
        .lock()
        .expect("lock")
        .insert(p.id.clone(), p.done);
    let deadline = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() + 30_000)
        .unwrap_or_default();
    let mut h = HeaderMap::new();
    let hv = |s: &str| HeaderValue::from_str(s).expect("header value");
    h.insert("lambda-runtime-aws-request-id", hv(&p.id));
    h.insert("lambda-runtime-deadline-ms", hv(&deadline.to_string()));
    h.insert(
        "lambda-runtime-invoked-function-arn",
        hv("arn:aws:lambda:us-east-1:123456789012:function:emulated"),
    );
    h.insert(
        "lambda-runtime-trace-id",
        hv("Root=1-00000000-000000000000000000000000;Sampled=0"),
    );
    h.insert("content-type", hv("application/json"));
    (h, p.payload).into_response()
}

fn finish(s: &Shared, id: &str, o: Outcome) -> StatusCode {
    match s.in_flight.lock().expect("lock").remove(id) {
        Some(tx) => {
            let _ = tx.send(o);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

fn json_or_string(b: &Bytes) -> Value {
    serde_json::from_slice(b)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned()))
}

async fn response(
    State(s): State<Shared>,
    UrlPath(id): UrlPath<String>,
    body: Bytes,
) -> StatusCode {
    finish(&s, &id, Outcome::Response(json_or_string(&body)))
}

async fn error(State(s): State<Shared>, UrlPath(id): UrlPath<String>, body: Bytes) -> StatusCode {
    finish(&s, &id, Outcome::Error(json_or_string(&body)))
}

async fn init_error(State(s): State<Shared>, body: Bytes) -> StatusCode {
    *s.init_error.lock().expect("lock") = Some(json_or_string(&body));
    StatusCode::ACCEPTED
}
