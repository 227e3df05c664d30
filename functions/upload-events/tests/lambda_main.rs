//! The real `upload-events` binary (main.rs wiring included) under the Lambda
//! Runtime API emulator, fed S3, SQS and unknown payloads.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use lambda_emulator::{Emulator, Outcome};
use serde_json::{Value, json};
use upload_core::repo::{self, NewJob};
use upload_core::{FileKey, JobId, JobStatus, JobType, SafeFileName, TenantId};
use upload_testkit::{TestDb, refused_addr};

const BIN: &str = env!("CARGO_BIN_EXE_upload-events");

fn fixture(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn spawn(emu: &Emulator, db: &str) -> std::process::Child {
    emu.spawn(
        Path::new(BIN),
        &[
            ("DATABASE_URL", db),
            ("UPLOAD_BUCKET", "eq-uploads-test"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("DB_CONNECT_TIMEOUT_MS", "300"),
            ("RUST_LOG", "warn"),
        ],
    )
    .expect("spawn upload-events")
}

#[tokio::test]
#[allow(clippy::too_many_lines)]
async fn the_binary_advances_jobs_and_reports_failures() {
    let t = TestDb::new().await;
    let tenant = TenantId::parse("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f").unwrap();
    let id = JobId::parse("8a0f5a4e-1111-4b2c-9d3e-000000000001").unwrap();
    repo::create_queued_job(
        &t.db,
        &NewJob {
            id,
            tenant_id: tenant,
            user_id: "u".into(),
            job_type: JobType::AudioTranscription,
            file_key: FileKey::build(
                tenant,
                id,
                SafeFileName::new("Réunion équipe+notes (1).wav"),
            ),
            file_name: "Réunion équipe+notes (1).wav".into(),
            mime_type: "audio/wav".into(),
            file_size: Some(48213504),
            interaction_id: uuid::Uuid::new_v4(),
            trace_id: None,
            account_id: None,
            metadata_json: None,
        },
    )
    .await
    .unwrap();

    let emu = Emulator::start().await;
    let mut child = spawn(&emu, &t.url);
    emu.wait_ready(Duration::from_secs(30)).await.unwrap();
    let o = emu
        .invoke(&fixture("s3-put.json"), Duration::from_secs(20))
        .await
        .unwrap();
    assert!(matches!(o, Outcome::Response(_)), "{o:?}");
    let job = repo::get_job(&t.db, tenant, id).await.unwrap().unwrap();
    assert_eq!(job.status, JobStatus::Processing);
    let o = emu
        .invoke(&fixture("s3-test-event.json"), Duration::from_secs(20))
        .await
        .unwrap();
    assert!(matches!(o, Outcome::Response(_)), "{o:?}");
    let o = emu
        .invoke(&json!({"what": "is this"}), Duration::from_secs(20))
        .await
        .unwrap();
    let Outcome::Error(e) = o else {
        panic!("{o:?}")
    };
    assert_eq!(e["errorType"], "UnrecognizedEvent");
    // Not even an object: still the function's own error, not the runtime's.
    let o = emu
        .invoke(&json!(["s3:TestEvent"]), Duration::from_secs(20))
        .await
        .unwrap();
    let Outcome::Error(e) = o else {
        panic!("{o:?}")
    };
    assert_eq!(e["errorType"], "UnrecognizedEvent");
    child.kill().unwrap();
    let _ = child.wait();

    // Database down: direct S3 invocations fail (Lambda retries), SQS batches
    // list every message with records.
    let emu = Emulator::start().await;
    let mut child = spawn(&emu, &format!("postgres://postgres@{}/x", refused_addr()));
    emu.wait_ready(Duration::from_secs(30)).await.unwrap();
    let Outcome::Error(e) = emu
        .invoke(&fixture("s3-put.json"), Duration::from_secs(20))
        .await
        .unwrap()
    else {
        panic!("expected an error")
    };
    assert_eq!(e["errorType"], "DatabaseUnavailable");
    let Outcome::Response(r) = emu
        .invoke(&fixture("sqs-s3.json"), Duration::from_secs(20))
        .await
        .unwrap()
    else {
        panic!("expected a response")
    };
    assert_eq!(r["batchItemFailures"].as_array().unwrap().len(), 2, "{r}");
    child.kill().unwrap();
    let _ = child.wait();
}

/// main.rs wiring of the hand-off and the metrics: with `HANDOFF_EVENT_BUS`
/// set (and `AWS_ENDPOINT_URL_EVENTBRIDGE`, read by main.rs, pointing at a local
/// PutEvents endpoint), the binary puts "Upload Received" on that bus, and
/// writes its counts as EMF lines on stdout.
#[tokio::test]
#[allow(clippy::too_many_lines)]
async fn the_binary_hands_off_to_the_configured_bus_and_writes_emf_lines() {
    let t = TestDb::new().await;
    let tenant = TenantId(uuid::Uuid::new_v4());
    let id = JobId::new_random();
    let key = common::job(&t.db, tenant, id, "a.wav", None).await;
    let out = std::env::temp_dir().join(format!("handoff-bin-{}.jsonl", uuid::Uuid::new_v4()));
    let eb = upload_testkit::eventbridge::LocalEventBridge::start(out.clone(), "us-east-1")
        .await
        .unwrap();
    let emu = Emulator::start().await;
    let env = [
        ("DATABASE_URL", t.url.as_str()),
        ("UPLOAD_BUCKET", "eq-uploads-test"),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("HANDOFF_EVENT_BUS", "uploads-bus"),
        ("AWS_ENDPOINT_URL_EVENTBRIDGE", eb.url.as_str()),
        ("RUST_LOG", "warn"),
    ];
    let mut child = emu
        .command(Path::new(BIN), &env)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    emu.wait_ready(Duration::from_secs(30)).await.unwrap();
    let mut ev = fixture("s3-put.json");
    ev["Records"][0]["s3"]["object"]["key"] = json!(key.as_str());
    ev["Records"][0]["s3"]["object"]["size"] = json!(5);
    let o = emu.invoke(&ev, Duration::from_secs(20)).await.unwrap();
    assert!(matches!(o, Outcome::Response(_)), "{o:?}");
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();

    assert_eq!(eb.faults.buses(), vec!["uploads-bus".to_owned()]);
    let line = std::fs::read_to_string(&out).unwrap();
    let event = upload_core::handoff::HandoffEvent::parse(line.trim()).unwrap();
    assert_eq!((event.detail.job_id, event.detail.size), (id, Some(5)));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let emf: Vec<Value> = stdout
        .lines()
        .filter(|l| l.contains("\"_aws\""))
        .map(|l| {
            upload_testkit::validate_emf(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            serde_json::from_str(l).unwrap()
        })
        .collect();
    assert_eq!(emf.len(), 1, "{stdout}");
    assert_eq!(
        (
            emf[0]["Advanced"].as_f64(),
            emf[0]["HandoffsPublished"].as_f64()
        ),
        (Some(1.0), Some(1.0))
    );
    assert_eq!(emf[0]["FunctionName"], "upload-events");
    let _ = std::fs::remove_file(out);
}
