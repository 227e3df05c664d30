//! The repository against real PostgreSQL: state machine, batch advance,
//! concurrency, pagination, reaper statements, pool recovery.

use std::time::{Duration, Instant};

use upload_shared::db::DbSettings;
use upload_shared::repo::{
    self, AdvanceItem, AdvanceOutcome, Created, NewJob, PageCursor, Transition,
};
use upload_shared::testing::{CountingProxy, TestDb, black_hole, refused_addr};
use upload_shared::{Db, DbError, FileKey, JobId, JobStatus, JobType, SafeFileName, TenantId};
use uuid::Uuid;

const MAX: u64 = 1_000_000;

fn new_job(tenant: TenantId, name: &str, size: Option<i64>) -> NewJob {
    let id = JobId::new_random();
    NewJob {
        id,
        tenant_id: tenant,
        user_id: "user-1".into(),
        job_type: JobType::AudioTranscription,
        file_key: FileKey::build(tenant, id, SafeFileName::new(name)),
        file_name: name.into(),
        mime_type: "audio/wav".into(),
        file_size: size,
        interaction_id: Uuid::new_v4(),
        trace_id: Some(Uuid::new_v4().to_string()),
        account_id: Some("acct-1".into()),
        metadata_json: Some(r#"{"k":"v"}"#.into()),
    }
}

async fn insert(db: &Db, job: &NewJob) {
    let c = repo::create_queued_job(db, job).await.unwrap();
    assert!(matches!(c, Created::New(_)));
}

fn item(job: &NewJob, size: Option<i64>) -> AdvanceItem {
    AdvanceItem {
        tenant_id: job.tenant_id,
        file_key: job.file_key.as_str().into(),
        size,
    }
}

async fn status_of(db: &Db, job: &NewJob) -> JobStatus {
    repo::get_job(db, job.tenant_id, job.id)
        .await
        .unwrap()
        .unwrap()
        .status
}

#[tokio::test]
async fn create_get_and_tenant_isolation() {
    let t = TestDb::new().await;
    let tenant = TenantId(Uuid::new_v4());
    let job = new_job(tenant, "Réunion équipe+notes (1).wav", Some(42));
    let created = repo::create_queued_job(&t.db, &job).await.unwrap();
    let Created::New(row) = created else {
        panic!("new")
    };
    assert_eq!(row.status, JobStatus::Queued);
    assert_eq!(row.file_key, job.file_key.as_str());
    assert_eq!(row.file_size, Some(42));
    assert_eq!(row.metadata_json.as_deref(), Some(r#"{"k":"v"}"#));
    assert!(row.started_at.is_none() && row.completed_at.is_none());

    // A repeat returns the stored row, not a second one.
    let again = repo::create_queued_job(&t.db, &job).await.unwrap();
    assert_eq!(again, Created::Existing(row.clone()));

    let got = repo::get_job(&t.db, tenant, job.id).await.unwrap();
    assert_eq!(got, Some(row));
    let other = TenantId(Uuid::new_v4());
    assert_eq!(repo::get_job(&t.db, other, job.id).await.unwrap(), None);
    let (jobs, next) = repo::list_jobs(&t.db, other, None, 20, None).await.unwrap();
    assert!(jobs.is_empty() && next.is_none());
    // Another tenant's advance by the same key does nothing.
    let res = repo::advance_batch(
        &t.db,
        &[AdvanceItem {
            tenant_id: other,
            file_key: job.file_key.as_str().into(),
            size: Some(42),
        }],
        MAX,
    )
    .await
    .unwrap();
    assert_eq!(res[0].outcome, AdvanceOutcome::UnknownKey);
    assert_eq!(status_of(&t.db, &job).await, JobStatus::Queued);
}

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
    let db = Db::new(DbSettings::new(t.url_via(proxy.addr))).unwrap();
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
        AdvanceItem {
            tenant_id: tenant, // key of another tenant's job under our tenant
            file_key: foreign.file_key.as_str().into(),
            size: Some(7),
        },
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
    let db = Db::new(s).unwrap();
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

#[tokio::test]
async fn idempotent_creates_race_safely() {
    let t = TestDb::new().await;
    let mut s = t.settings();
    s.pool_max = 20;
    let db = Db::new(s).unwrap();
    let tenant = TenantId(Uuid::new_v4());
    let mut job = new_job(tenant, "same.wav", Some(5));
    job.id = JobId::from_idempotency_key(tenant, "retry-key-1");
    job.file_key = FileKey::build(tenant, job.id, SafeFileName::new("same.wav"));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let db = db.clone();
            let job = job.clone();
            tokio::spawn(async move { repo::create_queued_job(&db, &job).await.unwrap() })
        })
        .collect();
    let mut new = 0;
    for task in tasks {
        let c = task.await.unwrap();
        assert_eq!(c.job().id, job.id);
        if matches!(c, Created::New(_)) {
            new += 1;
        }
    }
    assert_eq!(new, 1);
    let c = t.client().await;
    let n: i64 = c
        .query_one("SELECT count(*) FROM upload_jobs", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
}

#[tokio::test]
async fn listing_is_keyset_paginated_newest_first() {
    let t = TestDb::new().await;
    let tenant = TenantId(Uuid::new_v4());
    let mut ids = Vec::new();
    for i in 0..7 {
        let j = new_job(tenant, &format!("{i}.wav"), None);
        insert(&t.db, &j).await;
        ids.push(j);
    }
    // Two jobs with the same created_at: the id breaks the tie.
    let c = t.client().await;
    c.execute(
        "UPDATE upload_jobs SET created_at = (SELECT created_at FROM upload_jobs WHERE id = $1) WHERE id = $2",
        &[&ids[3].id.0, &ids[4].id.0],
    )
    .await
    .unwrap();
    repo::advance_batch(
        &t.db,
        &[item(&ids[0], Some(1)), item(&ids[5], Some(1))],
        MAX,
    )
    .await
    .unwrap();

    let mut seen = Vec::new();
    let mut cursor: Option<PageCursor> = None;
    loop {
        let (page, next) = repo::list_jobs(&t.db, tenant, None, 3, cursor)
            .await
            .unwrap();
        assert!(page.len() <= 3);
        seen.extend(page.iter().map(|j| (j.created_at, j.id)));
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first, ties by id, no repeats");
    sorted.dedup();
    assert_eq!(sorted.len(), 7);

    let (processing, next) = repo::list_jobs(&t.db, tenant, Some(JobStatus::Processing), 20, None)
        .await
        .unwrap();
    assert_eq!(processing.len(), 2);
    assert!(next.is_none());
    assert!(processing.iter().all(|j| j.status == JobStatus::Processing));
}

#[tokio::test]
async fn reaper_statements_expire_time_out_and_never_double_claim() {
    let t = TestDb::new().await;
    let db = &t.db;
    let c = t.client().await;
    let tenant = TenantId(Uuid::new_v4());
    let old_a = new_job(tenant, "old-a.wav", None);
    let old_b = new_job(tenant, "old-b.wav", None);
    let young = new_job(tenant, "young.wav", None);
    let stuck = new_job(tenant, "stuck.wav", None);
    let busy = new_job(tenant, "busy.wav", None);
    for j in [&old_a, &old_b, &young, &stuck, &busy] {
        insert(db, j).await;
    }
    repo::advance_batch(db, &[item(&stuck, Some(1)), item(&busy, Some(1))], MAX)
        .await
        .unwrap();
    c.execute(
        "UPDATE upload_jobs SET created_at = now() - interval '1 hour', updated_at = now() - interval '1 hour' WHERE id = ANY($1)",
        &[&vec![old_a.id.0, old_b.id.0]],
    )
    .await
    .unwrap();
    c.execute(
        "UPDATE upload_jobs SET started_at = now() - interval '2 hours' WHERE id = $1",
        &[&stuck.id.0],
    )
    .await
    .unwrap();

    // Two overlapping claims: each job is claimed once.
    let (x, y) = tokio::join!(
        repo::claim_stale_queued(db, 600.0, 120.0, 100),
        repo::claim_stale_queued(db, 600.0, 120.0, 100)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let mut claimed: Vec<_> = x.iter().chain(y.iter()).map(|s| s.trace.job_id).collect();
    claimed.sort();
    let mut want = vec![old_a.id, old_b.id];
    want.sort();
    assert_eq!(claimed, want);
    // Within the lease a later run sees nothing.
    assert!(
        repo::claim_stale_queued(db, 600.0, 120.0, 100)
            .await
            .unwrap()
            .is_empty()
    );

    let expired = repo::expire_queued(db, &[(tenant, old_a.id), (tenant, young.id)]).await;
    // young is still queued, so it is expired too if asked: the caller only
    // asks for claimed jobs. Here: both were queued.
    assert_eq!(expired.unwrap().len(), 2);
    let a = repo::get_job(db, tenant, old_a.id).await.unwrap().unwrap();
    assert_eq!(a.status, JobStatus::Failed);
    assert_eq!(a.error_code.as_deref(), Some("UPLOAD_EXPIRED"));
    // Expiring again changes nothing.
    assert!(
        repo::expire_queued(db, &[(tenant, old_a.id)])
            .await
            .unwrap()
            .is_empty()
    );

    let (p, q) = tokio::join!(
        repo::timeout_processing(db, 1800.0, 100),
        repo::timeout_processing(db, 1800.0, 100)
    );
    let timed: Vec<_> = p.unwrap().into_iter().chain(q.unwrap()).collect();
    assert_eq!(timed.len(), 1);
    assert_eq!(timed[0].job_id, stuck.id);
    let s = repo::get_job(db, tenant, stuck.id).await.unwrap().unwrap();
    assert_eq!(s.error_code.as_deref(), Some("PROCESSING_TIMEOUT"));
    assert_eq!(
        s.error_message.as_deref(),
        Some("Processing did not finish within 30 minutes.")
    );
    assert_eq!(status_of(db, &busy).await, JobStatus::Processing);
}

#[tokio::test]
async fn a_terminated_connection_is_replaced_not_reused() {
    let t = TestDb::new().await;
    let proxy = CountingProxy::start(t.server_addr()).await;
    let mut s = DbSettings::new(t.url_via(proxy.addr));
    s.pool_max = 1;
    let db = Db::new(s).unwrap();
    let tenant = TenantId(Uuid::new_v4());
    let job = new_job(tenant, "a.wav", None);
    insert(&db, &job).await;
    assert_eq!(proxy.connections(), 1);

    // The server ends the pooled backend (like Neon's idle timeout).
    let admin = t.client().await;
    let n: i64 = admin
        .query_one(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND application_name <> 'migrate') x",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(n >= 1);
    assert!(repo::get_job(&db, tenant, job.id).await.unwrap().is_some());
    assert_eq!(proxy.connections(), 2, "a fresh connection was opened");

    // The socket dies silently (frozen function, NAT timeout): same result.
    proxy.cut_all();
    assert!(repo::get_job(&db, tenant, job.id).await.unwrap().is_some());
    assert_eq!(proxy.connections(), 3);
}

#[tokio::test]
async fn an_unreachable_database_fails_fast_and_clearly() {
    let tenant = TenantId(Uuid::new_v4());
    let refused = refused_addr();
    let mut s = DbSettings::new(format!("postgres://postgres@{refused}/x"));
    s.connect_timeout = Duration::from_millis(500);
    let db = Db::new(s).unwrap();
    let err = repo::get_job(&db, tenant, JobId::new_random())
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::Unavailable(_)), "{err:?}");
    assert!(err.is_transient());

    let (hole, _h) = black_hole().await;
    let mut s = DbSettings::new(format!("postgres://postgres@{hole}/x"));
    s.connect_timeout = Duration::from_millis(500);
    let db = Db::new(s).unwrap();
    let started = Instant::now();
    let err = repo::get_job(&db, tenant, JobId::new_random())
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::Unavailable(_)), "{err:?}");
    // Bounded by the connect timeout (plus slack), not hanging.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
