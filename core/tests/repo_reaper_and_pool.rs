//! The reaper's statements and the pool's recovery against real PostgreSQL.
#![allow(clippy::too_many_lines)] // tests read top to bottom

mod common;

use std::time::{Duration, Instant};

use common::*;
use upload_core::db::DbSettings;
use upload_core::repo::{self};
use upload_core::{Db, DbError, JobId, JobStatus, TenantId};
use upload_testkit::{CountingProxy, TestDb, black_hole, refused_addr};
use uuid::Uuid;

/// URL TTL 300 s + grace 300 s + 1,000 bytes at 1 byte/s: 1,600 s.
const WINDOW: repo::UploadWindow = repo::UploadWindow {
    url_ttl_secs: 300.0,
    grace_secs: 300.0,
    max_upload_bytes: 1000,
    min_bytes_per_second: 1.0,
};

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
        repo::claim_stale_queued(db, &WINDOW, 120.0, 100),
        repo::claim_stale_queued(db, &WINDOW, 120.0, 100)
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    let mut claimed: Vec<_> = x.iter().chain(y.iter()).map(|s| s.trace.job_id).collect();
    claimed.sort();
    let mut want = vec![old_a.id, old_b.id];
    want.sort();
    assert_eq!(claimed, want);
    // Within the lease a later run sees nothing.
    assert!(
        repo::claim_stale_queued(db, &WINDOW, 120.0, 100)
            .await
            .unwrap()
            .is_empty()
    );

    let expired = repo::expire_queued(db, &WINDOW, &[(tenant, old_a.id), (tenant, young.id)]).await;
    // The window is checked again: young is still within it (say its URL
    // was issued again after the claim), so only old_a expires.
    assert_eq!(expired.unwrap().len(), 1);
    assert_eq!(status_of(db, &young).await, JobStatus::Queued);
    let a = repo::get_job(db, tenant, old_a.id).await.unwrap().unwrap();
    assert_eq!(a.status, JobStatus::Failed);
    assert_eq!(a.error_code.as_deref(), Some("UPLOAD_EXPIRED"));
    // Expiring again changes nothing.
    assert!(
        repo::expire_queued(db, &WINDOW, &[(tenant, old_a.id)])
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
    let mut s = DbSettings::new(t.url_via(proxy.addr)).unwrap();
    s.pool_max = 1;
    let db = Db::new(s);
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
    let mut s = DbSettings::new(format!("postgres://postgres@{refused}/x")).unwrap();
    s.connect_timeout = Duration::from_millis(500);
    let db = Db::new(s);
    let err = repo::get_job(&db, tenant, JobId::new_random())
        .await
        .unwrap_err();
    assert!(matches!(err, DbError::Unavailable(_)), "{err:?}");
    assert!(err.is_transient());

    let (hole, _h) = black_hole().await;
    let mut s = DbSettings::new(format!("postgres://postgres@{hole}/x")).unwrap();
    s.connect_timeout = Duration::from_millis(500);
    let db = Db::new(s);
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

#[tokio::test]
async fn the_upload_window_grows_with_the_size_and_starts_at_the_last_url() {
    let t = TestDb::new().await;
    let db = &t.db;
    let c = t.client().await;
    let tenant = TenantId(Uuid::new_v4());
    // All created 30 minutes ago.
    let small = new_job(tenant, "small.wav", Some(100));
    let big = new_job(tenant, "big.wav", Some(1_000_000));
    let undeclared = new_job(tenant, "undeclared.wav", None);
    let reissued = new_job(tenant, "reissued.wav", Some(100));
    for j in [&small, &big, &undeclared, &reissued] {
        insert(db, j).await;
    }
    c.execute(
        "UPDATE upload_jobs SET created_at = now() - interval '30 minutes', updated_at = now() - interval '30 minutes'",
        &[],
    )
    .await
    .unwrap();
    // An idempotent init retry issued a new URL that expires in 10 minutes.
    c.execute(
        "UPDATE upload_jobs SET upload_expires_at = now() + interval '10 minutes' WHERE id = $1",
        &[&reissued.id.0],
    )
    .await
    .unwrap();
    // 300 s TTL + 300 s grace + size at 1,000 bytes/s: small 600.1 s, big
    // 1,600 s, undeclared (at the 5,000,000-byte maximum) 5,600 s.
    let window = repo::UploadWindow {
        url_ttl_secs: 300.0,
        grace_secs: 300.0,
        max_upload_bytes: 5_000_000,
        min_bytes_per_second: 1000.0,
    };
    let mut claimed: Vec<JobId> = repo::claim_stale_queued(db, &window, 120.0, 100)
        .await
        .unwrap()
        .iter()
        .map(|s| s.trace.job_id)
        .collect();
    claimed.sort();
    let mut want = vec![small.id, big.id];
    want.sort();
    assert_eq!(claimed, want);
    // At 100 bytes/s big's window is 10,600 s: it is not expired even if asked.
    let slow = repo::UploadWindow {
        min_bytes_per_second: 100.0,
        ..window
    };
    let expired = repo::expire_queued(db, &slow, &[(tenant, small.id), (tenant, big.id)])
        .await
        .unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].job_id, small.id);
    assert_eq!(status_of(db, &big).await, JobStatus::Queued);
}

#[tokio::test]
async fn a_run_never_takes_more_than_its_batch() {
    // Regression: written as `id IN (SELECT ... LIMIT n FOR UPDATE SKIP
    // LOCKED)` the planner rescanned the subquery per row and a batch of 2
    // claimed all 4 stale jobs.
    let t = TestDb::new().await;
    let db = &t.db;
    let tenant = TenantId(Uuid::new_v4());
    let mut jobs = Vec::new();
    for i in 0..8 {
        let j = new_job(tenant, &format!("{i}.wav"), Some(1));
        insert(db, &j).await;
        jobs.push(j);
    }
    let processing: Vec<_> = jobs[4..].iter().map(|j| item(j, Some(1))).collect();
    repo::advance_batch(db, &processing, MAX).await.unwrap();
    t.client()
        .await
        .execute(
            "UPDATE upload_jobs SET created_at = now() - interval '1 day',
                 updated_at = now() - interval '1 day', started_at = now() - interval '1 day'",
            &[],
        )
        .await
        .unwrap();
    let claimed = repo::claim_stale_queued(db, &WINDOW, 120.0, 2)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 2);
    let timed_out = repo::timeout_processing(db, 60.0, 2).await.unwrap();
    assert_eq!(timed_out.len(), 2);
}

#[tokio::test]
async fn when_every_pooled_connection_was_killed_a_statement_still_succeeds() {
    // Regression (found by the fault soak): with two idle connections both
    // killed (a pooler restart), the one retry took the other dead
    // connection and the request failed with 57P01 although the database
    // was up. Timing-dependent, so several rounds.
    let t = TestDb::new().await;
    let mut s = t.settings();
    s.pool_max = 2;
    let db = Db::new(s);
    let tenant = TenantId(Uuid::new_v4());
    let job = new_job(tenant, "a.wav", None);
    insert(&db, &job).await;
    let admin = t.client().await;
    for round in 0..10 {
        // Two connections open and idle in the pool.
        let slow = "SELECT pg_sleep(0.05)";
        let (a, b) = tokio::join!(db.query(slow, &[]), db.query(slow, &[]));
        a.unwrap();
        b.unwrap();
        admin
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap();
        let got = repo::get_job(&db, tenant, job.id).await;
        assert!(matches!(got, Ok(Some(_))), "round {round}: {:?}", got.err());
    }
}
