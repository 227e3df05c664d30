//! The hand-off to the worker: an "Upload Received" event on
//! `HANDOFF_EVENT_BUS` for every record whose job is `processing` with that
//! object, put after the transition committed. At least once: a redelivered
//! S3 event publishes again, which is how a lost PutEvents is repaired.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use tokio::task::JoinSet;
use upload_core::JobId;
use upload_core::handoff::{DETAIL_TYPE, SOURCE, UploadReceived};
use upload_core::repo::{AdvanceResult, UploadedObject};

/// PutEvents takes at most 10 entries per request.
pub const MAX_ENTRIES_PER_REQUEST: usize = 10;

/// One result per event, in order: `Err` says why that event was not put.
pub type PublishFuture<'a> = Pin<Box<dyn Future<Output = Vec<Result<(), String>>> + Send + 'a>>;

/// Where hand-offs go.
pub trait Publish: Send + Sync {
    fn publish<'a>(&'a self, events: &'a [UploadReceived]) -> PublishFuture<'a>;
}

/// PutEvents on one bus, ≤ 10 entries per request, the requests of one
/// invocation in parallel. A request that fails fails each of its entries;
/// an entry EventBridge refused (`FailedEntryCount`) fails alone.
#[derive(Clone)]
pub struct EventBridge {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridge {
    /// The client from the functions' shared AWS settings; `endpoint_url`
    /// (tests, the local stack) replaces EventBridge's.
    pub fn new(sdk: &aws_types::SdkConfig, bus: &str, endpoint_url: Option<&str>) -> Self {
        let mut b = aws_sdk_eventbridge::config::Builder::from(sdk);
        if let Some(url) = endpoint_url {
            b = b.endpoint_url(url);
        }
        Self {
            client: aws_sdk_eventbridge::Client::from_conf(b.build()),
            bus: bus.to_owned(),
        }
    }

    fn entry(&self, event: &UploadReceived) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(DETAIL_TYPE)
            .detail(serde_json::to_string(event).expect("the detail serializes"))
            .build()
    }
}

impl Publish for EventBridge {
    fn publish<'a>(&'a self, events: &'a [UploadReceived]) -> PublishFuture<'a> {
        Box::pin(async move {
            let mut requests = JoinSet::new();
            for (i, chunk) in events.chunks(MAX_ENTRIES_PER_REQUEST).enumerate() {
                let entries: Vec<_> = chunk.iter().map(|e| self.entry(e)).collect();
                let put = self.client.put_events().set_entries(Some(entries));
                let n = chunk.len();
                requests.spawn(async move { (i, put_chunk(put, n).await) });
            }
            let mut results = vec![Err("not sent".to_owned()); events.len()];
            while let Some(joined) = requests.join_next().await {
                let Ok((i, chunk_results)) = joined else {
                    continue;
                };
                let start = i * MAX_ENTRIES_PER_REQUEST;
                for (j, r) in chunk_results.into_iter().enumerate() {
                    results[start + j] = r;
                }
            }
            results
        })
    }
}

/// One PutEvents request of `n` entries: one result per entry.
async fn put_chunk(
    put: aws_sdk_eventbridge::operation::put_events::builders::PutEventsFluentBuilder,
    n: usize,
) -> Vec<Result<(), String>> {
    match put.send().await {
        Ok(out) => {
            let entries = out.entries();
            (0..n)
                .map(|i| match entries.get(i) {
                    Some(e) if e.error_code().is_none() && e.event_id().is_some() => Ok(()),
                    Some(e) => Err(format!(
                        "EventBridge refused the entry: {} {}",
                        e.error_code().unwrap_or("(no code)"),
                        e.error_message().unwrap_or("")
                    )),
                    None => Err("EventBridge answered without this entry".to_owned()),
                })
                .collect()
        }
        Err(e) => {
            let message = format!(
                "PutEvents failed: {}",
                aws_sdk_eventbridge::error::DisplayErrorContext(&e)
            );
            vec![Err(message); n]
        }
    }
}

/// The hand-offs of one batch: one event per job (the first record that hands
/// it off), with the indexes of every record that hands off that job, so a
/// failed publish fails each of their SQS messages.
pub(crate) fn collect<O: AsRef<UploadedObject>>(
    bucket: &str,
    objects: &[O],
    results: &[AdvanceResult],
) -> (Vec<UploadReceived>, Vec<Vec<usize>>) {
    let mut events: Vec<UploadReceived> = Vec::new();
    let mut records: Vec<Vec<usize>> = Vec::new();
    let mut by_job: HashMap<JobId, usize> = HashMap::new();
    for (i, (object, result)) in objects.iter().zip(results).enumerate() {
        let Some(event) = UploadReceived::for_result(bucket, object.as_ref(), result) else {
            continue;
        };
        match by_job.get(&event.job_id) {
            Some(&k) => records[k].push(i),
            None => {
                by_job.insert(event.job_id, events.len());
                events.push(event);
                records.push(vec![i]);
            }
        }
    }
    (events, records)
}

/// What the hand-off of one batch did.
#[derive(Debug, Default)]
pub(crate) struct HandoffReport {
    /// The jobs whose event was put on the bus.
    pub published_jobs: Vec<JobId>,
    /// Events that could not be put.
    pub failed: usize,
    /// Indexes (into the batch's objects) of the records whose hand-off
    /// failed: their invocation or SQS message must be retried.
    pub failed_records: Vec<usize>,
}

/// Publishes the hand-offs of a batch `advance_batch` judged (nothing when
/// no bus is configured) and logs each.
pub(crate) async fn hand_off<O: AsRef<UploadedObject>>(
    publisher: Option<&dyn Publish>,
    bucket: &str,
    source: &str,
    objects: &[O],
    results: &[AdvanceResult],
) -> HandoffReport {
    let Some(publisher) = publisher else {
        return HandoffReport::default();
    };
    let (events, records) = collect(bucket, objects, results);
    put_and_log(publisher, source, &events, records).await
}

impl HandoffReport {
    /// How many events were put on the bus.
    pub fn published(&self) -> usize {
        self.published_jobs.len()
    }

    /// Adds another report's counts (not its failed records).
    pub fn absorb(&mut self, other: HandoffReport) {
        self.published_jobs.extend(other.published_jobs);
        self.failed += other.failed;
    }
}

/// Puts `events` and logs each; `records[i]` are the batch indexes behind
/// `events[i]`.
pub(crate) async fn put_and_log(
    publisher: &dyn Publish,
    source: &str,
    events: &[UploadReceived],
    records: Vec<Vec<usize>>,
) -> HandoffReport {
    let mut report = HandoffReport::default();
    if events.is_empty() {
        return report;
    }
    let outcomes = publisher.publish(events).await;
    for ((event, outcome), records) in events.iter().zip(outcomes).zip(records) {
        let (job_id, tenant_id) = (event.job_id.0.to_string(), event.tenant_id.0.to_string());
        let (trace_id, interaction_id) =
            (event.trace_id.as_deref(), event.interaction_id.to_string());
        let (key, etag) = (event.file_key.as_str(), event.etag.as_deref());
        match outcome {
            Ok(()) => {
                report.published_jobs.push(event.job_id);
                tracing::info!(
                    event = "handed_off",
                    source,
                    job_id,
                    tenant_id,
                    trace_id,
                    interaction_id,
                    key,
                    etag,
                    "Upload Received put on the hand-off bus"
                );
            }
            Err(error) => {
                report.failed += 1;
                report.failed_records.extend(records);
                tracing::error!(event = "handoff_failed", source, job_id, tenant_id, trace_id, interaction_id, key, etag, error = %error, "Upload Received not put; it is put again on retry");
            }
        }
    }
    report
}
