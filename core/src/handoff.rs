//! The hand-off to the worker: the EventBridge event the events function puts
//! on `HANDOFF_EVENT_BUS` once a job is `processing` with its object, and
//! what a worker needs to read it.
//!
//! The event is `source: "upload-jobs"`, `detail-type: "Upload Received"`,
//! its detail an [`UploadReceived`]. Delivery is at least once (a redelivered
//! S3 event publishes again): a worker dedupes by `job_id`, and reads the
//! object pinned to `etag` (`If-Match`), so a replaced object is noticed
//! instead of processed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{JobId, JobType, TenantId};
use crate::repo::{AdvanceOutcome, AdvanceResult, UploadedObject};

/// The event's `source`.
pub const SOURCE: &str = "upload-jobs";
/// The event's `detail-type`.
pub const DETAIL_TYPE: &str = "Upload Received";

/// The event's `detail`: the job and the exact object it advanced with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadReceived {
    pub job_id: JobId,
    pub tenant_id: TenantId,
    pub job_type: JobType,
    /// The object's key in `bucket`.
    pub file_key: String,
    pub bucket: String,
    /// The object's size in bytes, as S3 reported it.
    pub size: Option<i64>,
    /// The object's ETag, without quotes: read it with `If-Match` this value.
    pub etag: Option<String>,
    /// S3's event sequencer of the object (`None` when a HEAD found it).
    pub sequencer: Option<String>,
    pub mime_type: Option<String>,
    pub file_name: Option<String>,
    pub interaction_id: Uuid,
    pub trace_id: Option<String>,
    pub account_id: Option<String>,
}

impl UploadReceived {
    /// The hand-off for an object `advance_batch` judged, when its job is
    /// `processing` with that object: moved by this statement, or already
    /// there (a redelivered event, so a lost publish is repaired by the
    /// retry; only when the job recorded its object's identity). `None` for
    /// every other outcome.
    pub fn for_result(
        bucket: &str,
        object: &UploadedObject,
        result: &AdvanceResult,
    ) -> Option<Self> {
        let (job, details) = (result.job.as_ref()?, result.details.as_ref()?);
        // A redelivered record hands off only when the job's object is
        // known to be this one: rows without a recorded identity (advanced
        // before migration 003, or by the Python service) cannot tell.
        let hands_off = match result.outcome {
            AdvanceOutcome::Advanced => true,
            AdvanceOutcome::AlreadyPast {
                status: crate::JobStatus::Processing,
            } => details.object_recorded,
            _ => false,
        };
        hands_off.then(|| Self {
            job_id: job.job_id,
            tenant_id: job.tenant_id,
            job_type: details.job_type,
            file_key: object.key().to_owned(),
            bucket: bucket.to_owned(),
            size: object.size,
            etag: object.etag.clone(),
            sequencer: object.sequencer.clone(),
            mime_type: details.mime_type.clone(),
            file_name: details.file_name.clone(),
            interaction_id: job.interaction_id,
            trace_id: job.trace_id.clone(),
            account_id: details.account_id.clone(),
        })
    }
}

/// The event as an EventBridge rule delivers it to its target (an SQS
/// queue's message body, a Lambda's payload), and as the local stack writes
/// it to `handoff.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HandoffEvent {
    pub version: String,
    pub id: String,
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub source: String,
    pub account: String,
    pub time: DateTime<Utc>,
    pub region: String,
    #[serde(default)]
    pub resources: Vec<String>,
    pub detail: UploadReceived,
}

/// Why a message is not an "Upload Received" hand-off.
#[derive(Debug, thiserror::Error)]
pub enum HandoffParseError {
    #[error("not a hand-off event: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a hand-off event: source {event_source:?}, detail-type {detail_type:?}")]
    OtherEvent {
        event_source: String,
        detail_type: String,
    },
}

impl HandoffEvent {
    /// Parses one delivered event (an SQS message body, a line of
    /// `handoff.jsonl`), checking its source and detail-type.
    pub fn parse(json: &str) -> Result<Self, HandoffParseError> {
        // The envelope first: another event on the same queue is named as
        // such, not as a detail that does not parse.
        let envelope: Envelope = serde_json::from_str(json)?;
        if envelope.source != SOURCE || envelope.detail_type != DETAIL_TYPE {
            return Err(HandoffParseError::OtherEvent {
                event_source: envelope.source,
                detail_type: envelope.detail_type,
            });
        }
        Ok(serde_json::from_str(json)?)
    }
}

#[derive(Deserialize)]
struct Envelope {
    source: String,
    #[serde(rename = "detail-type")]
    detail_type: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"{"version":"0","id":"6f1c7a0e","detail-type":"Upload Received",
      "source":"upload-jobs","account":"123456789012","time":"2026-11-28T10:15:02Z",
      "region":"us-east-1","resources":[],"detail":{
        "job_id":"5b0a4b8e-6f7e-4a43-9f55-3f8e2f0c1a22","tenant_id":"00000000-0000-4000-8000-000000000001",
        "job_type":"audio_transcription","file_key":"tenant/t/uploads/j/a.wav","bucket":"b","size":27,
        "etag":"0f34","sequencer":null,"mime_type":"audio/wav","file_name":"a.wav",
        "interaction_id":"9e7d2c4a-1b3f-4e5d-8c6b-7a9f0e1d2c3b","trace_id":null,"account_id":null}}"#;

    #[test]
    fn a_delivered_event_parses_into_its_typed_detail() {
        let e = HandoffEvent::parse(EVENT).unwrap();
        assert_eq!(e.detail.job_type, JobType::AudioTranscription);
        assert_eq!(
            (e.detail.size, e.detail.etag.as_deref()),
            (Some(27), Some("0f34"))
        );
        // And back: the detail is what the events function puts.
        let again = serde_json::to_value(&e.detail).unwrap();
        assert_eq!(again["job_id"], "5b0a4b8e-6f7e-4a43-9f55-3f8e2f0c1a22");
    }

    #[test]
    fn another_event_on_the_same_queue_is_named_as_such() {
        let other = EVENT.replace("Upload Received", "Object Created");
        let err = HandoffEvent::parse(&other).unwrap_err();
        assert!(matches!(err, HandoffParseError::OtherEvent { .. }), "{err}");
        let other = r#"{"source":"aws.s3","detail-type":"Object Created","detail":{"x":1}}"#;
        assert!(matches!(
            HandoffEvent::parse(other),
            Err(HandoffParseError::OtherEvent { .. })
        ));
        assert!(matches!(
            HandoffEvent::parse("not json"),
            Err(HandoffParseError::Json(_))
        ));
    }
}
