//! The events function: S3 ObjectCreated notifications (direct or through
//! SQS) advance jobs; the scheduled invocation reaps stale ones.
//!
//! At-least-once safe: every transition is a conditional UPDATE of one job
//! (found by the id in the object's key, with its tenant and key checked) and
//! `status = 'queued'`, so duplicates, late and out-of-order events change
//! nothing and succeed. All objects of one invocation go to the database in
//! ONE statement.
//!
//! Modules: `payload` (what arrives, deserialized once), `object_created`
//! (the one record an uploaded object travels as), `notifications` (S3 and
//! SQS invocations), `reaper` (the schedule), `handoff` (the "Upload
//! Received" event for the worker), `log` (outcome log lines).

use std::sync::Arc;

use serde_json::{Value, json};
use upload_core::objects::ObjectStore;
use upload_core::{Config, Db, DbError};

pub mod handoff;
mod log;
mod metrics;
mod notifications;
mod object_created;
mod payload;
mod reaper;

pub use object_created::{ObjectCreated, decode_s3_key};
pub use payload::{
    Payload, S3Bucket, S3Entity, S3Notification, S3Object, S3Record, S3TestEvent, ScheduledEvent,
    SqsBatch, Unrecognized,
};

pub struct EventsState {
    pub config: Config,
    pub db: Db,
    pub objects: Arc<dyn ObjectStore>,
    /// Where "Upload Received" goes; `None` (no `HANDOFF_EVENT_BUS`): no
    /// hand-off.
    pub handoff: Option<Arc<dyn handoff::Publish>>,
    /// EMF metric lines (`Metrics::off()` outside Lambda).
    pub metrics: upload_core::metrics::Metrics,
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// Transient: Lambda retries the invocation (then the on-failure
    /// destination takes it).
    #[error("database unavailable, nothing was recorded: {0}")]
    Database(#[from] DbError),
    /// Some hand-offs could not be put on the bus; the transitions are
    /// committed, and the retry of the same event publishes them.
    #[error("{failed} of {total} hand-off events could not be put on the bus")]
    Handoff { failed: usize, total: usize },
    /// The payload is none of the shapes this function handles.
    #[error("unrecognized event: {0}")]
    Unrecognized(String),
}

/// The one handler: dispatches on the payload's shape.
pub async fn handle(state: &EventsState, payload: Payload) -> Result<Value, EventsError> {
    match payload {
        Payload::S3(notification) => notifications::handle_s3(state, notification).await,
        Payload::Sqs(batch) => notifications::handle_sqs(state, batch).await,
        Payload::S3TestEvent(_) => {
            tracing::info!(event = "s3_test_event", "s3:TestEvent; nothing to do");
            Ok(json!({"test_event": true}))
        }
        Payload::Scheduled(_) => {
            let r = reaper::reap(state).await?;
            metrics::reaper(&state.metrics, &r);
            Ok(
                json!({"claimed": r.claimed, "recovered": r.recovered, "expired": r.expired,
                      "timed_out": r.timed_out, "head_errors": r.head_errors,
                      "multipart_in_progress": r.multipart_in_progress,
                      "handoffs_published": r.handoffs_published, "handoff_failures": r.handoff_failures}),
            )
        }
        Payload::Unrecognized(payload) => {
            let keys = &payload.top_level_keys;
            tracing::error!(event = "unrecognized_event", top_level_keys = ?keys, "payload is not S3, SQS, s3:TestEvent or a scheduled event");
            Err(EventsError::Unrecognized(format!(
                "expected an S3 notification, an SQS batch, an s3:TestEvent or a scheduled event; got keys {keys:?}"
            )))
        }
    }
}

impl From<EventsError> for lambda_runtime::Diagnostic {
    fn from(e: EventsError) -> Self {
        let error_type = match &e {
            EventsError::Database(_) => "DatabaseUnavailable",
            EventsError::Handoff { .. } => "HandoffFailed",
            EventsError::Unrecognized(_) => "UnrecognizedEvent",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}
