//! S3 notifications, direct or in an SQS batch: every object of one
//! invocation goes to the database in ONE statement, and each outcome is
//! logged.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use serde_json::{Value, json};
use upload_core::repo;

use crate::object_created::ObjectCreated;
use crate::payload::{Payload, S3Notification, SqsBatch};
use crate::{EventsError, EventsState, log};

/// A direct S3 notification. A database failure fails the invocation.
pub(crate) async fn handle_s3(
    state: &EventsState,
    notification: S3Notification,
) -> Result<Value, EventsError> {
    let records = notification.records.len();
    let created = notification.objects_created(&state.config.upload_bucket, None);
    let results = repo::advance_batch(&state.db, &created, state.config.max_upload_bytes).await?;
    log::outcomes("s3", &created, &results);
    Ok(json!({"records": records, "processed": results.len()}))
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
            Vec::new()
        }
        Err(e) => {
            tracing::error!(event = "batch_failed", error = %e, retryable = e.is_transient(), "database failure; every message with records is reported failed");
            failed_messages(&created)
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

/// Every message that contributed an object, once each, in batch order.
fn failed_messages(created: &[ObjectCreated]) -> Vec<BatchItemFailure> {
    let mut ids: Vec<&str> = created
        .iter()
        .filter_map(|c| c.message_id.as_deref())
        .collect();
    ids.dedup();
    ids.into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id.to_owned();
            failure
        })
        .collect()
}
