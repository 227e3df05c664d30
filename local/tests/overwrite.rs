//! Overwrite protection end to end through the local stack: a client that
//! opts in gets `If-None-Match: *` signed into its URL and the S3 server
//! refuses a second PUT (412); for the existing client (Content-Type only),
//! a replayed URL that replaces the bytes after the job advanced fails it
//! with OBJECT_REPLACED.
#![allow(clippy::too_many_lines)] // a scenario, read top to bottom

mod common;

use common::*;
use serde_json::json;
use upload_testkit::TestDb;

#[tokio::test]
async fn replayed_upload_urls_cannot_replace_what_a_job_advanced_with() {
    let t = TestDb::new().await;
    let dir = temp_dir("overwrite");
    let s = StackProc::start(&dir, Some(&t.url), &[]);

    // A new client opts in: the URL signs If-None-Match, S3 enforces it.
    let job = init(
        &s.api,
        json!({"filename": "guarded.wav", "account_id": "acct", "overwrite_protection": true}),
    )
    .await;
    assert_eq!(job["upload_headers"]["If-None-Match"], "*", "{job}");
    assert_eq!(put(&job, b"first".to_vec()).await.status(), 200);
    let id = job["job_id"].as_str().unwrap();
    assert_eq!(
        wait_past_queued(&s.api, id, 20).await["status"],
        "processing"
    );
    let again = put(&job, b"second, much longer".to_vec()).await;
    assert_eq!(again.status(), 412, "{}", again.text().await.unwrap());
    // Without the signed header the URL does not verify at all.
    let bare = client()
        .put(job["upload_url"].as_str().unwrap())
        .header("Content-Type", "audio/wav")
        .body(b"x".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 403);
    assert_eq!(status(&s.api, id).await["status"], "processing");

    // The existing browser client: Content-Type only, no file_size. Its URL
    // can be replayed, but the job does not keep the replaced bytes.
    let legacy = init(
        &s.api,
        json!({"filename": "legacy.wav", "account_id": "acct"}),
    )
    .await;
    assert!(legacy["upload_headers"].get("If-None-Match").is_none());
    let replay = || {
        client()
            .put(legacy["upload_url"].as_str().unwrap())
            .header("Content-Type", "audio/wav")
    };
    assert_eq!(
        replay().body(b"1".to_vec()).send().await.unwrap().status(),
        200
    );
    let lid = legacy["job_id"].as_str().unwrap();
    assert_eq!(
        wait_past_queued(&s.api, lid, 20).await["status"],
        "processing"
    );
    assert_eq!(
        replay()
            .body(vec![7u8; 4096])
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let st = loop {
        let st = status(&s.api, lid).await;
        if st["status"] != "processing" || std::time::Instant::now() > deadline {
            break st;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(st["status"], "failed", "{st}");
    assert_eq!(st["error_code"], "OBJECT_REPLACED", "{st}");
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
}
