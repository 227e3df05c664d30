//! `GET /upload/status/{job_id}`: one of the caller's jobs.

use axum::Json;
use axum::extract::State;
use upload_core::{JobId, repo};

use super::extract::Caller;
use super::job::JobBody;
use super::params::PathParams;
use crate::SharedState;
use crate::error::{ApiError, Problem};

/// One of the caller's jobs.
///
/// Another tenant's job answers exactly as a job that does not exist.
#[utoipa::path(
    get,
    path = "/upload/status/{job_id}",
    operation_id = "getUploadStatus",
    params(Caller, ("job_id" = uuid::Uuid, Path, description = "The job_id init returned.")),
    responses(
        (status = 200, description = "The job.", body = JobBody),
        (status = 400, response = Problem<400>),
        (status = 401, response = Problem<401>),
        (status = 404, response = Problem<404>),
        (status = 500, response = Problem<500>),
        (status = 503, response = Problem<503>),
    )
)]
pub async fn status(
    State(state): State<SharedState>,
    caller: Caller,
    PathParams(job_id): PathParams<String>,
) -> Result<Json<JobBody>, ApiError> {
    let id = JobId::parse(&job_id)
        .map_err(|_| ApiError::bad_request("job_id", "job_id must be a UUID."))?;
    caller.log.update(|f| f.job_id = Some(id.to_string()));
    let job = repo::get_job(&state.db, caller.id.tenant, id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such job."))?;
    Ok(Json(JobBody::from(&job)))
}
