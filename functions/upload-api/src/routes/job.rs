//! The job status object, as `GET /upload/status/{job_id}` and
//! `GET /upload/jobs` send it, and the job status and type as the API names
//! them.

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use upload_core::{JobId, JobStatus, JobType, UploadJob};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

/// RFC 3339, UTC, microseconds.
fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn string_enum<'a>(values: impl IntoIterator<Item = &'a str>) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .into()
}

/// A job's status: `queued`, `processing`, `succeeded` or `failed`.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(transparent)]
pub struct Status(pub JobStatus);

impl PartialSchema for Status {
    fn schema() -> RefOr<Schema> {
        string_enum(JobStatus::ALL.iter().map(JobStatus::as_str))
    }
}

impl ToSchema for Status {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Status")
    }
}

/// A job's type: `audio_transcription` or `text_processing`.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(transparent)]
pub struct Kind(pub JobType);

impl PartialSchema for Kind {
    fn schema() -> RefOr<Schema> {
        string_enum(JobType::ALL.iter().map(JobType::as_str))
    }
}

impl ToSchema for Kind {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("JobType")
    }
}

/// One job. Every field is always present, null when unset.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = JobStatus)]
pub struct JobBody {
    // Fields in the order clients have always received them (alphabetical).
    #[schema(required = true, format = DateTime)]
    completed_at: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(required = true)]
    error_code: Option<String>,
    #[schema(required = true)]
    error_message: Option<String>,
    file_key: String,
    #[schema(required = true)]
    file_name: Option<String>,
    #[schema(required = true)]
    file_size: Option<i64>,
    interaction_id: Uuid,
    #[schema(value_type = Uuid)]
    job_id: JobId,
    job_type: Kind,
    #[schema(required = true)]
    mime_type: Option<String>,
    #[schema(required = true)]
    result_summary: Option<String>,
    #[schema(required = true, format = DateTime)]
    started_at: Option<String>,
    status: Status,
    #[schema(format = DateTime)]
    updated_at: String,
}

impl From<&UploadJob> for JobBody {
    fn from(j: &UploadJob) -> Self {
        Self {
            completed_at: j.completed_at.map(rfc3339),
            created_at: rfc3339(j.created_at),
            error_code: j.error_code.clone(),
            error_message: j.error_message.clone(),
            file_key: j.file_key.clone(),
            file_name: j.file_name.clone(),
            file_size: j.file_size,
            interaction_id: j.interaction_id,
            job_id: j.id,
            job_type: Kind(j.job_type),
            mime_type: j.mime_type.clone(),
            result_summary: j.result_summary.clone(),
            started_at: j.started_at.map(rfc3339),
            status: Status(j.status),
            updated_at: rfc3339(j.updated_at),
        }
    }
}
