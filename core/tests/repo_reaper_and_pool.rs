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
