//! Notification delivery in the local stack: S3's notifications reach the
//! events handler asynchronously and at least once, as S3 → Lambda does,
//! optionally with seeded faults, and a test hook loses the next one for a
//! key.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use serde_json::Value;
use tokio::sync::mpsc;
use upload_events::EventsState;

use crate::faults;

/// Keys whose next notification is dropped (the test hook for lost events).
#[derive(Clone, Default)]
pub struct DropList(Arc<Mutex<Vec<String>>>);

impl DropList {
    /// True (and forgets the entry) when `key` contains a registered substring.
    pub(crate) fn take(&self, key: &str) -> bool {
        let mut l = self.0.lock().expect("lock");
        match l.iter().position(|s| key.contains(s.as_str())) {
            Some(i) => {
                l.remove(i);
                true
            }
            None => false,
        }
    }
}

/// `POST /_local/drop-next-event {"key_contains": "..."}`: the next
/// notification whose key contains the string is lost (test hook).
pub(crate) async fn drop_next_event(
    State(drops): State<DropList>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let s = body["key_contains"].as_str().unwrap_or_default().to_owned();
    if !s.is_empty() {
        drops.0.lock().expect("lock").push(s.clone());
    }
    Json(serde_json::json!({"dropping_next_event_containing": s}))
}

/// Delivers notifications to the events handler asynchronously, at least
/// once: a failed delivery is retried with back-off (S3 + Lambda's async
/// retries), each in its own task so a slow one does not block the rest.
/// With `faults`, some are lost, delayed or delivered 2-3 times.
pub(crate) async fn deliver(
    mut rx: mpsc::UnboundedReceiver<Value>,
    state: Arc<EventsState>,
    drops: DropList,
    faults: Option<faults::NotificationFaults>,
) {
    if let Some(f) = &faults {
        tracing::warn!(
            event = "notification_faults_enabled",
            seed = f.seed,
            drop = f.drop,
            delay = f.delay,
            duplicate = f.duplicate,
            max_delay_ms = f.max_delay.as_millis() as u64,
            "fault injection on: notifications will be lost, delayed and repeated"
        );
    }
    let mut injector = faults.map(faults::Injector::new);
    while let Some(ev) = rx.recv().await {
        let key = ev["Records"][0]["s3"]["object"]["key"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let decoded = upload_events::decode_s3_key(&key).unwrap_or_default();
        stored(&ev, &decoded);
        if drops.take(&decoded) {
            tracing::warn!(event = "notification_dropped", key = %decoded, "test hook: notification lost");
            continue;
        }
        let plan = injector
            .as_mut()
            .map_or_else(faults::Plan::once, faults::Injector::plan);
        faults::log(&plan, &decoded);
        let faults::Plan::Deliver(copies) = plan else {
            continue;
        };
        let ev: upload_events::Payload =
            serde_json::from_value(ev).expect("any JSON is an events payload");
        for delay in copies {
            tokio::spawn(deliver_one(
                state.clone(),
                ev.clone(),
                decoded.clone(),
                delay,
            ));
        }
    }
}

/// One line per object the local S3 stored (`event = "object_stored"`),
/// before its notification is delivered (or lost): the upload's "stored" step.
fn stored(ev: &Value, key: &str) {
    let object = &ev["Records"][0]["s3"]["object"];
    let parsed = upload_core::FileKey::parse(key).ok();
    tracing::info!(
        event = "object_stored",
        job_id = parsed.as_ref().map(|k| k.job().to_string()),
        tenant_id = parsed.as_ref().map(|k| k.tenant().to_string()),
        key,
        size = object["size"].as_u64(),
        etag = object["eTag"].as_str(),
        "the local S3 stored an object; its notification follows"
    );
}

/// One delivery after `delay`, retried up to 5 times with back-off.
async fn deliver_one(
    state: Arc<EventsState>,
    ev: upload_events::Payload,
    key: String,
    delay: Duration,
) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut backoff = Duration::from_millis(200);
    for attempt in 1..=5 {
        match upload_events::handle(&state, ev.clone()).await {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(event = "delivery_failed", attempt, key = %key, error = %e, "event delivery failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
    }
    tracing::error!(event = "notification_undeliverable", key = %key, "event undeliverable after 5 attempts (would go to the DLQ)");
}
