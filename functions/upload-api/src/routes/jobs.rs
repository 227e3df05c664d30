//! `GET /upload/jobs`: the caller's tenant's jobs, newest first, a page at a
//! time.

use std::fmt;
use std::str::FromStr;

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike};
use serde::{Deserialize, Serialize};
use upload_core::repo::{self, PageCursor};
use upload_core::{JobId, JobStatus};
use utoipa::openapi::Ref;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{IntoParams, ToSchema};

use super::extract::Caller;
use super::job::{JobBody, Status};
use super::params::QueryParams;
use crate::SharedState;
use crate::error::{ApiError, Problem};

/// Page size when `limit` is absent or empty.
const DEFAULT_LIMIT: u32 = 20;
/// Largest page.
const MAX_LIMIT: u32 = 100;

/// The query, as sent; an empty value is the same as an absent one.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    #[param(schema_with = status_filter_schema)]
    status: Option<String>,
    #[param(schema_with = limit_schema)]
    limit: Option<String>,
    /// next_cursor of the previous page (opaque).
    #[param(max_length = 76, pattern = "^[A-Za-z0-9_-]*$")]
    cursor: Option<String>,
}

/// The empty string: what `?status=` and `?limit=` send.
fn empty_string() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([""]))
}

fn status_filter_schema() -> Schema {
    OneOfBuilder::new()
        .description(Some("Only jobs in this status; empty means any."))
        .item(Ref::from_schema_name(<Status as ToSchema>::name()))
        .item(empty_string())
        .into()
}

fn limit_schema() -> Schema {
    OneOfBuilder::new()
        .description(Some("Jobs per page, 1 to 100; absent or empty means 20."))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(MAX_LIMIT))
                .default(Some(DEFAULT_LIMIT.into())),
        )
        .item(empty_string())
        .into()
}

/// Where the next page starts: the last job's creation time and id,
/// base64url, opaque to clients.
struct Cursor(PageCursor);

/// The years a job's creation time can have: those RFC 3339 (the API's
/// timestamps) can write, all of which Postgres stores. A cursor outside
/// them was not issued here; passed on to the database, a time before
/// 4714 BC would fail there ("timestamp out of range", SQLSTATE 22008).
const CURSOR_YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.0;
        let raw = format!("{}:{}", c.created_at.timestamp_micros(), c.id);
        f.write_str(&URL_SAFE_NO_PAD.encode(raw))
    }
}

impl FromStr for Cursor {
    type Err = ApiError;

    fn from_str(s: &str) -> Result<Self, ApiError> {
        let decode = || {
            let raw = URL_SAFE_NO_PAD.decode(s).ok()?;
            let (micros, id) = std::str::from_utf8(&raw).ok()?.split_once(':')?;
            Some(PageCursor {
                created_at: DateTime::from_timestamp_micros(micros.parse().ok()?)
                    .filter(|t| CURSOR_YEARS.contains(&t.year()))?,
                id: JobId::parse(id).ok()?,
            })
        };
        decode().map(Cursor).ok_or_else(|| {
            ApiError::bad_request("cursor", "cursor is not a cursor this API issued.")
        })
    }
}

/// The validated query.
struct ListRequest {
    status: Option<JobStatus>,
    limit: u32,
    after: Option<Cursor>,
}

impl TryFrom<ListQuery> for ListRequest {
    type Error = ApiError;

    /// Checked in this order: status, limit, cursor.
    fn try_from(q: ListQuery) -> Result<Self, ApiError> {
        let present = |v: Option<String>| v.filter(|s| !s.is_empty());
        let status = present(q.status)
            .map(|s| {
                s.parse::<JobStatus>().map_err(|_| {
                    ApiError::bad_request(
                        "status",
                        format!(
                            "status {s:?} is not one of queued, processing, succeeded, failed."
                        ),
                    )
                })
            })
            .transpose()?;
        let limit = match present(q.limit) {
            None => DEFAULT_LIMIT,
            Some(l) => l
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::bad_request("limit", "limit must be an integer from 1 to 100.")
                })?,
        };
        let after = present(q.cursor).map(|c| c.parse()).transpose()?;
        Ok(Self {
            status,
            limit,
            after,
        })
    }
}

/// A page of jobs.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobsPage {
    jobs: Vec<JobBody>,
    /// The cursor of the next page; null on the last page.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// The caller's tenant's jobs, newest first (keyset pagination).
#[utoipa::path(
    get,
    path = "/upload/jobs",
    operation_id = "listUploadJobs",
    params(Caller, ListQuery),
    responses(
        (status = 200, description = "A page of jobs.", body = JobsPage),
        (status = 400, response = Problem<400>),
        (status = 401, response = Problem<401>),
        (status = 500, response = Problem<500>),
        (status = 503, response = Problem<503>),
    )
)]
pub async fn list(
    State(state): State<SharedState>,
    caller: Caller,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Json<JobsPage>, ApiError> {
    let q = ListRequest::try_from(q)?;
    let after = q.after.map(|c| c.0);
    let (jobs, next) =
        repo::list_jobs(&state.db, caller.id.tenant, q.status, q.limit, after).await?;
    Ok(Json(JobsPage {
        jobs: jobs.iter().map(JobBody::from).collect(),
        next_cursor: next.map(|c| Cursor(c).to_string()),
    }))
}
