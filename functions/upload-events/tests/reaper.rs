//! The scheduled reaper against real PostgreSQL and an in-memory store.

mod common;

use std::sync::Arc;

use common::*;
use upload_core::repo::{self};
use upload_core::{JobId, JobStatus, TenantId};
use upload_events::handle;
use upload_testkit::MemoryObjects;
use upload_testkit::TestDb;
use uuid::Uuid;

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
