//! The events handler with real S3/SQS/schedule payloads against real PostgreSQL.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::json;
use upload_core::db::DbSettings;
use upload_core::repo::{self};
use upload_core::{Db, FileKey, JobId, JobStatus, SafeFileName, TenantId};
use upload_events::{EventsError, handle};
use upload_testkit::{CountingProxy, TestDb, refused_addr};
use uuid::Uuid;

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
