//! Creating, reading and listing jobs against real PostgreSQL: tenant
//! isolation, idempotent creates, keyset pagination.
#![allow(clippy::too_many_lines)] // tests read top to bottom

mod common;

use common::*;
use upload_core::repo::{self, AdvanceOutcome, Created, PageCursor, UploadedObject};
use upload_core::{Db, FileKey, JobId, JobStatus, SafeFileName, TenantId};
use upload_testkit::TestDb;
use uuid::Uuid;

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
        &[UploadedObject::at(
            &FileKey::build(other, job.id, job.file_key.name().clone()),
            Some(42),
            None,
        )],
        MAX,
    )
    .await
    .unwrap();
    assert_eq!(res[0].outcome, AdvanceOutcome::UnknownKey);
    assert_eq!(status_of(&t.db, &job).await, JobStatus::Queued);
}

#[tokio::test]
async fn idempotent_creates_race_safely() {
    let t = TestDb::new().await;
    let mut s = t.settings();
    s.pool_max = 20;
    let db = Db::new(s);
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
