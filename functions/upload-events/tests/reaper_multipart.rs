//! The reaper and multipart uploads: a job past its upload window whose key
//! has an upload in progress stays queued until the bucket's
//! abort-incomplete lifecycle would end it; then the reaper aborts the
//! upload and the job expires. Real PostgreSQL; the in-memory store (the
//! S3 calls themselves: local/tests/multipart.rs against the local S3).

#![allow(clippy::too_many_lines)]

mod common;

use std::sync::Arc;

use chrono::{Duration, Utc};
use common::*;
use upload_core::{JobId, JobStatus, TenantId};
use upload_events::handle;
use upload_testkit::{MemoryObjects, TestDb};
use uuid::Uuid;

#[tokio::test]
async fn an_upload_in_progress_keeps_its_job_until_the_lifecycle_would_abort_it() {
    let t = TestDb::new().await;
    let objects = Arc::new(MemoryObjects::default());
    let s = Arc::new(state(&t.url, t.db.clone(), objects.clone()));
    let tenant = TenantId(Uuid::new_v4());
    let (live, stale, none) = (
        JobId::new_random(),
        JobId::new_random(),
        JobId::new_random(),
    );
    let live_key = job(&t.db, tenant, live, "live.wav", None).await;
    let stale_key = job(&t.db, tenant, stale, "stale.wav", None).await;
    job(&t.db, tenant, none, "none.wav", None).await;
    let c = t.client().await;
    c.execute(
        "UPDATE upload_jobs SET created_at = now() - interval '3 days', updated_at = now() - interval '3 days', upload_expires_at = NULL",
        &[],
    )
    .await
    .unwrap();
    // One began an hour ago, one three days ago (the lifecycle: one day).
    let live_upload = objects.start_multipart(live_key.as_str(), Utc::now() - Duration::hours(1));
    let stale_upload = objects.start_multipart(stale_key.as_str(), Utc::now() - Duration::days(3));

    let r = handle(&s, fixture("scheduled.json")).await.unwrap();
    assert_eq!(r["claimed"], 3, "{r}");
    assert_eq!(r["expired"], 2, "{r}");
    assert_eq!(r["multipart_in_progress"], 1, "{r}");
    assert_eq!(r["head_errors"], 0, "{r}");
    assert_eq!(status(&t.db, tenant, live).await, (JobStatus::Queued, None));
    for j in [stale, none] {
        assert_eq!(
            status(&t.db, tenant, j).await,
            (JobStatus::Failed, Some("UPLOAD_EXPIRED".into()))
        );
    }
    // The stale upload was aborted before its job expired; the live one not.
    assert_eq!(
        objects.aborted(),
        vec![(stale_key.as_str().to_owned(), stale_upload)]
    );

    // Once the live upload is past the lifecycle (a day, rounded up to the
    // next midnight UTC), it goes too.
    let _ = live_upload;
    let objects2 = Arc::new(MemoryObjects::default());
    let old = objects2.start_multipart(live_key.as_str(), Utc::now() - Duration::days(3));
    let s2 = Arc::new(state(&t.url, t.db.clone(), objects2.clone()));
    c.execute(
        "UPDATE upload_jobs SET updated_at = now() - interval '1 hour' WHERE status = 'queued'",
        &[],
    )
    .await
    .unwrap();
    let r = handle(&s2, fixture("scheduled.json")).await.unwrap();
    assert_eq!(
        (r["claimed"].as_u64(), r["expired"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    assert_eq!(
        objects2.aborted(),
        vec![(live_key.as_str().to_owned(), old)]
    );
    assert_eq!(
        status(&t.db, tenant, live).await,
        (JobStatus::Failed, Some("UPLOAD_EXPIRED".into()))
    );
}

#[tokio::test]
async fn the_lifecycle_is_configured_in_days() {
    let t = TestDb::new().await;
    let objects = Arc::new(MemoryObjects::default());
    let s = Arc::new(state_with(
        &t.url,
        t.db.clone(),
        objects.clone(),
        &[("MULTIPART_ABORT_AFTER_DAYS", "3")],
    ));
    let tenant = TenantId(Uuid::new_v4());
    let id = JobId::new_random();
    let key = job(&t.db, tenant, id, "a.wav", None).await;
    t.client()
        .await
        .execute(
            "UPDATE upload_jobs SET created_at = now() - interval '5 days', updated_at = now() - interval '5 days', upload_expires_at = NULL",
            &[],
        )
        .await
        .unwrap();
    objects.start_multipart(key.as_str(), Utc::now() - Duration::days(2));
    let r = handle(&s, fixture("scheduled.json")).await.unwrap();
    assert_eq!(r["multipart_in_progress"], 1, "{r}");
    assert_eq!(status(&t.db, tenant, id).await, (JobStatus::Queued, None));
    assert!(objects.aborted().is_empty());
}

#[tokio::test]
async fn a_failed_listing_leaves_the_job_queued_and_counts_as_an_s3_error() {
    let t = TestDb::new().await;
    let objects = Arc::new(MemoryObjects::default());
    let s = Arc::new(state(&t.url, t.db.clone(), objects.clone()));
    let tenant = TenantId(Uuid::new_v4());
    let id = JobId::new_random();
    job(&t.db, tenant, id, "a.wav", None).await;
    t.client()
        .await
        .execute(
            "UPDATE upload_jobs SET created_at = now() - interval '1 day', updated_at = now() - interval '1 day', upload_expires_at = NULL",
            &[],
        )
        .await
        .unwrap();
    objects.set_listing_failing(true);
    let r = handle(&s, fixture("scheduled.json")).await.unwrap();
    assert_eq!(
        (r["claimed"].as_u64(), r["expired"].as_u64()),
        (Some(1), Some(0)),
        "{r}"
    );
    assert_eq!(r["head_errors"], 1, "{r}");
    assert_eq!(status(&t.db, tenant, id).await, (JobStatus::Queued, None));
}
