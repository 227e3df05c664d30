//! Overwrite protection through real S3 and SQS payloads: a replayed upload
//! URL that replaces the bytes after the job advanced fails the job with
//! OBJECT_REPLACED; redeliveries and late events of older objects change
//! nothing.

mod common;

use std::sync::Arc;

use common::*;
use serde_json::{Value, json};
use upload_core::{JobId, JobStatus, TenantId};
use upload_events::handle;
use upload_testkit::TestDb;
use uuid::Uuid;

fn put_record(key: &str, size: i64, etag: &str, sequencer: &str) -> Value {
    let mut r = record(key, size);
    r["s3"]["object"]["eTag"] = json!(etag);
    r["s3"]["object"]["sequencer"] = json!(sequencer);
    r
}

fn sqs(records: &[Value]) -> Value {
    json!({"Records": [{
        "messageId": "m-1", "receiptHandle": "r", "body": json!({"Records": records}).to_string(),
        "attributes": {}, "messageAttributes": {}, "md5OfBody": "x",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:1:q", "awsRegion": "us-east-1"
    }]})
}

#[tokio::test]
async fn a_newer_different_object_fails_a_processing_job_and_older_ones_change_nothing() {
    let t = TestDb::new().await;
    let s = state(&t.url, t.db.clone(), Arc::default());
    let tenant = TenantId(Uuid::new_v4());
    let id = JobId::new_random();
    let key = job(&t.db, tenant, id, "talk.wav", None).await;
    let key = key.as_str();

    let first = put_record(key, 1, "1f2e3d", "0062E99A88DC407F01");
    handle(&s, payload(json!({"Records": [first.clone()]})))
        .await
        .unwrap();
    assert_eq!(status(&t.db, tenant, id).await.0, JobStatus::Processing);
    // Redelivered (S3 is at least once): nothing changes.
    handle(&s, payload(json!({"Records": [first]})))
        .await
        .unwrap();
    assert_eq!(status(&t.db, tenant, id).await.0, JobStatus::Processing);
    // A late event of an older, different object: nothing changes.
    let older = put_record(key, 7, "0a0b0c", "0062E99A88DC407E00");
    handle(&s, payload(json!({"Records": [older.clone()]})))
        .await
        .unwrap();
    assert_eq!(status(&t.db, tenant, id).await.0, JobStatus::Processing);

    // The URL replayed within its TTL: 5 GiB under the same key, through
    // SQS. The message succeeds (retrying could not help) and the job fails.
    let replaced = put_record(key, 5 << 30, "9f8e7d-640", "0062E99A88DC408000");
    let out = handle(&s, payload(sqs(&[replaced]))).await.unwrap();
    assert_eq!(out["batchItemFailures"], json!([]));
    let job = upload_core::repo::get_job(&t.db, tenant, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.error_code.as_deref(), Some("OBJECT_REPLACED"));
    assert!(job.completed_at.is_some());

    // Terminal: any further object is logged, nothing changes.
    handle(&s, payload(json!({"Records": [older]})))
        .await
        .unwrap();
    assert_eq!(
        upload_core::repo::get_job(&t.db, tenant, id)
            .await
            .unwrap()
            .unwrap(),
        job
    );
}
