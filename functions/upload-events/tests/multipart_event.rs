//! `ObjectCreated:CompleteMultipartUpload` advances a job exactly as a PUT's
//! event does: the multipart ETag recorded, the size checked.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::json;
use upload_core::{JobId, JobStatus, TenantId};
use upload_events::handle;
use upload_testkit::TestDb;

#[tokio::test]
async fn a_completed_multipart_upload_advances_its_job_like_a_put() {
    let t = TestDb::new().await;
    let s = state(&t.url, t.db.clone(), Arc::default());
    let tenant = TenantId::parse(TENANT).unwrap();
    let id = JobId::parse("8a0f5a4e-1111-4b2c-9d3e-000000000004").unwrap();
    job(&t.db, tenant, id, "long take.wav", Some(25_165_824)).await;
    handle(&s, fixture("s3-multipart.json")).await.unwrap();
    assert_eq!(
        status(&t.db, tenant, id).await,
        (JobStatus::Processing, None)
    );
    let etag: Option<String> = t
        .client()
        .await
        .query_one(
            "SELECT object_etag FROM upload_jobs WHERE id = $1",
            &[&id.0],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(etag.as_deref(), Some("6f2b0c7d1e9a4b3c8d7e6f5a4b3c2d1e-5"));

    // A multipart object of another size than declared fails its job.
    let other = JobId::new_random();
    let key = job(&t.db, tenant, other, "short.wav", Some(10_000_000)).await;
    let mut ev: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/s3-multipart.json"
        ))
        .unwrap(),
    )
    .unwrap();
    ev["Records"][0]["s3"]["object"]["key"] = json!(key.as_str());
    handle(&s, payload(ev)).await.unwrap();
    assert_eq!(
        status(&t.db, tenant, other).await,
        (JobStatus::Failed, Some("SIZE_MISMATCH".into()))
    );
}
