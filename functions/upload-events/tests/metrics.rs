//! The events function's EMF lines: valid EMF, and the counts of a mixed
//! batch and of a reaper run add up.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::{Value, json};
use upload_core::metrics::{Metrics, Sink};
use upload_core::{JobId, TenantId};
use upload_events::handle;
use upload_testkit::{TestDb, validate_emf};
use uuid::Uuid;

/// The value of `metric` in each line that has it, with the line's `Code`.
fn values(lines: &[String], metric: &str) -> Vec<(f64, Option<String>)> {
    lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter_map(|v| {
            let n = v.get(metric)?.as_f64()?;
            Some((n, v.get("Code").and_then(Value::as_str).map(str::to_owned)))
        })
        .collect()
}

#[tokio::test]
async fn a_mixed_batch_and_a_reaper_run_write_counts_that_add_up() {
    let t = TestDb::new().await;
    let (sink, lines) = Sink::capture();
    let s = upload_events::EventsState {
        metrics: Metrics::new(sink, "upload-events-test"),
        ..state(&t.url, t.db.clone(), Arc::default())
    };
    let tenant = TenantId(Uuid::new_v4());
    let mut keys = Vec::new();
    for (name, declared) in [
        ("a", None),
        ("b", None),
        ("empty", None),
        ("big", None),
        ("small", Some(10)),
    ] {
        keys.push(job(&t.db, tenant, JobId::new_random(), name, declared).await);
    }
    let stranger = format!("tenant/{}/uploads/{}/x.wav", Uuid::new_v4(), Uuid::new_v4());
    let records = json!({"Records": [
        record(keys[0].as_str(), 5), record(keys[1].as_str(), 5),
        record(keys[0].as_str(), 5), // the same record twice in one batch
        record(keys[2].as_str(), 0), record(keys[3].as_str(), MAX + 1), record(keys[4].as_str(), 9),
        record(&stranger, 1),
    ]});
    handle(&s, payload(records.clone())).await.unwrap();
    handle(&s, payload(records)).await.unwrap(); // redelivered: all duplicates
    handle(&s, fixture("scheduled.json")).await.unwrap();

    let lines = lines.lock().unwrap().clone();
    for l in &lines {
        validate_emf(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        let v: Value = serde_json::from_str(l).unwrap();
        assert_eq!(v["FunctionName"], "upload-events-test");
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "UploadJobs");
    }
    let sum = |m: &str| values(&lines, m).iter().map(|(n, _)| n).sum::<f64>();
    assert_eq!(values(&lines, "Advanced").len(), 2, "one line per batch");
    assert_eq!(sum("Advanced"), 2.0);
    // First batch: the repeated record; second: every record of a job.
    assert_eq!(sum("Duplicate"), 1.0 + 6.0);
    assert_eq!(sum("UnknownKey"), 2.0);
    assert_eq!(sum("HandoffsPublished"), 0.0, "no bus configured");
    let mut rejected = values(&lines, "Rejected");
    rejected.sort_by(|a, b| a.1.cmp(&b.1));
    let codes: Vec<(f64, Option<String>)> = ["EMPTY_UPLOAD", "FILE_TOO_LARGE", "SIZE_MISMATCH"]
        .iter()
        .map(|c| (1.0, Some((*c).to_owned())))
        .collect();
    assert_eq!(rejected, codes, "per code, first batch only");
    for l in lines.iter().filter(|l| l.contains("\"Rejected\"")) {
        let v: Value = serde_json::from_str(l).unwrap();
        let sets = &v["_aws"]["CloudWatchMetrics"][0]["Dimensions"];
        assert_eq!(
            sets,
            &json!([["FunctionName"], ["FunctionName", "Code"]]),
            "{l}"
        );
    }
    assert_eq!(values(&lines, "ReaperClaimed").len(), 1);
    for m in ["Recovered", "Expired", "TimedOut", "HeadErrors"] {
        assert_eq!(values(&lines, m).len(), 1, "{m}");
    }
}
