//! The whole lifecycle on the local stack: upload → the events handler puts
//! "Upload Received" (one line in `{data-dir}/handoff.jsonl`, with the
//! object's ETag and size) → the example worker (`--worker`) reads the
//! object pinned to that ETag and marks the job `succeeded` → the status
//! shows it, with `completed_at` and the worker's summary.

#![allow(clippy::too_many_lines)] // scenarios, read top to bottom

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use upload_core::handoff::HandoffEvent;
use upload_testkit::TestDb;

/// A mono 16-bit PCM WAV of `seconds` at 8 kHz.
fn wav(seconds: u32) -> Vec<u8> {
    let (rate, block) = (8000u32, 2u16);
    let data_len = rate * u32::from(block) * seconds;
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    w.extend_from_slice(&block.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    w.extend((0..data_len).map(|i| (i % 251) as u8));
    w
}

async fn wait_for_status(api: &str, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = status(api, id).await;
        if s["status"] == want || Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_upload_is_handed_off_and_the_example_worker_completes_it() {
    let t = TestDb::new().await;
    let dir = temp_dir("handoff");
    let s = StackProc::start_with_args(&dir, Some(&t.url), &[], &["--worker"]);
    let data = wav(3);
    let job = init_for(&s.api, "meeting.wav", &data).await;
    let put = put(&job, data.clone()).await;
    assert_eq!(put.status(), 200);
    let etag = put.headers()["etag"]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_owned();
    let id = job["job_id"].as_str().unwrap();

    let done = wait_for_status(&s.api, id, "succeeded").await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(done["completed_at"].is_string(), "{done}");
    let summary: Value = serde_json::from_str(done["result_summary"].as_str().unwrap()).unwrap();
    assert_eq!(summary["bytes"], data.len());
    assert_eq!(summary["duration_seconds"], 3.0);

    let text = std::fs::read_to_string(dir.join("handoff.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let event = HandoffEvent::parse(lines[0]).unwrap();
    let d = &event.detail;
    assert_eq!(d.job_id.0.to_string(), id);
    assert_eq!(d.etag.as_deref(), Some(etag.as_str()));
    assert_eq!(d.size, Some(data.len() as i64));
    assert_eq!(d.file_key, job["file_key"].as_str().unwrap());
    assert_eq!(d.bucket, "local-uploads");
    assert_eq!(
        (d.file_name.as_deref(), d.mime_type.as_deref()),
        (Some("meeting.wav"), Some("audio/wav"))
    );
    assert_eq!(d.account_id.as_deref(), Some("acct"));
    assert!(d.sequencer.is_some());
    let raw: Value = serde_json::from_str(lines[0]).unwrap();
    for field in [
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
    ] {
        assert!(raw.get(field).is_some(), "{field} missing: {raw}");
    }
    s.stop();
}

/// The worker's read is pinned to the handed-off ETag: once the key holds
/// another object, the event is not processed (and the events handler fails
/// the job with OBJECT_REPLACED).
#[tokio::test]
async fn the_worker_does_not_process_a_replaced_object() {
    use local_stack::s3server::{ACCESS_KEY, SECRET_KEY};
    use local_stack::worker::{Handled, Worker};
    let t = TestDb::new().await;
    let dir = temp_dir("handoff-replaced");
    let s = StackProc::start(&dir, Some(&t.url), &[]);
    let job = init(&s.api, json!({"filename": "a.wav", "account_id": "acct"})).await;
    assert_eq!(put(&job, b"first bytes".to_vec()).await.status(), 200);
    let id = job["job_id"].as_str().unwrap();
    assert_eq!(
        wait_for_status(&s.api, id, "processing").await["status"],
        "processing"
    );

    let config = functions_config(&t.url, &s.s3, "local-uploads", "100");
    let worker = Worker {
        db: upload_core::Db::new(config.db_settings("test-worker")),
        s3: s3_client(&config, ACCESS_KEY, SECRET_KEY),
        events: dir.join("handoff.jsonl"),
    };
    // The hand-off is put after the transition commits: wait for its line.
    let deadline = Instant::now() + Duration::from_secs(20);
    let line = loop {
        let text = std::fs::read_to_string(&worker.events).unwrap_or_default();
        if let Some(l) = text.lines().next() {
            break l.to_owned();
        }
        assert!(Instant::now() < deadline, "no hand-off line");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // The existing client's URL replayed: other bytes under the key.
    let replay = client()
        .put(job["upload_url"].as_str().unwrap())
        .header("Content-Type", "audio/wav")
        .body(b"other bytes, longer".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    assert_eq!(worker.handle_line(&line).await.unwrap(), Handled::Replaced);
    let failed = wait_for_status(&s.api, id, "failed").await;
    assert_eq!(failed["error_code"], "OBJECT_REPLACED", "{failed}");
    // Not a hand-off: skipped, not failed.
    assert_eq!(
        worker.handle_line("{\"source\":\"x\"}").await.unwrap(),
        Handled::NotAHandoff
    );
    s.stop();
}
