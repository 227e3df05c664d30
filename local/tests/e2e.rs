//! The whole flow over real HTTP against a started `local-stack`: real
//! S3-compatible server, real presigned URLs, real notifications, real Postgres.

mod common;

use std::time::Duration;

use base64::Engine;
use common::*;
use serde_json::json;
use sha2::Digest;
use upload_testkit::TestDb;

fn s3_client(s3: &str) -> aws_sdk_s3::Client {
    let creds = aws_credential_types::Credentials::new(
        "local-access-key",
        "local-secret-key",
        None,
        None,
        "t",
    );
    let conf = aws_sdk_s3::config::Builder::new()
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(s3)
        .force_path_style(true)
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

#[tokio::test]
async fn a_multipart_upload_completion_is_notified_too() {
    let t = TestDb::new().await;
    let dir = temp_dir("multipart");
    let s = StackProc::start(&dir, Some(&t.url), &[]);
    let part1 = vec![7u8; 5 * 1024 * 1024];
    let part2 = b"tail".to_vec();
    let total = part1.len() + part2.len();
    let job = init(
        &s.api,
        json!({"filename": "long interview.wav", "file_size": total, "account_id": "acct"}),
    )
    .await;
    let key = job["file_key"].as_str().unwrap();
    let c = s3_client(&s.s3);
    let up = c
        .create_multipart_upload()
        .bucket("local-uploads")
        .key(key)
        .content_type("audio/wav")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let mut parts = Vec::new();
    for (n, body) in [(1, part1), (2, part2)] {
        let p = c
            .upload_part()
            .bucket("local-uploads")
            .key(key)
            .upload_id(id)
            .part_number(n)
            .body(body.into())
            .send()
            .await
            .unwrap();
        parts.push(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag().unwrap())
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket("local-uploads")
        .key(key)
        .upload_id(id)
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let st = wait_past_queued(&s.api, job["job_id"].as_str().unwrap(), 20).await;
    assert_eq!(st["status"], "processing", "{st}");
}

async fn s3_get(s3: &str, bucket: &str, key: &str) -> Vec<u8> {
    let o = s3_client(s3)
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    o.body.collect().await.unwrap().into_bytes().to_vec()
}

#[tokio::test]
async fn upload_reaches_processing_and_the_bytes_round_trip() {
    let t = TestDb::new().await;
    let dir = temp_dir("e2e");
    let s = StackProc::start(&dir, Some(&t.url), &[]);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let sum = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&data));
    let job = init(
        &s.api,
        json!({"filename": "interview take 1.wav", "file_size": data.len(),
        "account_id": "acct", "checksum_sha256": sum}),
    )
    .await;
    let res = put(&job, data.clone()).await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    let st = wait_past_queued(&s.api, job["job_id"].as_str().unwrap(), 20).await;
    assert_eq!(st["status"], "processing", "{st}");
    assert!(st["started_at"].is_string());
    let back = s3_get(&s.s3, "local-uploads", job["file_key"].as_str().unwrap()).await;
    assert_eq!(back, data);
    // The ready line names what it started.
    assert!(
        s.ready.contains(" bucket=local-uploads ") && s.ready.contains(" database=postgres://"),
        "{}",
        s.ready
    );
    assert!(s.stop().success());
}

#[tokio::test]
#[allow(clippy::too_many_lines)] // one scenario, read top to bottom
async fn the_server_enforces_what_the_url_signs() {
    let t = TestDb::new().await;
    let dir = temp_dir("enforce");
    let s = StackProc::start(&dir, Some(&t.url), &[]);
    let data = b"0123456789".to_vec();
    let sum = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&data));
    let job = init(
        &s.api,
        json!({"filename": "a.wav", "file_size": 10, "account_id": "acct", "checksum_sha256": sum}),
    )
    .await;
    let url = job["upload_url"].as_str().unwrap().to_owned();
    let send = |ct: &str, ck: &str, body: Vec<u8>, url: String| {
        client()
            .put(url)
            .header("Content-Type", ct)
            .header("x-amz-checksum-sha256", ck)
            .body(body)
            .send()
    };
    // Wrong Content-Type.
    assert_eq!(
        send("audio/mpeg", &sum, data.clone(), url.clone())
            .await
            .unwrap()
            .status(),
        403
    );
    // Wrong length (Content-Length is signed).
    assert_eq!(
        send("audio/wav", &sum, b"01234567890".to_vec(), url.clone())
            .await
            .unwrap()
            .status(),
        403
    );
    // Wrong checksum header (it is signed).
    let other =
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b"something else"));
    assert_eq!(
        send("audio/wav", &other, data.clone(), url.clone())
            .await
            .unwrap()
            .status(),
        403
    );
    // Right checksum header, corrupted body of the same length: refused.
    let st = send("audio/wav", &sum, b"0123456780".to_vec(), url.clone())
        .await
        .unwrap()
        .status();
    assert!(st.is_client_error(), "{st}");
    // Tampered signature.
    let sig_at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let mut tampered = url.clone();
    let flip = if &url[sig_at..sig_at + 1] == "a" {
        "b"
    } else {
        "a"
    };
    tampered.replace_range(sig_at..sig_at + 1, flip);
    assert_eq!(
        send("audio/wav", &sum, data.clone(), tampered)
            .await
            .unwrap()
            .status(),
        403
    );
    // A key the URL was not signed for.
    let other_key = url.replace("/a.wav?", "/b.wav?");
    assert_eq!(
        send("audio/wav", &sum, data.clone(), other_key)
            .await
            .unwrap()
            .status(),
        403
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        status(&s.api, job["job_id"].as_str().unwrap()).await["status"],
        "queued"
    );
    drop(s);

    // Expired URL: a 1-second TTL.
    let s = StackProc::start(
        &dir,
        Some(&t.url),
        &[
            ("UPLOAD_URL_TTL_SECONDS", "1"),
            ("REAPER_GRACE_SECONDS", "3600"),
        ],
    );
    let job = init_for(&s.api, "late.wav", b"abc").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(put(&job, b"abc".to_vec()).await.status(), 403);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        status(&s.api, job["job_id"].as_str().unwrap()).await["status"],
        "queued"
    );
}

#[tokio::test]
async fn awkward_names_reach_processing() {
    let t = TestDb::new().await;
    let dir = temp_dir("names");
    let s = StackProc::start(&dir, Some(&t.url), &[]);
    let names = [
        "with space.wav",
        "plus+sign.wav",
        "100% done.wav",
        "rock & roll.wav",
        "take #2.wav",
        "(draft) mix (1).wav",
        "Réunion équipe+notes (1).wav",
        "日本語 の 録音.wav",
        "semi;colon=eq.wav",
    ];
    let mut jobs = Vec::new();
    for n in names {
        let job = init_for(&s.api, n, b"data!").await;
        assert!(job["file_key"].as_str().unwrap().ends_with(n), "{job}");
        let res = put(&job, b"data!".to_vec()).await;
        assert_eq!(res.status(), 200, "{n}: {:?}", res.text().await);
        jobs.push((n, job));
    }
    for (n, job) in jobs {
        let st = wait_past_queued(&s.api, job["job_id"].as_str().unwrap(), 20).await;
        assert_eq!(st["status"], "processing", "{n}: {st}");
    }
}

#[tokio::test]
async fn duplicate_puts_and_complete_are_idempotent() {
    let t = TestDb::new().await;
    let dir = temp_dir("dup");
    let s = StackProc::start(&dir, Some(&t.url), &[]);
    let job = init_for(&s.api, "twice.wav", b"12345").await;
    let id = job["job_id"].as_str().unwrap();
    assert_eq!(put(&job, b"12345".to_vec()).await.status(), 200);
    // complete right after the PUT, racing the notification: processing either way.
    let c = auth(client().post(format!("{}/upload/complete", s.api)))
        .json(&json!({"file_key": job["file_key"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(c.status(), 200);
    let body: serde_json::Value = c.json().await.unwrap();
    assert_eq!(body["status"], "processing");
    assert_eq!(body["job_id"], job["job_id"]);
    let first = wait_past_queued(&s.api, id, 20).await;
    assert_eq!(put(&job, b"12345".to_vec()).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(800)).await;
    let second = status(&s.api, id).await;
    assert_eq!(first["started_at"], second["started_at"], "one transition");
    assert_eq!(second["updated_at"], first["updated_at"]);
    let c = auth(client().post(format!("{}/upload/complete", s.api)))
        .json(&json!({"file_key": job["file_key"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(c.status(), 200);
    assert_eq!(
        c.json::<serde_json::Value>().await.unwrap()["status"],
        "processing"
    );
}

#[tokio::test]
async fn a_lost_notification_is_recovered_by_the_reaper() {
    let t = TestDb::new().await;
    let dir = temp_dir("lost");
    let s = StackProc::start(
        &dir,
        Some(&t.url),
        &[
            ("UPLOAD_URL_TTL_SECONDS", "2"),
            ("REAPER_GRACE_SECONDS", "0"),
        ],
    );
    let job = init_for(&s.api, "lost.wav", b"abc").await;
    let id = job["job_id"].as_str().unwrap();
    let r = client()
        .post(format!("{}/_local/drop-next-event", s.api))
        .json(&json!({"key_contains": id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(put(&job, b"abc".to_vec()).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        status(&s.api, id).await["status"],
        "queued",
        "the notification was lost"
    );
    // Past TTL + grace, the reaper finds the object and advances the job.
    let st = wait_past_queued(&s.api, id, 20).await;
    assert_eq!(st["status"], "processing", "{st}");
    // And a job whose upload never came is expired.
    let never = init_for(&s.api, "never.wav", b"abc").await;
    let st = wait_past_queued(&s.api, never["job_id"].as_str().unwrap(), 20).await;
    assert_eq!(
        (st["status"].as_str(), st["error_code"].as_str()),
        (Some("failed"), Some("UPLOAD_EXPIRED"))
    );
}

#[tokio::test]
async fn own_postgres_and_data_survive_a_restart() {
    let dir = temp_dir("restart");
    let s = StackProc::start(&dir, None, &[]);
    assert!(
        s.ready.contains("database=postgres://postgres@127.0.0.1:"),
        "{}",
        s.ready
    );
    let job = init_for(&s.api, "keep.wav", b"kept bytes").await;
    assert_eq!(put(&job, b"kept bytes".to_vec()).await.status(), 200);
    let id = job["job_id"].as_str().unwrap().to_owned();
    assert_eq!(
        wait_past_queued(&s.api, &id, 20).await["status"],
        "processing"
    );
    assert!(s.stop().success());
    // Its Postgres stopped with it.
    let pid_file = dir.join("postgres/data/postmaster.pid");
    assert!(!pid_file.exists(), "postgres left running");

    let s = StackProc::start(&dir, None, &[]);
    assert_eq!(status(&s.api, &id).await["status"], "processing");
    assert_eq!(
        s3_get(&s.s3, "local-uploads", job["file_key"].as_str().unwrap()).await,
        b"kept bytes"
    );
    assert!(s.stop().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_taken_port_is_one_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_local-stack"))
        .args([
            "--api-addr",
            &format!("127.0.0.1:{port}"),
            "--s3-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(temp_dir("port"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains(&format!("cannot listen on 127.0.0.1:{port} (--api-addr)")),
        "{err}"
    );
}
