//! The events handler with real S3/SQS/schedule payloads against real PostgreSQL.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use upload_core::db::DbSettings;
use upload_core::repo::{self, NewJob};
use upload_core::{Config, Db, FileKey, JobId, JobStatus, JobType, SafeFileName, TenantId};
use upload_events::{EventsError, EventsState, Payload, handle};
use upload_testkit::MemoryObjects;
use upload_testkit::{CountingProxy, TestDb, refused_addr};
use uuid::Uuid;

const TENANT: &str = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
const BUCKET: &str = "eq-uploads-test";
const MAX: i64 = 1_000_000_000;

fn config(url: &str) -> Config {
    let env: HashMap<&str, String> = [
        ("DATABASE_URL", url.to_owned()),
        ("UPLOAD_BUCKET", BUCKET.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("MAX_UPLOAD_BYTES", MAX.to_string()),
        ("UPLOAD_URL_TTL_SECONDS", "300".to_owned()),
        ("REAPER_GRACE_SECONDS", "60".to_owned()),
    ]
    .into_iter()
    .collect();
    Config::from_lookup(|k| env.get(k).cloned()).unwrap()
}

fn state(url: &str, db: Db, objects: Arc<MemoryObjects>) -> EventsState {
    EventsState {
        config: config(url),
        db,
        objects,
    }
}

/// A sample payload, deserialized as the Lambda runtime does.
fn fixture(name: &str) -> Payload {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn payload(v: Value) -> Payload {
    serde_json::from_str(&v.to_string()).unwrap()
}

async fn job(db: &Db, tenant: TenantId, id: JobId, name: &str, size: Option<i64>) -> FileKey {
    let key = FileKey::build(tenant, id, SafeFileName::new(name));
    repo::create_queued_job(
        db,
        &NewJob {
            id,
            tenant_id: tenant,
            user_id: "u".into(),
            job_type: JobType::AudioTranscription,
            file_key: key.clone(),
            file_name: name.into(),
            mime_type: "audio/wav".into(),
            file_size: size,
            interaction_id: Uuid::new_v4(),
            trace_id: Some(Uuid::new_v4().to_string()),
            account_id: Some("a".into()),
            metadata_json: None,
        },
    )
    .await
    .unwrap();
    key
}

async fn status(db: &Db, tenant: TenantId, id: JobId) -> (JobStatus, Option<String>) {
    let j = repo::get_job(db, tenant, id).await.unwrap().unwrap();
    (j.status, j.error_code)
}

fn id(s: &str) -> JobId {
    JobId::parse(s).unwrap()
}

/// An S3 notification record as S3 sends it (key form-encoded).
fn record(key: &str, size: i64) -> Value {
    let enc: String = url::form_urlencoded::byte_serialize(key.as_bytes())
        .collect::<String>()
        .replace("%2F", "/");
    json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
           "eventTime": "2026-11-27T19:04:11.503Z", "eventName": "ObjectCreated:Put",
           "userIdentity": {"principalId": "AWS:X"}, "requestParameters": {"sourceIPAddress": "1.2.3.4"},
           "responseElements": {}, "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
           "bucket": {"name": BUCKET, "ownerIdentity": {"principalId": "A"}, "arn": format!("arn:aws:s3:::{BUCKET}")},
           "object": {"key": enc, "size": size, "eTag": "e", "sequencer": "00AB"}}})
}

#[tokio::test]
async fn fixtures_advance_their_jobs_and_duplicates_change_nothing() {
    let t = TestDb::new().await;
    let s = state(&t.url, t.db.clone(), Arc::default());
    let tenant = TenantId::parse(TENANT).unwrap();
    let a = id("8a0f5a4e-1111-4b2c-9d3e-000000000001");
    let b = id("8a0f5a4e-1111-4b2c-9d3e-000000000002");
    let c = id("8a0f5a4e-1111-4b2c-9d3e-000000000003");
    job(
        &t.db,
        tenant,
        a,
        "Réunion équipe+notes (1).wav",
        Some(48213504),
    )
    .await;
    job(&t.db, tenant, b, "take 100% & more #2.mp3", None).await;
    job(&t.db, tenant, c, "plain.wav", Some(2048)).await;

    handle(&s, fixture("s3-put.json")).await.unwrap();
    assert_eq!(status(&t.db, tenant, a).await.0, JobStatus::Processing);
    let before = repo::get_job(&t.db, tenant, a).await.unwrap().unwrap();
    // Delivered again: succeeds, changes nothing.
    handle(&s, fixture("s3-put.json")).await.unwrap();
    assert_eq!(
        repo::get_job(&t.db, tenant, a).await.unwrap().unwrap(),
        before
    );

    let out = handle(&s, fixture("sqs-s3.json")).await.unwrap();
    assert_eq!(out["batchItemFailures"], json!([]));
    assert_eq!(status(&t.db, tenant, b).await.0, JobStatus::Processing);
    assert_eq!(status(&t.db, tenant, c).await.0, JobStatus::Processing);

    let out = handle(&s, fixture("s3-test-event.json")).await.unwrap();
    assert_eq!(out["test_event"], true);
    let err = handle(&s, payload(json!({"detail": "?"})))
        .await
        .unwrap_err();
    assert!(matches!(err, EventsError::Unrecognized(_)));
    let diag: lambda_runtime::Diagnostic = err.into();
    assert_eq!(diag.error_type, "UnrecognizedEvent");
}

#[tokio::test]
#[allow(clippy::too_many_lines)]
async fn a_hundred_record_batch_is_one_round_trip_with_the_right_outcomes() {
    let t = TestDb::new().await;
    let proxy = CountingProxy::start(t.server_addr()).await;
    let db = Db::new(DbSettings::new(t.url_via(proxy.addr)).unwrap());
    let s = state(&t.url, db, Arc::default());
    let tenant = TenantId(Uuid::new_v4());
    let other = TenantId(Uuid::new_v4());
    let mut records = Vec::new();
    let mut expect: Vec<(JobId, JobStatus, Option<&str>)> = Vec::new();
    let names = [
        "Réunion équipe+notes (1).wav",
        "a b.wav",
        "100% & #1.wav",
        "x(1)+y.mp3",
    ];
    for i in 0..100 {
        let jid = JobId::new_random();
        let name = names[i % names.len()];
        match i % 10 {
            0..=3 => {
                // new, declared size matches
                let k = job(&t.db, tenant, jid, name, Some(500)).await;
                records.push(record(k.as_str(), 500));
                expect.push((jid, JobStatus::Processing, None));
            }
            4 => {
                // duplicate of the previous record
                let prev = records.last().unwrap().clone();
                records.push(prev);
            }
            5 => {
                // unknown key (no row)
                let k = FileKey::build(tenant, jid, SafeFileName::new(name));
                records.push(record(k.as_str(), 10));
            }
            6 => {
                // foreign key (outside the upload layout)
                records.push(record(&format!("uploads/elsewhere/{i}.wav"), 10));
            }
            7 => {
                // zero size
                let k = job(&t.db, tenant, jid, name, None).await;
                records.push(record(k.as_str(), 0));
                expect.push((jid, JobStatus::Failed, Some("EMPTY_UPLOAD")));
            }
            8 => {
                // oversize
                let k = job(&t.db, tenant, jid, name, None).await;
                records.push(record(k.as_str(), MAX + 1));
                expect.push((jid, JobStatus::Failed, Some("FILE_TOO_LARGE")));
            }
            _ => {
                // declared size differs
                let k = job(&t.db, other, jid, name, Some(100)).await;
                records.push(record(k.as_str(), 99));
                expect.push((jid, JobStatus::Failed, Some("SIZE_MISMATCH")));
            }
        }
    }
    assert_eq!(records.len(), 100);
    // Warm the pool so only the batch is counted.
    repo::get_job(&s.db, tenant, JobId::new_random())
        .await
        .unwrap();
    proxy.reset();
    handle(&s, payload(json!({"Records": records})))
        .await
        .unwrap();
    assert_eq!(proxy.round_trips(), 1, "all records in one statement");
    for (jid, st, code) in expect {
        let j = repo::get_job(&t.db, tenant, jid)
            .await
            .unwrap()
            .or(repo::get_job(&t.db, other, jid).await.unwrap())
            .unwrap();
        assert_eq!(
            (j.status, j.error_code.as_deref()),
            (st, code),
            "{}",
            j.file_key
        );
        if st == JobStatus::Failed {
            assert!(j.completed_at.is_some());
            assert!(j.error_message.as_deref().is_some_and(|m| m.ends_with('.')));
        }
    }
}

#[tokio::test]
async fn racing_invocations_move_a_job_once_and_both_succeed() {
    let t = TestDb::new().await;
    let s = Arc::new(state(&t.url, t.db.clone(), Arc::default()));
    let tenant = TenantId(Uuid::new_v4());
    let jid = JobId::new_random();
    let k = job(&t.db, tenant, jid, "race.wav", None).await;
    let ev = payload(json!({"Records": [record(k.as_str(), 10)]}));
    let (x, y) = tokio::join!(handle(&s, ev.clone()), handle(&s, ev.clone()));
    x.unwrap();
    y.unwrap();
    let j = repo::get_job(&t.db, tenant, jid).await.unwrap().unwrap();
    assert_eq!(j.status, JobStatus::Processing);
}

#[tokio::test]
async fn database_down_fails_direct_invocations_and_every_sqs_message() {
    let t = TestDb::new().await;
    let tenant = TenantId::parse(TENANT).unwrap();
    for (jid, name) in [
        (
            "8a0f5a4e-1111-4b2c-9d3e-000000000002",
            "take 100% & more #2.mp3",
        ),
        ("8a0f5a4e-1111-4b2c-9d3e-000000000003", "plain.wav"),
        (
            "8a0f5a4e-1111-4b2c-9d3e-000000000001",
            "Réunion équipe+notes (1).wav",
        ),
    ] {
        job(&t.db, tenant, id(jid), name, None).await;
    }
    let url = format!("postgres://postgres@{}/x", refused_addr());
    let mut settings = DbSettings::new(&url).unwrap();
    settings.connect_timeout = std::time::Duration::from_millis(300);
    let s = state(&url, Db::new(settings), Arc::default());

    let err = handle(&s, fixture("s3-put.json")).await.unwrap_err();
    assert!(matches!(err, EventsError::Database(_)));
    let diag: lambda_runtime::Diagnostic = err.into();
    assert_eq!(diag.error_type, "DatabaseUnavailable");

    let out = handle(&s, fixture("sqs-s3.json")).await.unwrap();
    let failed: Vec<&str> = out["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    // Both messages with records failed; the s3:TestEvent message needed no write.
    assert_eq!(
        failed,
        vec![
            "059f36b4-87a3-44ab-83d2-661975620001",
            "059f36b4-87a3-44ab-83d2-661975620002"
        ]
    );

    let c = t.client().await;
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM upload_jobs WHERE status <> 'queued'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "no row changed");
}

#[tokio::test]
#[allow(clippy::too_many_lines)]
async fn the_reaper_expires_recovers_times_out_and_never_double_handles() {
    let t = TestDb::new().await;
    let objects = Arc::new(MemoryObjects::default());
    let s = Arc::new(state(&t.url, t.db.clone(), objects.clone()));
    let tenant = TenantId(Uuid::new_v4());
    let (gone, lost, fresh, stuck) = (
        JobId::new_random(),
        JobId::new_random(),
        JobId::new_random(),
        JobId::new_random(),
    );
    job(&t.db, tenant, gone, "gone.wav", None).await;
    let lost_key = job(&t.db, tenant, lost, "lost event.wav", Some(77)).await;
    job(&t.db, tenant, fresh, "fresh.wav", None).await;
    let stuck_key = job(&t.db, tenant, stuck, "stuck.wav", None).await;
    repo::advance_batch(
        &t.db,
        &[repo::UploadedObject::at(&stuck_key, Some(1), None)],
        MAX as u64,
    )
    .await
    .unwrap();
    let c = t.client().await;
    c.execute("UPDATE upload_jobs SET created_at = now() - interval '10 minutes', updated_at = now() - interval '10 minutes' WHERE id = ANY($1)",
        &[&vec![gone.0, lost.0]]).await.unwrap();
    c.execute(
        "UPDATE upload_jobs SET started_at = now() - interval '31 minutes' WHERE id = $1",
        &[&stuck.0],
    )
    .await
    .unwrap();
    objects.put(lost_key.as_str(), 77); // uploaded, but its notification was lost

    let (r1, r2) = tokio::join!(
        handle(&s, fixture("scheduled.json")),
        handle(&s, fixture("scheduled.json"))
    );
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    let sum = |k: &str| r1[k].as_u64().unwrap() + r2[k].as_u64().unwrap();
    assert_eq!(sum("claimed"), 2, "{r1} {r2}");
    assert_eq!(sum("recovered"), 1);
    assert_eq!(sum("expired"), 1);
    assert_eq!(sum("timed_out"), 1);

    assert_eq!(
        status(&t.db, tenant, gone).await,
        (JobStatus::Failed, Some("UPLOAD_EXPIRED".into()))
    );
    assert_eq!(
        status(&t.db, tenant, lost).await,
        (JobStatus::Processing, None)
    );
    assert_eq!(
        status(&t.db, tenant, fresh).await,
        (JobStatus::Queued, None)
    );
    assert_eq!(
        status(&t.db, tenant, stuck).await,
        (JobStatus::Failed, Some("PROCESSING_TIMEOUT".into()))
    );

    // A HEAD outage leaves jobs queued for a later run.
    let later = JobId::new_random();
    job(&t.db, tenant, later, "later.wav", None).await;
    c.execute("UPDATE upload_jobs SET created_at = now() - interval '10 minutes', updated_at = now() - interval '10 minutes' WHERE id = $1", &[&later.0]).await.unwrap();
    objects.set_failing(true);
    let r = handle(&s, fixture("scheduled.json")).await.unwrap();
    assert_eq!(r["head_errors"], 1);
    assert_eq!(status(&t.db, tenant, later).await.0, JobStatus::Queued);
}

#[tokio::test]
async fn the_reaper_handles_jobs_whose_stored_key_is_outside_the_layout() {
    // Rows the Python service wrote before the cut-over may carry keys of
    // another layout: the reaper goes by the row (tenant, id, stored key),
    // so they are recovered or expired like any other, never left to clog
    // the oldest-first claims.
    let t = TestDb::new().await;
    let objects = Arc::new(MemoryObjects::default());
    let s = state(&t.url, t.db.clone(), objects.clone());
    let tenant = TenantId(Uuid::new_v4());
    let (uploaded, abandoned) = (JobId::new_random(), JobId::new_random());
    let c = t.client().await;
    for (id, key) in [
        (uploaded, "uploads/legacy/take 1.wav"),
        (abandoned, "uploads/legacy/never.wav"),
    ] {
        c.execute(
            "INSERT INTO upload_jobs (id, tenant_id, user_id, file_key, file_name, interaction_id,
                                      created_at, updated_at)
             VALUES ($1, $2, 'py', $3, 'x.wav', gen_random_uuid(),
                     now() - interval '10 minutes', now() - interval '10 minutes')",
            &[&id.0, &tenant.0, &key],
        )
        .await
        .unwrap();
    }
    objects.put("uploads/legacy/take 1.wav", 5);
    let r = handle(&s, fixture("scheduled.json")).await.unwrap();
    assert_eq!(
        (r["recovered"].as_u64(), r["expired"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    assert_eq!(
        status(&t.db, tenant, uploaded).await,
        (JobStatus::Processing, None)
    );
    assert_eq!(
        status(&t.db, tenant, abandoned).await,
        (JobStatus::Failed, Some("UPLOAD_EXPIRED".into()))
    );
}
