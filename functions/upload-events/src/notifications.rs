//! S3 notifications, direct or in an SQS batch: every object of one
//! invocation goes to the database in ONE statement, and each outcome is
//! logged.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use serde_json::{Value, json};
use upload_core::repo;

use crate::object_created::ObjectCreated;
use crate::payload::{Payload, S3Notification, SqsBatch};
use crate::{EventsError, EventsState, handoff, log, metrics};

/// A direct S3 notification. A database failure fails the invocation.
pub(crate) async fn handle_s3(
    state: &EventsState,
    notification: S3Notification,
) -> Result<Value, EventsError> {
    let records = notification.records.len();
    let created = notification.objects_created(&state.config.upload_bucket, None);
    let results = repo::advance_batch(&state.db, &created, state.config.max_upload_bytes).await?;
    log::outcomes("s3", &created, &results);
    let handoff = hand_off(state, "s3", &created, &results).await;
    metrics::batch(&state.metrics, &results, &handoff);
    if handoff.failed > 0 {
        return Err(EventsError::Handoff {
            failed: handoff.failed,
            total: handoff.failed + handoff.published(),
        });
    }
    Ok(json!({"records": records, "processed": results.len(), "handed_off": handoff.published()}))
}

/// Publishes the batch's hand-offs (when a bus is configured).
async fn hand_off(
    state: &EventsState,
    source: &str,
    created: &[ObjectCreated],
    results: &[repo::AdvanceResult],
) -> handoff::HandoffReport {
    let bucket = &state.config.upload_bucket;
    handoff::hand_off(state.handoff.as_deref(), bucket, source, created, results).await
}

/// An SQS batch of S3 notifications: failures are reported per message.
pub(crate) async fn handle_sqs(state: &EventsState, batch: SqsBatch) -> Result<Value, EventsError> {
    let mut created = Vec::new();
    for message in batch.messages {
        match message {
            Ok(message) => created.extend(objects_in(message, &state.config.upload_bucket)),
            Err(error) => {
                tracing::warn!(event = "malformed_message", error = %error, "SQS record does not parse; skipped");
            }
        }
    }
    let failures = match repo::advance_batch(&state.db, &created, state.config.max_upload_bytes)
        .await
    {
        Ok(results) => {
            log::outcomes("sqs", &created, &results);
            let handoff = hand_off(state, "sqs", &created, &results).await;
            metrics::batch(&state.metrics, &results, &handoff);
            let unpublished: Vec<&ObjectCreated> = handoff
                .failed_records
                .iter()
                .map(|&i| &created[i])
                .collect();
            failed_messages(unpublished)
        }
        Err(e) => {
            tracing::error!(event = "batch_failed", error = %e, retryable = e.is_transient(), "database failure; every message with records is reported failed");
            failed_messages(created.iter())
        }
    };
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    Ok(serde_json::to_value(response).expect("serializable"))
}

/// The objects one SQS message carries. A body that is not an S3
/// notification is logged and dropped; an `s3:TestEvent` needs nothing.
fn objects_in(message: SqsMessage, bucket: &str) -> Vec<ObjectCreated> {
    let message_id = message.message_id.as_deref();
    let Some(Ok(body)) = message.body.as_deref().map(serde_json::from_str::<Payload>) else {
        tracing::warn!(
            event = "malformed_message",
            message_id,
            "SQS body is not an S3 notification; skipped"
        );
        return Vec::new();
    };
    let kind = match body {
        Payload::S3(notification) => return notification.objects_created(bucket, message_id),
        Payload::S3TestEvent(_) => {
            tracing::info!(
                event = "s3_test_event",
                message_id,
                "s3:TestEvent; nothing to do"
            );
            return Vec::new();
        }
        Payload::Sqs(_) => "Sqs",
        Payload::Scheduled(_) => "Scheduled",
        Payload::Unrecognized(_) => "Unknown",
    };
    tracing::warn!(
        event = "malformed_message",
        kind,
        message_id,
        "SQS body is not an S3 notification; skipped"
    );
    Vec::new()
}

/// Every message that contributed one of `failed`, once each, in order of
/// first appearance.
fn failed_messages<'a>(
    failed: impl IntoIterator<Item = &'a ObjectCreated>,
) -> Vec<BatchItemFailure> {
    let mut ids: Vec<&str> = Vec::new();
    for id in failed.into_iter().filter_map(|c| c.message_id.as_deref()) {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    ids.into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id.to_owned();
            failure
        })
        .collect()
}
