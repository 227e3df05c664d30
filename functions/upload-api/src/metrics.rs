//! The API's CloudWatch metrics (Embedded Metric Format lines, see
//! `upload_core::metrics`): per request, `Requests` by route template and
//! status class; per `POST /upload/init`, `InitLatency`.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use upload_core::metrics::Unit;

use crate::SharedState;

/// The `Route` of a request no route matched.
pub const UNMATCHED: &str = "unmatched";
const INIT_ROUTE: &str = "/upload/init";

/// Emits `Requests` = 1 with dimensions `Route` (the matched route template,
/// or `unmatched`) and `StatusClass` (`2xx`, `4xx`, `5xx`); for
/// `POST /upload/init` also `InitLatency`, from the request reaching the
/// router to its response (whatever its status), in milliseconds.
pub async fn record_metrics(
    State(state): State<SharedState>,
    req: Request,
    next: Next,
) -> Response {
    let metrics = &state.metrics;
    if metrics.is_off() {
        return next.run(req).await;
    }
    let started = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    let is_init = req.method() == Method::POST && route == INIT_ROUTE;
    let res = next.run(req).await;
    if is_init {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        metrics.emit(&[], &[("InitLatency", ms, Unit::Milliseconds)]);
    }
    metrics.emit(
        &[
            ("Route", &route),
            ("StatusClass", status_class(res.status())),
        ],
        &[("Requests", 1.0, Unit::Count)],
    );
    res
}

/// `1xx` .. `5xx`.
pub fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}
