//! The upload API: an axum router that runs unchanged under `lambda_http`
//! (API Gateway HTTP API, payload v2) and under `axum::serve` locally.
//!
//! One module per route under `routes`; the router and the OpenAPI document
//! are built from the same handlers (`api`).

pub mod auth;
pub mod error;
pub mod presign;

mod api;
mod log;
mod metrics;
mod mime;
mod routes;
mod state;

pub use api::{openapi, router};
pub use state::{AppState, SharedState};
