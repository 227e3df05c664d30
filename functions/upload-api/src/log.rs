//! One JSON log line per request.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use crate::error::Code;

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
pub struct RequestLog(Arc<Mutex<LogFields>>);

impl RequestLog {
    pub fn update(&self, f: impl FnOnce(&mut LogFields)) {
        if let Ok(mut g) = self.0.lock() {
            f(&mut g);
        }
    }
}

/// One JSON line per request: method, route, status, latency, job, tenant,
/// trace id, error code. Never headers, bodies, tokens or URLs. Echoes the
/// trace id in `X-Trace-Id`.
pub async fn log_request(mut req: Request, next: Next) -> Response {
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
    let code = res.extensions().get::<Code>().map(|c| c.as_str());
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
