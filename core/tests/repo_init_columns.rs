//! The columns init writes beyond the seed schema, against real PostgreSQL:
//! stored with the insert, read back for an idempotent repeat, and the
//! upload window that only moves forward while the job is queued.

mod common;

use chrono::{DateTime, TimeZone, Utc};
use common::*;
use upload_core::repo::{self, Created, InitColumns};
use upload_core::{JobStatus, TenantId};
use upload_testkit::TestDb;
use uuid::Uuid;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_900_000_000 + secs, 0).unwrap()
}

#[tokio::test]
async fn init_columns_are_stored_and_read_back_for_a_repeat() {
    let t = TestDb::new().await;
    let tenant = TenantId(Uuid::new_v4());
    let job = new_job(tenant, "a.wav", Some(3));
    let cols = InitColumns {
        pg_user_id: Some("pg-1".into()),
        user_name: Some("Zoë".into()),
        participants_json: Some(r#"[{"email": "a@b"}]"#.into()),
        checksum_sha256: Some("n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=".into()),
        upload_expires_at: Some(at(0)),
    };
    let (created, stored) = repo::create_queued_job_with(&t.db, &job, &cols)
        .await
        .unwrap();
    assert!(matches!(created, Created::New(_)));
    assert_eq!(stored, cols);
    // A repeat with other values inserts nothing and reads back the stored ones.
    let (again, stored) = repo::create_queued_job_with(&t.db, &job, &InitColumns::default())
        .await
        .unwrap();
    assert!(matches!(again, Created::Existing(_)));
    assert_eq!(stored, cols);
    // Without them, the columns stay NULL.
    let bare = new_job(tenant, "b.wav", None);
    insert(&t.db, &bare).await;
    let (_, stored) = repo::create_queued_job_with(&t.db, &bare, &cols)
        .await
        .unwrap();
    assert_eq!(stored, InitColumns::default());
}

#[tokio::test]
async fn the_upload_window_moves_forward_only_while_queued() {
    let t = TestDb::new().await;
    let tenant = TenantId(Uuid::new_v4());
    let job = new_job(tenant, "a.wav", Some(3));
    let cols = InitColumns {
        upload_expires_at: Some(at(0)),
        ..InitColumns::default()
    };
    repo::create_queued_job_with(&t.db, &job, &cols)
        .await
        .unwrap();
    let extend = |to| repo::extend_upload_window(&t.db, tenant, job.id, to);
    assert_eq!(extend(at(300)).await.unwrap(), Some(at(300)));
    assert_eq!(extend(at(100)).await.unwrap(), Some(at(300)), "never back");
    // Another tenant's job: nothing.
    let other = TenantId(Uuid::new_v4());
    assert_eq!(
        repo::extend_upload_window(&t.db, other, job.id, at(900))
            .await
            .unwrap(),
        None
    );
    // NULL (a row from before migration 003) takes the new expiry.
    let old = new_job(tenant, "old.wav", None);
    insert(&t.db, &old).await;
    assert_eq!(
        repo::extend_upload_window(&t.db, tenant, old.id, at(60))
            .await
            .unwrap(),
        Some(at(60))
    );
    // Once the upload arrived (the job left `queued`): nothing changes.
    let c = t.client().await;
    c.execute(
        "UPDATE upload_jobs SET status = 'processing', started_at = now() WHERE id = $1",
        &[&job.id.0],
    )
    .await
    .unwrap();
    assert_eq!(status_of(&t.db, &job).await, JobStatus::Processing);
    assert_eq!(extend(at(600)).await.unwrap(), None);
    let stored: DateTime<Utc> = c
        .query_one(
            "SELECT upload_expires_at FROM upload_jobs WHERE id = $1",
            &[&job.id.0],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, at(300));
}
