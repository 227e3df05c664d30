//! The events function: S3 ObjectCreated notifications (direct or through
//! SQS) advance jobs; the scheduled invocation reaps stale ones.
//!
//! At-least-once safe: every transition is a conditional UPDATE keyed by
//! (tenant, file_key) and `status = 'queued'`, so duplicates, late and
//! out-of-order events change nothing and succeed. All records of one
//! invocation go to the database in ONE statement.

use std::sync::Arc;

use aws_lambda_events::event::s3::S3EventRecord;
use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};
use serde_json::{Value, json};
use upload_shared::objects::ObjectHead;
use upload_shared::repo::{self, AdvanceItem, AdvanceOutcome, AdvanceResult};
use upload_shared::{Config, Db, DbError, FileKey, JobId, TenantId};

pub struct EventsState {
    pub config: Config,
    pub db: Db,
    pub objects: Arc<dyn ObjectHead>,
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// Transient: Lambda retries the invocation (then the on-failure
    /// destination takes it).
    #[error("database unavailable, nothing was recorded: {0}")]
    Database(#[from] DbError),
    /// The payload is none of the shapes this function handles.
    #[error("unrecognized event: {0}")]
    Unrecognized(String),
}

/// What kind of payload arrived, decided by its shape.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    S3,
    Sqs,
    S3TestEvent,
    Scheduled,
    Unknown,
}

pub fn classify(v: &Value) -> Kind {
    if let Some(records) = v.get("Records").and_then(Value::as_array) {
        let source = records
            .first()
            .and_then(|r| r.get("eventSource").or_else(|| r.get("EventSource")))
            .and_then(Value::as_str);
        return match source {
            Some("aws:sqs") => Kind::Sqs,
            Some("aws:s3") | None => Kind::S3,
            Some(_) => Kind::Unknown,
        };
    }
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        return Kind::S3TestEvent;
    }
    if v.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event") {
        return Kind::Scheduled;
    }
    Kind::Unknown
}

/// Decodes an S3 event key: `+` is a space, `%XX` are UTF-8 bytes.
pub fn decode_s3_key(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// One record that made it to the database batch.
struct Pending {
    /// Index of the SQS message it came from (0 for direct events).
    message: usize,
    key: String,
    sequencer: Option<String>,
}

/// Parses the records of one S3 notification; records that can never be
/// processed are logged and dropped (retrying could not help).
fn collect_records(
    records: &[Value],
    message: usize,
    bucket: &str,
    items: &mut Vec<AdvanceItem>,
    pending: &mut Vec<Pending>,
) {
    for raw in records {
        let rec: S3EventRecord = match serde_json::from_value(raw.clone()) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(event = "malformed_record", error = %e, "skipped an S3 record that does not parse");
                continue;
            }
        };
        let name = rec.event_name.as_deref().unwrap_or("");
        if !name.starts_with("ObjectCreated:") {
            tracing::info!(
                event = "ignored_event",
                event_name = name,
                "not an ObjectCreated record; skipped"
            );
            continue;
        }
        let rec_bucket = rec.s3.bucket.name.as_deref().unwrap_or("");
        if rec_bucket != bucket {
            tracing::warn!(
                event = "foreign_bucket",
                bucket = rec_bucket,
                "record for another bucket; skipped"
            );
            continue;
        }
        let Some(raw_key) = rec.s3.object.key.as_deref() else {
            tracing::warn!(
                event = "malformed_record",
                "record without an object key; skipped"
            );
            continue;
        };
        let Some(key) = decode_s3_key(raw_key) else {
            tracing::warn!(
                event = "foreign_key",
                raw_key,
                "key is not valid percent-encoded UTF-8; skipped"
            );
            continue;
        };
        let parsed = match FileKey::parse(&key) {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(event = "foreign_key", key = %key, reason = %e, "key outside the upload layout; skipped");
                continue;
            }
        };
        items.push(AdvanceItem {
            tenant_id: parsed.tenant(),
            file_key: key.clone(),
            size: rec.s3.object.size,
        });
        pending.push(Pending {
            message,
            key,
            sequencer: rec.s3.object.sequencer.clone(),
        });
    }
}

fn log_outcome(source: &str, p: &Pending, r: &AdvanceResult) {
    let (job_id, tenant_id, trace_id, interaction_id) = match &r.job {
        Some(t) => (
            Some(t.job_id.to_string()),
            Some(t.tenant_id.to_string()),
            t.trace_id.clone(),
            Some(t.interaction_id.to_string()),
        ),
        None => (None, None, None, None),
    };
    let key = p.key.as_str();
    let seq = p.sequencer.as_deref();
    match &r.outcome {
        AdvanceOutcome::Advanced => tracing::info!(
            event = "advanced",
            source,
            job_id,
            tenant_id,
            trace_id,
            interaction_id,
            key,
            sequencer = seq,
            status = "processing",
            "job advanced to processing"
        ),
        AdvanceOutcome::Rejected { code } => tracing::warn!(
            event = "rejected",
            source,
            code = code.as_str(),
            job_id,
            tenant_id,
            trace_id,
            interaction_id,
            key,
            sequencer = seq,
            status = "failed",
            "upload rejected"
        ),
        AdvanceOutcome::AlreadyPast { status } => tracing::info!(
            event = "duplicate",
            source,
            job_id,
            tenant_id,
            trace_id,
            interaction_id,
            key,
            sequencer = seq,
            status = status.as_str(),
            "job already past queued; nothing changed"
        ),
        AdvanceOutcome::Concurrent | AdvanceOutcome::DuplicateInBatch => tracing::info!(
            event = "duplicate",
            source,
            job_id,
            tenant_id,
            trace_id,
            interaction_id,
            key,
            sequencer = seq,
            "handled by a concurrent or earlier record; nothing changed"
        ),
        AdvanceOutcome::UnknownKey => tracing::warn!(
            event = "unknown_key",
            source,
            key,
            sequencer = seq,
            "no job for this key; skipped"
        ),
    }
}

/// Parses and decodes an S3 notification's records into what the database
/// batch needs (records that can never be processed are logged and dropped).
pub fn parse_s3_notification(event: &Value, bucket: &str) -> Vec<AdvanceItem> {
    let records = event["Records"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let (mut items, mut pending) = (Vec::new(), Vec::new());
    collect_records(records, 0, bucket, &mut items, &mut pending);
    items
}

/// Direct S3 notification. A database failure fails the invocation.
pub async fn handle_s3(state: &EventsState, event: &Value) -> Result<Value, EventsError> {
    let records = event["Records"].as_array().cloned().unwrap_or_default();
    let (mut items, mut pending) = (Vec::new(), Vec::new());
    collect_records(
        &records,
        0,
        &state.config.upload_bucket,
        &mut items,
        &mut pending,
    );
    let results = repo::advance_batch(&state.db, &items, state.config.max_upload_bytes).await?;
    for (p, r) in pending.iter().zip(&results) {
        log_outcome("s3", p, r);
    }
    Ok(json!({"records": records.len(), "processed": results.len()}))
}

/// SQS batch of S3 notifications: failures are reported per message.
pub async fn handle_sqs(state: &EventsState, event: &Value) -> Result<Value, EventsError> {
    let messages: Vec<SqsMessage> = event["Records"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| match serde_json::from_value(m.clone()) {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(event = "malformed_message", error = %e, "SQS record does not parse; skipped");
                None
            }
        })
        .collect();
    let (mut items, mut pending) = (Vec::new(), Vec::new());
    for (i, m) in messages.iter().enumerate() {
        let body: Value = match m.body.as_deref().map(serde_json::from_str) {
            Some(Ok(v)) => v,
            _ => {
                tracing::warn!(
                    event = "malformed_message",
                    message_id = m.message_id.as_deref(),
                    "SQS body is not an S3 notification; skipped"
                );
                continue;
            }
        };
        match classify(&body) {
            Kind::S3 => {
                let recs = body["Records"].as_array().cloned().unwrap_or_default();
                collect_records(
                    &recs,
                    i,
                    &state.config.upload_bucket,
                    &mut items,
                    &mut pending,
                );
            }
            Kind::S3TestEvent => tracing::info!(
                event = "s3_test_event",
                message_id = m.message_id.as_deref(),
                "s3:TestEvent; nothing to do"
            ),
            other => {
                tracing::warn!(event = "malformed_message", kind = ?other, message_id = m.message_id.as_deref(), "SQS body is not an S3 notification; skipped")
            }
        }
    }
    let mut failures = Vec::new();
    match repo::advance_batch(&state.db, &items, state.config.max_upload_bytes).await {
        Ok(results) => {
            for (p, r) in pending.iter().zip(&results) {
                log_outcome("sqs", p, r);
            }
        }
        Err(e) => {
            tracing::error!(event = "batch_failed", error = %e, retryable = e.is_transient(), "database failure; every message with records is reported failed");
            let mut failed: Vec<usize> = pending.iter().map(|p| p.message).collect();
            failed.dedup();
            for i in failed {
                if let Some(id) = &messages[i].message_id {
                    let mut f = BatchItemFailure::default();
                    f.item_identifier = id.clone();
                    failures.push(f);
                }
            }
        }
    }
    let mut resp = SqsBatchResponse::default();
    resp.batch_item_failures = failures;
    Ok(serde_json::to_value(resp).expect("serializable"))
}

/// What one reaper run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReapReport {
    pub claimed: usize,
    pub recovered: usize,
    pub expired: usize,
    pub timed_out: usize,
    pub head_errors: usize,
}

/// How long a reaper run holds its claim on a queued job.
pub const CLAIM_LEASE_SECS: f64 = 240.0;
/// Concurrent HEAD requests per run.
const HEAD_CONCURRENCY: usize = 8;

/// The scheduled reaper: queued jobs older than URL TTL + grace are checked
/// against S3 (object present: advanced as its event would have; absent:
/// failed/UPLOAD_EXPIRED); processing jobs older than the processing timeout
/// are failed/PROCESSING_TIMEOUT. Bounded per run; overlapping runs never
/// handle the same job (claims are leases).
pub async fn reap(state: &EventsState) -> Result<ReapReport, EventsError> {
    let cfg = &state.config;
    let older = (cfg.upload_url_ttl + cfg.reaper_grace).as_secs_f64();
    let claimed =
        repo::claim_stale_queued(&state.db, older, CLAIM_LEASE_SECS, cfg.reaper_batch).await?;
    let mut report = ReapReport {
        claimed: claimed.len(),
        ..Default::default()
    };

    // HEAD each claimed object, a few at a time.
    let sem = Arc::new(tokio::sync::Semaphore::new(HEAD_CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for (i, c) in claimed.iter().enumerate() {
        let objects = state.objects.clone();
        let key = c.file_key.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (i, objects.head(&key).await)
        });
    }
    let mut present = Vec::new();
    let mut absent: Vec<(TenantId, JobId)> = Vec::new();
    while let Some(joined) = set.join_next().await {
        let Ok((i, head)) = joined else { continue };
        let c = &claimed[i];
        match head {
            Ok(Some(info)) => present.push((
                i,
                AdvanceItem {
                    tenant_id: c.trace.tenant_id,
                    file_key: c.file_key.clone(),
                    size: Some(info.size),
                },
            )),
            Ok(None) => absent.push((c.trace.tenant_id, c.trace.job_id)),
            Err(e) => {
                // Left queued; the lease expires and a later run retries.
                report.head_errors += 1;
                tracing::warn!(event = "reaper_head_failed", job_id = %c.trace.job_id, tenant_id = %c.trace.tenant_id, error = %e, "HEAD failed; will retry on a later run");
            }
        }
    }
    present.sort_by_key(|(i, _)| *i);
    let items: Vec<AdvanceItem> = present.iter().map(|(_, it)| it.clone()).collect();
    let results = repo::advance_batch(&state.db, &items, cfg.max_upload_bytes).await?;
    for ((_, it), r) in present.iter().zip(&results) {
        if matches!(
            r.outcome,
            AdvanceOutcome::Advanced | AdvanceOutcome::Rejected { .. }
        ) {
            report.recovered += 1;
        }
        let p = Pending {
            message: 0,
            key: it.file_key.clone(),
            sequencer: None,
        };
        log_outcome("reaper", &p, r);
    }
    for t in repo::expire_queued(&state.db, &absent).await? {
        report.expired += 1;
        tracing::warn!(event = "expired", code = "UPLOAD_EXPIRED", job_id = %t.job_id, tenant_id = %t.tenant_id, trace_id = t.trace_id, interaction_id = %t.interaction_id, status = "failed", "no upload arrived; job failed");
    }
    for t in repo::timeout_processing(
        &state.db,
        cfg.processing_timeout.as_secs_f64(),
        cfg.reaper_batch,
    )
    .await?
    {
        report.timed_out += 1;
        tracing::warn!(event = "timed_out", code = "PROCESSING_TIMEOUT", job_id = %t.job_id, tenant_id = %t.tenant_id, trace_id = t.trace_id, interaction_id = %t.interaction_id, status = "failed", "processing took too long; job failed");
    }
    tracing::info!(
        event = "reaper_run",
        claimed = report.claimed,
        recovered = report.recovered,
        expired = report.expired,
        timed_out = report.timed_out,
        head_errors = report.head_errors,
        "reaper finished"
    );
    Ok(report)
}

/// The one handler: dispatches on the payload's shape.
pub async fn handle(state: &EventsState, event: Value) -> Result<Value, EventsError> {
    match classify(&event) {
        Kind::S3 => handle_s3(state, &event).await,
        Kind::Sqs => handle_sqs(state, &event).await,
        Kind::S3TestEvent => {
            tracing::info!(event = "s3_test_event", "s3:TestEvent; nothing to do");
            Ok(json!({"test_event": true}))
        }
        Kind::Scheduled => {
            let r = reap(state).await?;
            Ok(
                json!({"claimed": r.claimed, "recovered": r.recovered, "expired": r.expired,
                      "timed_out": r.timed_out, "head_errors": r.head_errors}),
            )
        }
        Kind::Unknown => {
            let keys: Vec<&str> = event
                .as_object()
                .map(|o| o.keys().map(String::as_str).collect())
                .unwrap_or_default();
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
            EventsError::Unrecognized(_) => "UnrecognizedEvent",
        };
        lambda_runtime::Diagnostic {
            error_type: error_type.to_owned(),
            error_message: e.to_string(),
        }
    }
}
