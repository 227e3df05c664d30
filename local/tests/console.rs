//! `--log-format`: the `local-stack` binary's console. Pretty is one line per
//! upload step on stderr and nothing while idle; JSON stays the functions'
//! lines on stdout; a bad value is a usage error. And `lambda.env`, written
//! when the stack is ready.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use upload_testkit::TestDb;

const WAV: &[u8] = b"RIFF....WAVEfmt hello audio";

/// One upload through the stack: init, the PUT, until `processing`; the job id.
async fn upload(api: &str) -> String {
    let job = init_for(api, "take 1.wav", WAV).await;
    assert_eq!(put(&job, WAV.to_vec()).await.status(), 200);
    let id = job["job_id"].as_str().unwrap().to_owned();
    assert_eq!(wait_past_queued(api, &id, 20).await["status"], "processing");
    id
}

#[tokio::test]
async fn pretty_is_one_line_per_upload_step_and_quiet_while_idle() {
    let t = TestDb::new().await;
    let dir = temp_dir("console-pretty");
    let (s, out) = StackProc::start_capturing(
        &dir,
        Some(&t.url),
        &[("RUST_LOG", "info")],
        &["--log-format", "pretty"],
    );
    // The reaper runs every second: idle, it says nothing.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let id = upload(&s.api).await;
    let short = format!("job {}", &id[..8]);
    let step = |tag: &str| {
        let prefix = format!("{tag:<10} {short}  ");
        out.wait_for(true, Duration::from_secs(10), |l| {
            l.get(10..).is_some_and(|rest| rest.starts_with(&prefix))
        })
        .unwrap_or_else(|| panic!("no {tag:?} line for {short}: {:#?}", out.stderr()))
    };
    let init = step("init");
    assert!(
        init.ends_with("  27 B, audio/wav  tenant 0000…00aa"),
        "{init}"
    );
    let stored = step("stored");
    assert!(stored.contains("  take 1.wav  27 B  etag "), "{stored}");
    assert!(step("advanced").ends_with("→ processing"));
    step("handed off");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let lines = out.stderr();
    for l in &lines {
        // HH:MM:SS, two spaces, the tag: never JSON, never the reaper (every
        // run was idle), never a successful request (the status polls).
        assert!(
            l.as_bytes().get(2) == Some(&b':') && &l[8..10] == "  ",
            "{l}"
        );
        assert!(!l.contains("reaper"), "an idle reaper run was shown: {l}");
        assert!(
            !l.contains("request "),
            "a successful request was shown: {l}"
        );
    }
    assert!(
        !out.stdout().iter().any(|l| l.starts_with('{')),
        "no JSON on stdout"
    );
    assert!(s.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn json_stays_the_functions_lines_and_lambda_env_is_written() {
    let t = TestDb::new().await;
    let dir = temp_dir("console-json");
    let (s, out) = StackProc::start_capturing(
        &dir,
        Some(&t.url),
        &[("RUST_LOG", "info"), ("UPLOAD_URL_TTL_SECONDS", "120")],
        &["--log-format", "json"],
    );
    let id = upload(&s.api).await;
    out.wait_for(false, Duration::from_secs(10), |l| {
        l.contains("\"event\":\"reaper_run\"")
    })
    .expect("the JSON log keeps the reaper_run line");
    // The hand-off is the last step, logged after the job moved.
    out.wait_for(false, Duration::from_secs(10), |l| {
        l.contains("\"event\":\"handed_off\"") && l.contains(&id)
    })
    .expect("a handed_off line");
    let json: Vec<Value> = out
        .stdout()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    for event in ["job_queued", "object_stored", "advanced", "handed_off"] {
        assert!(
            json.iter()
                .any(|v| v["event"] == event && v["job_id"] == id.as_str()),
            "no {event} line for {id}"
        );
    }
    assert!(out.stderr().is_empty(), "{:?}", out.stderr());

    let env = std::fs::read_to_string(dir.join("lambda.env")).unwrap();
    let get = |k: &str| {
        env.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {k} in {env}"))
            .to_owned()
    };
    assert_eq!(get("DATABASE_URL"), t.url);
    assert_eq!(get("S3_ENDPOINT_URL"), s.s3);
    assert_eq!(get("UPLOAD_BUCKET"), "local-uploads");
    assert_eq!(get("AWS_ACCESS_KEY_ID"), "local-access-key");
    assert_eq!(get("ALLOW_LEGACY_HEADER_AUTH"), "true");
    assert_eq!(get("UPLOAD_URL_TTL_SECONDS"), "120");
    assert!(get("AWS_ENDPOINT_URL_EVENTBRIDGE").starts_with("http://127.0.0.1:"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join("lambda.env"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "it may hold a database password");
    assert!(s.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_log_format_is_a_usage_error() {
    let run = |args: &[&str], env: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_local-stack"));
        cmd.args(args).env_remove("LOG_FORMAT");
        if let Some(v) = env {
            cmd.env("LOG_FORMAT", v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["--log-format", "yaml"], None);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--log-format must be json or pretty, got \"yaml\""),
        "{err}"
    );
    let (code, err) = run(&["--log-format"], None);
    assert_eq!(code, Some(2), "{err}");
    let (code, err) = run(&[], Some("xml"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("LOG_FORMAT must be json or pretty"), "{err}");
}
