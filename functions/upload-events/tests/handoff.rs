//! The hand-off: "Upload Received" put on the bus (a local EventBridge
//! endpoint speaking PutEvents, driven by the real SDK) after the
//! transition, for every record whose job is processing with that object;
//! failures fail the invocation or exactly the affected SQS messages, and
//! the retry publishes.

#![allow(clippy::too_many_lines)] // scenarios, read top to bottom

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use common::*;
use serde_json::{Value, json};
use upload_core::handoff::HandoffEvent;
use upload_core::repo::{self, Transition};
use upload_core::{JobId, JobStatus, TenantId};
use upload_events::{EventsError, handle};
use upload_testkit::TestDb;
use upload_testkit::eventbridge::{LOCAL_ACCOUNT, LocalEventBridge};
use uuid::Uuid;

async fn bus() -> (LocalEventBridge, PathBuf) {
    let out = std::env::temp_dir().join(format!("handoff-{}.jsonl", Uuid::new_v4()));
    (
        LocalEventBridge::start(out.clone(), "us-east-1")
            .await
            .unwrap(),
        out,
    )
}

/// The events written so far, parsed as a worker parses them.
fn published(out: &PathBuf) -> Vec<HandoffEvent> {
    let text = std::fs::read_to_string(out).unwrap_or_default();
    text.lines()
        .map(|l| HandoffEvent::parse(l).unwrap())
        .collect()
}

fn put_record(key: &str, size: i64, etag: &str, sequencer: &str) -> Value {
    let mut r = record(key, size);
    r["s3"]["object"]["eTag"] = json!(etag);
    r["s3"]["object"]["sequencer"] = json!(sequencer);
    r
}

fn sqs(messages: &[(&str, Vec<Value>)]) -> Value {
    let records: Vec<Value> = messages.iter().map(|(id, records)| json!({
        "messageId": id, "receiptHandle": "r", "body": json!({"Records": records}).to_string(),
        "attributes": {}, "messageAttributes": {}, "md5OfBody": "x",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:q", "awsRegion": "us-east-1"
    })).collect();
    json!({"Records": records})
}

#[tokio::test]
async fn a_direct_s3_event_hands_off_exactly_the_jobs_it_moved_to_processing() {
    let t = TestDb::new().await;
    let (eb, out) = bus().await;
    let s = state_with_handoff(&t.url, t.db.clone(), Arc::default(), &eb.url);
    let tenant = TenantId(Uuid::new_v4());
    let (ok, wrong_size) = (JobId::new_random(), JobId::new_random());
    let ok_key = job(&t.db, tenant, ok, "talk one.wav", Some(2048)).await;
    let bad_key = job(&t.db, tenant, wrong_size, "b.wav", Some(10)).await;
    let stranger = format!("tenant/{}/uploads/{}/x.wav", Uuid::new_v4(), Uuid::new_v4());
    let ev = json!({"Records": [
        put_record(ok_key.as_str(), 2048, "9b2cf535f27731c974343645a3985328", "0062E99A88DC407F01"),
        put_record(bad_key.as_str(), 11, "aa", "0062E99A88DC407F02"),
        put_record(&stranger, 5, "bb", "0062E99A88DC407F03"),
    ]});
    let r = handle(&s, payload(ev)).await.unwrap();
    assert_eq!(r["handed_off"], 1, "{r}");

    let events = published(&out);
    assert_eq!(events.len(), 1);
    let e = &events[0];
    let row = repo::get_job(&t.db, tenant, ok).await.unwrap().unwrap();
    assert_eq!(row.status, JobStatus::Processing);
    assert_eq!(
        (e.version.as_str(), e.source.as_str()),
        ("0", "upload-jobs")
    );
    assert_eq!(e.detail_type, "Upload Received");
    assert_eq!(
        (e.account.as_str(), e.region.as_str()),
        (LOCAL_ACCOUNT, "us-east-1")
    );
    let d = serde_json::to_value(&e.detail).unwrap();
    assert_eq!(
        d,
        json!({
            "job_id": ok.0, "tenant_id": tenant.0, "job_type": "audio_transcription",
            "file_key": ok_key.as_str(), "bucket": BUCKET, "size": 2048,
            "etag": "9b2cf535f27731c974343645a3985328", "sequencer": "0062E99A88DC407F01",
            "mime_type": "audio/wav", "file_name": "talk one.wav",
            "interaction_id": row.interaction_id, "trace_id": row.trace_id, "account_id": "a",
        })
    );
    assert_eq!(eb.faults.requests(), vec![1]);
    assert_eq!(eb.faults.buses(), vec![BUS.to_owned()]);
}

#[tokio::test]
async fn a_redelivered_event_republishes_only_while_the_job_is_processing_with_that_object() {
    let t = TestDb::new().await;
    let (eb, out) = bus().await;
    let s = state_with_handoff(&t.url, t.db.clone(), Arc::default(), &eb.url);
    let tenant = TenantId(Uuid::new_v4());
    let (a, done, rejected) = (
        JobId::new_random(),
        JobId::new_random(),
        JobId::new_random(),
    );
    let a_key = job(&t.db, tenant, a, "a.wav", None).await;
    let done_key = job(&t.db, tenant, done, "d.wav", None).await;
    let rej_key = job(&t.db, tenant, rejected, "r.wav", None).await;
    let a_rec = put_record(a_key.as_str(), 5, "e1", "01");
    let done_rec = put_record(done_key.as_str(), 5, "e2", "02");
    let rej_rec = put_record(rej_key.as_str(), 0, "e3", "03");
    let ev = json!({"Records": [a_rec.clone(), done_rec.clone(), rej_rec.clone()]});
    handle(&s, payload(ev.clone())).await.unwrap();
    assert_eq!(
        published(&out).len(),
        2,
        "a and done; the empty upload failed"
    );
    assert!(matches!(
        repo::succeed(&t.db, tenant, done, "{}").await.unwrap(),
        Transition::Moved(_)
    ));

    // The same event again (S3 is at least once): only `a` is still
    // processing with that object.
    let r = handle(&s, payload(ev)).await.unwrap();
    assert_eq!(r["handed_off"], 1, "{r}");
    let events = published(&out);
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].detail.job_id, a);
    // Another (older) object under a's key is not a's object: no hand-off.
    let older = put_record(a_key.as_str(), 9, "e0", "00");
    handle(&s, payload(json!({"Records": [older]})))
        .await
        .unwrap();
    // A queued job named with another tenant's id is not found: nothing.
    let q = JobId::new_random();
    let q_key = job(&t.db, tenant, q, "q.wav", None).await;
    let forged = q_key
        .as_str()
        .replace(&tenant.0.to_string(), &Uuid::new_v4().to_string());
    handle(
        &s,
        payload(json!({"Records": [put_record(&forged, 5, "e4", "04")]})),
    )
    .await
    .unwrap();
    assert_eq!(status(&t.db, tenant, q).await.0, JobStatus::Queued);
    // A job processing from before migration 003 (or the Python service):
    // no recorded object to compare with, so a redelivery cannot tell.
    let old = JobId::new_random();
    let old_key = job(&t.db, tenant, old, "old.wav", None).await;
    let c = t.client().await;
    c.execute(
        "UPDATE upload_jobs SET status = 'processing', started_at = now() WHERE id = $1",
        &[&old.0],
    )
    .await
    .unwrap();
    let r = handle(
        &s,
        payload(json!({"Records": [put_record(old_key.as_str(), 5, "e5", "05")]})),
    )
    .await
    .unwrap();
    assert_eq!(r["handed_off"], 0, "{r}");
    assert_eq!(published(&out).len(), 3);
}

#[tokio::test]
async fn an_sqs_batch_of_25_goes_out_in_requests_of_at_most_10() {
    let t = TestDb::new().await;
    let (eb, out) = bus().await;
    let s = state_with_handoff(&t.url, t.db.clone(), Arc::default(), &eb.url);
    let tenant = TenantId(Uuid::new_v4());
    let mut messages = Vec::new();
    for i in 0..25 {
        let key = job(
            &t.db,
            tenant,
            JobId::new_random(),
            &format!("{i}.wav"),
            None,
        )
        .await;
        let rec = put_record(
            key.as_str(),
            100 + i,
            &format!("etag{i}"),
            &format!("{i:02}"),
        );
        messages.push((format!("m-{i}"), vec![rec]));
    }
    let messages: Vec<(&str, Vec<Value>)> = messages
        .iter()
        .map(|(id, r)| (id.as_str(), r.clone()))
        .collect();
    let r = handle(&s, payload(sqs(&messages))).await.unwrap();
    assert_eq!(r["batchItemFailures"], json!([]));
    let mut sizes = eb.faults.requests();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![5, 10, 10]);
    let mut etags: Vec<String> = published(&out)
        .into_iter()
        .map(|e| e.detail.etag.unwrap())
        .collect();
    etags.sort();
    let mut want: Vec<String> = (0..25).map(|i| format!("etag{i}")).collect();
    want.sort();
    assert_eq!(etags, want);
}

#[tokio::test]
async fn a_put_events_outage_fails_the_direct_invocation_and_its_retry_publishes() {
    let t = TestDb::new().await;
    let (eb, out) = bus().await;
    let s = state_with_handoff(&t.url, t.db.clone(), Arc::default(), &eb.url);
    let tenant = TenantId(Uuid::new_v4());
    let id = JobId::new_random();
    let key = job(&t.db, tenant, id, "a.wav", None).await;
    let ev = json!({"Records": [put_record(key.as_str(), 5, "e1", "01")]});
    eb.faults.fail_next_requests(3); // the SDK's three attempts
    let err = handle(&s, payload(ev.clone())).await.unwrap_err();
    assert!(
        matches!(
            err,
            EventsError::Handoff {
                failed: 1,
                total: 1
            }
        ),
        "{err}"
    );
    assert_eq!(
        lambda_runtime::Diagnostic::from(err).error_type,
        "HandoffFailed"
    );
    // The transition is committed; nothing was put.
    assert_eq!(status(&t.db, tenant, id).await.0, JobStatus::Processing);
    assert!(published(&out).is_empty());
    // Lambda's retry of the same event.
    handle(&s, payload(ev)).await.unwrap();
    let events = published(&out);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail.job_id, id);
}

#[tokio::test]
async fn refused_entries_fail_exactly_their_sqs_messages_and_the_redelivery_publishes() {
    let t = TestDb::new().await;
    let (eb, out) = bus().await;
    let (sink, lines) = upload_core::metrics::Sink::capture();
    let s = upload_events::EventsState {
        metrics: upload_core::metrics::Metrics::new(sink, "events"),
        ..state_with_handoff(&t.url, t.db.clone(), Arc::default(), &eb.url)
    };
    let tenant = TenantId(Uuid::new_v4());
    let mut ids = Vec::new();
    let mut messages = Vec::new();
    for (i, m) in ["m-a", "m-b", "m-c"].into_iter().enumerate() {
        let id = JobId::new_random();
        let key = job(&t.db, tenant, id, "x.wav", None).await;
        ids.push(id);
        messages.push((m, vec![put_record(key.as_str(), 5, &format!("e{i}"), "01")]));
    }
    // A message whose body is not an S3 notification is skipped, not failed.
    messages.push(("m-junk", Vec::new()));
    eb.faults.fail_next_entries(1); // the first entry: m-a's job
    let r = handle(&s, payload(sqs(&messages))).await.unwrap();
    assert_eq!(
        r["batchItemFailures"],
        json!([{"itemIdentifier": "m-a"}]),
        "{r}"
    );
    let emf: Value = serde_json::from_str(&lines.lock().unwrap()[0]).unwrap();
    let counts = (
        emf["HandoffsPublished"].as_f64(),
        emf["HandoffFailures"].as_f64(),
    );
    assert_eq!(counts, (Some(2.0), Some(1.0)));
    let got: Vec<JobId> = published(&out).iter().map(|e| e.detail.job_id).collect();
    assert_eq!(got, vec![ids[1], ids[2]]);
    // SQS redelivers m-a alone.
    let r = handle(&s, payload(sqs(&messages[..1]))).await.unwrap();
    assert_eq!(r["batchItemFailures"], json!([]));
    let got: Vec<JobId> = published(&out).iter().map(|e| e.detail.job_id).collect();
    assert_eq!(got, vec![ids[1], ids[2], ids[0]]);
}

#[tokio::test]
async fn the_reaper_hands_off_a_job_it_recovers() {
    let t = TestDb::new().await;
    let (eb, out) = bus().await;
    let objects = Arc::new(upload_testkit::MemoryObjects::default());
    let s = state_with_handoff(&t.url, t.db.clone(), objects.clone(), &eb.url);
    let tenant = TenantId(Uuid::new_v4());
    let id = JobId::new_random();
    let key = job(&t.db, tenant, id, "lost.wav", Some(77)).await;
    let c = t.client().await;
    c.execute(
        "UPDATE upload_jobs SET created_at = now() - interval '10 minutes', updated_at = now() - interval '10 minutes', upload_expires_at = now() - interval '10 minutes' WHERE id = $1",
        &[&id.0],
    )
    .await
    .unwrap();
    objects.put(key.as_str(), 77); // uploaded; its notification was lost
    let r = handle(&s, fixture("scheduled.json")).await.unwrap();
    assert_eq!(
        (r["recovered"].as_u64(), r["handoffs_published"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    let events = published(&out);
    assert_eq!(events.len(), 1);
    let d = &events[0].detail;
    assert_eq!(
        (d.job_id, d.size, d.sequencer.as_deref()),
        (id, Some(77), None)
    );
    assert!(d.etag.as_deref().is_some_and(|e| !e.contains('"')), "{d:?}");
    // Recorded: a later run, past the repair delay, does not put it again.
    c.execute(
        "UPDATE upload_jobs SET started_at = now() - interval '2 minutes' WHERE id = $1",
        &[&id.0],
    )
    .await
    .unwrap();
    let r = handle(&s, fixture("scheduled.json")).await.unwrap();
    assert_eq!(r["handoffs_published"], 0, "{r}");
    assert_eq!(published(&out).len(), 1);
}

#[tokio::test]
async fn the_reaper_puts_the_handoffs_no_event_will_retry_until_one_is_recorded() {
    let t = TestDb::new().await;
    let (eb, out) = bus().await;
    let s = state_with_handoff(&t.url, t.db.clone(), Arc::default(), &eb.url);
    let tenant = TenantId(Uuid::new_v4());
    let (headed, evented, fresh) = (
        JobId::new_random(),
        JobId::new_random(),
        JobId::new_random(),
    );
    // Advanced through a HEAD (POST /upload/complete): no sequencer.
    for (id, name) in [(headed, "h.wav"), (fresh, "f.wav")] {
        let key = job(&t.db, tenant, id, name, None).await;
        let head = repo::UploadedObject::at(&key, Some(5), None).with_etag(Some("\"e-head\""));
        repo::advance_batch(&t.db, &[head], MAX as u64)
            .await
            .unwrap();
    }
    // Advanced by its S3 event: the event's retries own its hand-off.
    let key = job(&t.db, tenant, evented, "e.wav", None).await;
    let ev = json!({"Records": [put_record(key.as_str(), 5, "e-ev", "01")]});
    handle(&s, payload(ev)).await.unwrap();
    let c = t.client().await;
    c.execute(
        "UPDATE upload_jobs SET started_at = now() - interval '2 minutes' WHERE id = ANY($1)",
        &[&vec![headed.0, evented.0]],
    )
    .await
    .unwrap();
    let before = published(&out).len();

    // PutEvents down: nothing recorded, so the next run tries again.
    eb.faults.fail_next_requests(3);
    let r = handle(&s, fixture("scheduled.json")).await.unwrap();
    assert_eq!(r["handoff_failures"], 1, "{r}");
    let r = handle(&s, fixture("scheduled.json")).await.unwrap();
    assert_eq!(r["handoffs_published"], 1, "{r}");
    let events = published(&out);
    assert_eq!(events.len(), before + 1);
    let d = &events[before].detail;
    assert_eq!(
        (d.job_id, d.etag.as_deref(), d.size, d.sequencer.as_deref()),
        (headed, Some("e-head"), Some(5), None)
    );
    // Recorded: never again; the fresh one waits for its own event.
    let r = handle(&s, fixture("scheduled.json")).await.unwrap();
    assert_eq!(r["handoffs_published"], 0, "{r}");
    assert_eq!(published(&out).len(), before + 1);
}
