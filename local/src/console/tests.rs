use tracing::Level;

use super::render::bytes;
use super::*;

const JOB: &str = "5b0a4b8e-2c1d-4e6f-8a7b-9c0d1e2f3a4b";
const TENANT: &str = "00000000-0000-4000-8000-000000000001";
const KEY: &str = "tenant/00000000-0000-4000-8000-000000000001/uploads/5b0a4b8e-2c1d-4e6f-8a7b-9c0d1e2f3a4b/take 1.wav";

/// The line as printed without colours at 10:42:01.
fn line(level: Level, message: &str, pairs: &[(&'static str, &str)]) -> Option<String> {
    render(level, &Fields::of(message, pairs)).map(|l| l.display("10:42:01", false))
}

fn step(event: &str, pairs: &[(&'static str, &str)]) -> String {
    let mut all = vec![("event", event), ("job_id", JOB), ("tenant_id", TENANT)];
    all.extend_from_slice(pairs);
    line(Level::INFO, "m", &all).expect("a line")
}

#[test]
fn the_steps_of_an_upload_are_one_short_line_each() {
    assert_eq!(
        step(
            "job_queued",
            &[("mime_type", "audio/wav"), ("file_size", "12345678")]
        ),
        "10:42:01  init       job 5b0a4b8e  12.3 MB, audio/wav  tenant 0000…0001"
    );
    assert_eq!(
        step(
            "job_queued",
            &[
                ("mime_type", "audio/wav"),
                ("file_size", "27"),
                ("key", KEY)
            ]
        ),
        "10:42:01  init       job 5b0a4b8e  take 1.wav (27 B, audio/wav)  tenant 0000…0001"
    );
    assert_eq!(
        step(
            "object_stored",
            &[("key", KEY), ("size", "12345678"), ("etag", "\"9f2c0d1e\"")]
        ),
        "10:42:01  stored     job 5b0a4b8e  take 1.wav  12.3 MB  etag 9f2c…"
    );
    assert_eq!(
        step("advanced", &[("source", "s3"), ("status", "processing")]),
        "10:42:01  advanced   job 5b0a4b8e  → processing"
    );
    assert_eq!(
        step("advanced", &[("source", "reaper")]),
        "10:42:01  advanced   job 5b0a4b8e  → processing  (by the reaper)"
    );
    assert_eq!(
        step("handed_off", &[("source", "s3")]),
        "10:42:01  handed off job 5b0a4b8e  \"Upload Received\" put on the hand-off bus"
    );
    assert_eq!(
        step("worker_succeeded", &[]),
        "10:42:01  succeeded  job 5b0a4b8e  (worker)"
    );
}

#[test]
fn failures_name_their_code() {
    assert_eq!(
        step("rejected", &[("code", "SIZE_MISMATCH"), ("source", "s3")]),
        "10:42:01  rejected   job 5b0a4b8e  SIZE_MISMATCH → failed"
    );
    assert_eq!(
        step("expired", &[("code", "UPLOAD_EXPIRED")]),
        "10:42:01  expired    job 5b0a4b8e  no upload arrived → failed (UPLOAD_EXPIRED)"
    );
    assert_eq!(
        step("timed_out", &[("code", "PROCESSING_TIMEOUT")]),
        "10:42:01  timed out  job 5b0a4b8e  processing took too long → failed (PROCESSING_TIMEOUT)"
    );
    assert_eq!(
        step("duplicate", &[("status", "processing")]),
        "10:42:01  duplicate  job 5b0a4b8e  already processing; nothing changed"
    );
    assert_eq!(
        line(
            Level::WARN,
            "no job for this key; skipped",
            &[
                ("event", "unknown_key"),
                ("source", "s3"),
                ("key", "tenant/x/a.wav")
            ]
        )
        .unwrap(),
        "10:42:01  unknown    tenant/x/a.wav  no job for this key; skipped"
    );
}

#[test]
fn an_idle_reaper_run_says_nothing_and_a_busy_one_its_counts() {
    let run = |counts: [&'static str; 3]| {
        line(
            Level::INFO,
            "reaper finished",
            &[
                ("event", "reaper_run"),
                ("claimed", counts[0]),
                ("recovered", counts[1]),
                ("expired", counts[2]),
                ("timed_out", "0"),
                ("head_errors", "0"),
                ("handoffs_published", "0"),
                ("handoff_failures", "0"),
            ],
        )
    };
    assert_eq!(run(["0", "0", "0"]), None);
    assert_eq!(
        run(["3", "1", "2"]).unwrap(),
        "10:42:01  reaper     claimed 3  recovered 1  expired 2"
    );
}

#[test]
fn only_failed_requests_are_shown() {
    let req = |status: &'static str, route: &'static str, level| {
        line(
            level,
            "request",
            &[
                ("method", "GET"),
                ("route", route),
                ("status", status),
                ("latency_ms", "1.25"),
                ("job_id", JOB),
                ("code", "NOT_FOUND"),
            ],
        )
    };
    assert_eq!(req("200", "/upload/status/{job_id}", Level::INFO), None);
    assert_eq!(req("404", "unmatched", Level::INFO), None, "favicon.ico");
    assert_eq!(
        req("404", "/upload/status/{job_id}", Level::INFO).unwrap(),
        "10:42:01  request    GET /upload/status/{job_id} → 404 NOT_FOUND  job 5b0a4b8e"
    );
    let five = render(
        Level::ERROR,
        &Fields::of("request", &[("route", "/upload/init"), ("status", "503")]),
    )
    .unwrap();
    assert_eq!(five.style, Style::Error);
}

#[test]
fn anything_else_keeps_its_message_and_fields() {
    assert_eq!(
        line(
            Level::WARN,
            "event delivery failed; retrying",
            &[
                ("event", "delivery_failed"),
                ("attempt", "2"),
                ("key", KEY),
                ("error", "database unavailable"),
            ]
        )
        .unwrap(),
        format!(
            "10:42:01  warning    event delivery failed; retrying  job 5b0a4b8e  attempt=2  key={KEY:?}  error=\"database unavailable\""
        )
    );
    assert_eq!(
        line(Level::ERROR, "S3 server stopped", &[("error", "boom")]).unwrap(),
        "10:42:01  error      S3 server stopped  error=boom"
    );
}

#[test]
fn colours_only_when_asked() {
    let l = render(
        Level::WARN,
        &Fields::of("careful", &[("event", "x"), ("n", "1")]),
    )
    .unwrap();
    assert!(!l.display("10:42:01", false).contains('\x1b'));
    let c = l.display("10:42:01", true);
    assert!(c.contains("\x1b[33m") && c.ends_with("\x1b[0m"), "{c:?}");
}

#[test]
fn sizes_read_like_s3s_console() {
    assert_eq!(bytes(0), "0 B");
    assert_eq!(bytes(999), "999 B");
    assert_eq!(bytes(1000), "1.0 kB");
    assert_eq!(bytes(12_345_678), "12.3 MB");
    assert_eq!(bytes(999_999_999), "1.0 GB");
    assert_eq!(bytes(600 * 1024 * 1024), "629.1 MB");
}

#[test]
fn log_formats_parse() {
    assert_eq!("json".parse(), Ok(LogFormat::Json));
    assert_eq!("pretty".parse(), Ok(LogFormat::Pretty));
    assert!(
        "PRETTY"
            .parse::<LogFormat>()
            .unwrap_err()
            .contains("json or pretty")
    );
}
