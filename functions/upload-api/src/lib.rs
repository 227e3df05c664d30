//! The upload API: an axum router that runs unchanged under `lambda_http`
//! (API Gateway HTTP API, payload v2) and under `axum::serve` locally.

pub mod auth;
pub mod error;
pub mod handlers;
pub mod mime;
pub mod presign;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use upload_shared::objects::ObjectHead;
use upload_shared::{Config, Db};

use crate::auth::Authenticator;
use crate::error::{ApiError, ErrorCode};
use crate::presign::Presigner;

/// Everything a request needs, built once at init.
pub struct AppState {
    pub config: Config,
    pub db: Db,
    pub presigner: Presigner,
    pub objects: Arc<dyn ObjectHead>,
    pub auth: Authenticator,
}

impl AppState {
    /// Builds the state from configuration: pool (not connected yet), S3
    /// client from the environment's credentials, JWT key.
    pub async fn from_config(config: Config) -> Result<Arc<Self>, String> {
        let db = Db::new(config.db_settings("upload-api"))
            .map_err(|e| format!("invalid configuration: DATABASE_URL {e}"))?;
        let sdk = upload_shared::s3::sdk_config(&config).await;
        let client = upload_shared::s3::client_from_sdk_config(&config, &sdk);
        Ok(Arc::new(Self::new(
            config,
            db,
            client,
            sdk.credentials_provider(),
        )))
    }

    pub fn new(
        config: Config,
        db: Db,
        client: aws_sdk_s3::Client,
        credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    ) -> Self {
        let objects = Arc::new(upload_shared::s3::S3Objects {
            client: client.clone(),
            bucket: config.upload_bucket.clone(),
        });
        Self::with_objects(config, db, client, credentials, objects)
    }

    pub fn with_objects(
        config: Config,
        db: Db,
        client: aws_sdk_s3::Client,
        credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
        objects: Arc<dyn ObjectHead>,
    ) -> Self {
        let presigner = Presigner {
            client,
            bucket: config.upload_bucket.clone(),
            ttl: config.upload_url_ttl,
            credentials,
        };
        let auth = Authenticator::new(config.jwt.as_ref(), config.allow_legacy_header_auth);
        Self {
            config,
            db,
            presigner,
            objects,
            auth,
        }
    }
}

pub type SharedState = Arc<AppState>;

/// The routes, in one table: the router is built from it and the OpenAPI
/// test compares it with `openapi.yaml`.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/upload/init"),
    ("GET", "/upload/status/{job_id}"),
    ("GET", "/upload/jobs"),
    ("POST", "/upload/complete"),
];

fn handler_for(method: &str, path: &str) -> MethodRouter<SharedState> {
    match (method, path) {
        ("POST", "/upload/init") => post(handlers::init),
        ("GET", "/upload/status/{job_id}") => get(handlers::status),
        ("GET", "/upload/jobs") => get(handlers::list),
        ("POST", "/upload/complete") => post(handlers::complete),
        _ => unreachable!("every ROUTES entry has a handler"),
    }
}

pub fn router(state: SharedState) -> Router {
    let mut r = Router::new();
    for (method, path) in ROUTES {
        r = r.route(path, handler_for(method, path));
    }
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("No such route.")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "This route does not accept that method.",
    )
}

/// Fields a handler adds to its request's log line.
#[derive(Debug, Default, Clone)]
pub struct LogFields {
    pub job_id: Option<String>,
    pub tenant_id: Option<String>,
    pub trace_id: Option<String>,
    pub auth: Option<&'static str>,
}

/// Shared between the logging middleware and the handler.
#[derive(Clone, Default)]
pub struct RequestLog(pub Arc<Mutex<LogFields>>);

impl RequestLog {
    pub fn update(&self, f: impl FnOnce(&mut LogFields)) {
        if let Ok(mut g) = self.0.lock() {
            f(&mut g);
        }
    }
}

/// One JSON line per request: method, route, status, latency, job, tenant,
/// trace id, error code. Never headers, bodies, tokens or URLs.
async fn log_request(mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let log = RequestLog::default();
    req.extensions_mut().insert(log.clone());
    let mut res = next.run(req).await;
    let f = log.0.lock().map(|g| g.clone()).unwrap_or_default();
    let code = res.extensions().get::<ErrorCode>().map(|c| c.0);
    if let Some(t) = &f.trace_id
        && let Ok(v) = HeaderValue::from_str(t)
    {
        res.headers_mut().insert("x-trace-id", v);
    }
    let status = res.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::error!(method = %method, route, status, latency_ms, job_id = f.job_id, tenant_id = f.tenant_id, trace_id = f.trace_id, auth = f.auth, code, "request");
    } else {
        tracing::info!(method = %method, route, status, latency_ms, job_id = f.job_id, tenant_id = f.tenant_id, trace_id = f.trace_id, auth = f.auth, code, "request");
    }
    res
}
