//! The state machine and the batch advance against real PostgreSQL: every
//! transition, one round trip per batch, racing advances.
#![allow(clippy::too_many_lines)] // tests read top to bottom

mod common;

use common::*;
use upload_core::db::DbSettings;
use upload_core::repo::{self, AdvanceOutcome, Transition, UploadedObject};
use upload_core::{Db, FileKey, JobId, JobStatus, TenantId};
use upload_testkit::{CountingProxy, TestDb};
use uuid::Uuid;

#[tokio::test]
async fn every_allowed_transition_works_and_every_other_is_refused() {
    let t = TestDb::new().await;
    let db = &t.db;
    let tenant = TenantId(Uuid::new_v4());

    // queued -> processing -> succeeded
    let a = new_job(tenant, "a.wav", Some(10));
    insert(db, &a).await;
    // refused from queued: succeed and fail (both need processing)
    assert!(
        matches!(repo::succeed(db, tenant, a.id, "x").await.unwrap(), Transition::Refused(j) if j.status == JobStatus::Queued)
    );
    assert!(
        matches!(repo::fail(db, tenant, a.id, "E", "m").await.unwrap(), Transition::Refused(j) if j.status == JobStatus::Queued)
    );
    let r = repo::advance_batch(db, &[item(&a, Some(10))], MAX)
        .await
        .unwrap();
    assert_eq!(r[0].outcome, AdvanceOutcome::Advanced);
    let row = repo::get_job(db, tenant, a.id).await.unwrap().unwrap();
    assert_eq!(row.status, JobStatus::Processing);
    assert!(row.started_at.is_some() && row.completed_at.is_none());
    assert!(row.updated_at >= row.created_at);
    // refused from processing: fail_queued, advance again
    assert!(
        matches!(repo::fail_queued(db, tenant, a.id, "E", "m").await.unwrap(), Transition::Refused(j) if j.status == JobStatus::Processing)
    );
    let r = repo::advance_batch(db, &[item(&a, Some(10))], MAX)
        .await
        .unwrap();
    assert_eq!(
        r[0].outcome,
        AdvanceOutcome::AlreadyPast {
            status: JobStatus::Processing
        }
    );
    let Transition::Moved(done) = repo::succeed(db, tenant, a.id, "42 words").await.unwrap() else {
        panic!("succeed")
    };
    assert_eq!(done.status, JobStatus::Succeeded);
    assert_eq!(done.result_summary.as_deref(), Some("42 words"));
    assert!(done.completed_at.is_some());
    // Terminal: nothing moves it, and the row is unchanged.
    let before = repo::get_job(db, tenant, a.id).await.unwrap().unwrap();
    assert!(matches!(
        repo::succeed(db, tenant, a.id, "again").await.unwrap(),
        Transition::Refused(_)
    ));
    assert!(matches!(
        repo::fail(db, tenant, a.id, "E", "m").await.unwrap(),
        Transition::Refused(_)
    ));
    assert!(matches!(
        repo::fail_queued(db, tenant, a.id, "E", "m").await.unwrap(),
        Transition::Refused(_)
    ));
    let r = repo::advance_batch(db, &[item(&a, Some(10))], MAX)
        .await
        .unwrap();
    assert_eq!(
        r[0].outcome,
        AdvanceOutcome::AlreadyPast {
            status: JobStatus::Succeeded
        }
    );
    assert_eq!(
        repo::get_job(db, tenant, a.id).await.unwrap().unwrap(),
        before
    );

    // processing -> failed, then terminal
    let b = new_job(tenant, "b.wav", None);
    insert(db, &b).await;
    repo::advance_batch(db, &[item(&b, Some(5))], MAX)
        .await
        .unwrap();
    let Transition::Moved(f) =
        repo::fail(db, tenant, b.id, "TRANSCRIBE_FAILED", "The engine gave up.")
            .await
            .unwrap()
    else {
        panic!("fail")
    };
    assert_eq!(f.status, JobStatus::Failed);
    assert_eq!(f.error_code.as_deref(), Some("TRANSCRIBE_FAILED"));
    let before = repo::get_job(db, tenant, b.id).await.unwrap().unwrap();
    assert!(matches!(
        repo::succeed(db, tenant, b.id, "late").await.unwrap(),
        Transition::Refused(_)
    ));
    assert_eq!(
        repo::get_job(db, tenant, b.id).await.unwrap().unwrap(),
        before
    );

    // queued -> failed
    let c = new_job(tenant, "c.wav", None);
    insert(db, &c).await;
    let Transition::Moved(f) = repo::fail_queued(db, tenant, c.id, "UPLOAD_REJECTED", "No.")
        .await
        .unwrap()
    else {
        panic!("fail_queued")
    };
    assert_eq!(f.status, JobStatus::Failed);
    assert!(f.completed_at.is_some() && f.started_at.is_none());
    let r = repo::advance_batch(db, &[item(&c, Some(5))], MAX)
        .await
        .unwrap();
    assert_eq!(
        r[0].outcome,
        AdvanceOutcome::AlreadyPast {
            status: JobStatus::Failed
        }
    );

    // Unknown job / other tenant
    let other = TenantId(Uuid::new_v4());
    assert_eq!(
        repo::succeed(db, other, c.id, "x").await.unwrap(),
        Transition::NotFound
    );
    assert_eq!(
        repo::fail(db, tenant, JobId::new_random(), "E", "m")
            .await
            .unwrap(),
        Transition::NotFound
    );
}

#[tokio::test]
async fn batch_advance_is_one_round_trip_and_sorts_every_record() {
    let t = TestDb::new().await;
    let proxy = CountingProxy::start(t.server_addr()).await;
    let db = Db::new(DbSettings::new(t.url_via(proxy.addr)).unwrap());
    let tenant = TenantId(Uuid::new_v4());
    let other_tenant = TenantId(Uuid::new_v4());

    let fresh = new_job(tenant, "fresh.wav", Some(100));
    let undeclared = new_job(tenant, "undeclared.wav", None);
    let empty = new_job(tenant, "empty.wav", None);
    let huge = new_job(tenant, "huge.wav", None);
    let mismatch = new_job(tenant, "mismatch.wav", Some(100));
    let done = new_job(tenant, "done.wav", Some(7));
    let foreign = new_job(other_tenant, "theirs.wav", Some(7));
    for j in [
        &fresh,
        &undeclared,
        &empty,
        &huge,
        &mismatch,
        &done,
        &foreign,
    ] {
        insert(&t.db, j).await;
    }
    repo::advance_batch(&t.db, &[item(&done, Some(7))], MAX)
        .await
        .unwrap();
    let unknown = new_job(tenant, "never-inited.wav", None);

    let items = vec![
        item(&fresh, Some(100)),
        item(&undeclared, Some(12345)),
        item(&empty, Some(0)),
        item(&huge, Some(MAX as i64 + 1)),
        item(&mismatch, Some(99)),
        item(&done, Some(7)),
        item(&fresh, Some(100)), // duplicate within the batch
        item(&unknown, Some(1)),
        // another tenant's job id and name under our tenant
        UploadedObject::at(
            &FileKey::build(tenant, foreign.id, foreign.file_key.name().clone()),
            Some(7),
            None,
        ),
    ];
    proxy.reset();
    let res = repo::advance_batch(&db, &items, MAX).await.unwrap();
    assert_eq!(proxy.round_trips(), 1, "one statement, one round trip");
    let outcomes: Vec<_> = res.iter().map(|r| r.outcome.clone()).collect();
    assert_eq!(
        outcomes,
        vec![
            AdvanceOutcome::Advanced,
            AdvanceOutcome::Advanced,
            AdvanceOutcome::Rejected {
                code: "EMPTY_UPLOAD".into()
            },
            AdvanceOutcome::Rejected {
                code: "FILE_TOO_LARGE".into()
            },
            AdvanceOutcome::Rejected {
                code: "SIZE_MISMATCH".into()
            },
            AdvanceOutcome::AlreadyPast {
                status: JobStatus::Processing
            },
            AdvanceOutcome::DuplicateInBatch,
            AdvanceOutcome::UnknownKey,
            AdvanceOutcome::UnknownKey,
        ]
    );
    // Correlation fields come back with each known job.
    let tr = res[0].job.as_ref().unwrap();
    assert_eq!(tr.job_id, fresh.id);
    assert_eq!(tr.trace_id, fresh.trace_id);
    assert_eq!(tr.interaction_id, fresh.interaction_id);

    let mm = repo::get_job(&t.db, tenant, mismatch.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mm.status, JobStatus::Failed);
    assert_eq!(
        mm.error_message.as_deref(),
        Some("The uploaded file is 99 bytes, but 100 bytes were declared at init.")
    );
    assert!(mm.completed_at.is_some());
    let e = repo::get_job(&t.db, tenant, empty.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.error_code.as_deref(), Some("EMPTY_UPLOAD"));
    assert_eq!(status_of(&t.db, &foreign).await, JobStatus::Queued);

    // 100 records are still one round trip.
    let mut many = Vec::new();
    for i in 0..100 {
        let j = new_job(tenant, &format!("bulk {i}.wav"), None);
        insert(&t.db, &j).await;
        many.push(item(&j, Some(10)));
    }
    proxy.reset();
    let res = repo::advance_batch(&db, &many, MAX).await.unwrap();
    assert_eq!(proxy.round_trips(), 1);
    assert!(res.iter().all(|r| r.outcome == AdvanceOutcome::Advanced));

    // Get and list are one round trip each, too.
    proxy.reset();
    repo::get_job(&db, tenant, fresh.id).await.unwrap().unwrap();
    assert_eq!(proxy.round_trips(), 1);
    proxy.reset();
    repo::list_jobs(&db, tenant, None, 20, None).await.unwrap();
    assert_eq!(proxy.round_trips(), 1);
    proxy.reset();
    repo::create_queued_job(&db, &new_job(tenant, "x.wav", None))
        .await
        .unwrap();
    assert_eq!(proxy.round_trips(), 1);
}

#[tokio::test]
async fn fifty_concurrent_advances_move_the_job_once() {
    let t = TestDb::new().await;
    let mut s = t.settings();
    s.pool_max = 50;
    let db = Db::new(s);
    let tenant = TenantId(Uuid::new_v4());
    let job = new_job(tenant, "race.wav", Some(10));
    insert(&db, &job).await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let db = db.clone();
            let it = item(&job, Some(10));
            tokio::spawn(async move { repo::advance_batch(&db, &[it], MAX).await.unwrap() })
        })
        .collect();
    let mut advanced = 0;
    for task in tasks {
        let r = task.await.unwrap();
        match &r[0].outcome {
            AdvanceOutcome::Advanced => advanced += 1,
            AdvanceOutcome::Concurrent | AdvanceOutcome::AlreadyPast { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(advanced, 1);
    let row = repo::get_job(&db, tenant, job.id).await.unwrap().unwrap();
    assert_eq!(row.status, JobStatus::Processing);
}
