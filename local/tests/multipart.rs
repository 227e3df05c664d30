//! Multipart uploads end to end over real HTTP: `POST /upload/sign` against
//! the local stack's S3, as a browser would use it (presigned URLs, the
//! signed headers, the XML S3 answers), then the S3 event and the reaper.
#![allow(clippy::too_many_lines)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use upload_testkit::TestDb;

const MIB: usize = 1024 * 1024;

/// Signs one request for the job.
async fn sign(api: &str, body: Value) -> Value {
    let res = auth(client().post(format!("{api}/upload/sign")))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "sign {body}: {v}");
    v
}

/// Sends a signed request with its headers (as a browser: without
/// Content-Length, which the client sets).
async fn send(signed: &Value, body: Vec<u8>) -> reqwest::Response {
    let method =
        reqwest::Method::from_bytes(signed["method"].as_str().unwrap().as_bytes()).unwrap();
    let mut r = client().request(method, signed["url"].as_str().unwrap());
    for (k, v) in signed["headers"].as_object().unwrap() {
        if !k.eq_ignore_ascii_case("content-length") {
            r = r.header(k, v.as_str().unwrap());
        }
    }
    r.body(body).send().await.unwrap()
}

/// The text of the first `<tag>` in an S3 XML answer.
fn xml<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(&body[start..end])
}

/// A multipart upload of one job, driven through the API's signer.
struct Upload<'a> {
    api: &'a str,
    job_id: String,
    upload_id: String,
}

impl<'a> Upload<'a> {
    async fn create(api: &'a str, job: &Value) -> Upload<'a> {
        let job_id = job["job_id"].as_str().unwrap().to_owned();
        let signed = sign(api, json!({"job_id": job_id, "method": "POST"})).await;
        let res = send(&signed, Vec::new()).await;
        assert_eq!(res.status(), 200, "create");
        let body = res.text().await.unwrap();
        let upload_id = xml(&body, "UploadId").expect("UploadId").to_owned();
        Upload {
            api,
            job_id,
            upload_id,
        }
    }

    async fn sign(&self, method: &str, part: Option<usize>) -> Value {
        let mut b = json!({"job_id": self.job_id, "method": method, "upload_id": self.upload_id});
        if let Some(n) = part {
            b["part_number"] = json!(n);
        }
        sign(self.api, b).await
    }

    /// Uploads part `n`; returns its ETag.
    async fn part(&self, n: usize, bytes: &[u8]) -> String {
        let res = send(&self.sign("PUT", Some(n)).await, bytes.to_vec()).await;
        assert_eq!(res.status(), 200, "part {n}");
        res.headers()["etag"].to_str().unwrap().to_owned()
    }

    /// Completes with these (part number, ETag) pairs; returns S3's answer.
    async fn complete(&self, parts: &[(usize, String)]) -> (u16, String) {
        let xml: String = parts
            .iter()
            .map(|(n, e)| format!("<Part><PartNumber>{n}</PartNumber><ETag>{e}</ETag></Part>"))
            .collect();
        let body = format!("<CompleteMultipartUpload>{xml}</CompleteMultipartUpload>");
        let res = send(&self.sign("POST", None).await, body.into_bytes()).await;
        (res.status().as_u16(), res.text().await.unwrap())
    }
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn a_24_mib_file_in_5_mib_parts_reaches_processing_byte_identical() {
    let t = TestDb::new().await;
    let dir = temp_dir("multipart");
    let s = StackProc::start(&dir, Some(&t.url), &[]);
    let file = data(24 * MIB, 7);
    let job = init_for(&s.api, "long take.wav", &file).await;
    let up = Upload::create(&s.api, &job).await;
    let mut etags = Vec::new();
    for (i, chunk) in file.chunks(5 * MIB).enumerate() {
        etags.push((i + 1, up.part(i + 1, chunk).await));
    }
    assert_eq!(etags.len(), 5);
    // Resuming: ListParts says what S3 has.
    let res = send(&up.sign("GET", None).await, Vec::new()).await;
    assert_eq!(res.status(), 200);
    let listed = res.text().await.unwrap();
    assert_eq!(listed.matches("<Part>").count(), 5, "{listed}");
    let (code, body) = up.complete(&etags).await;
    assert_eq!(code, 200, "{body}");
    assert!(
        xml(&body, "Location").is_some() && xml(&body, "Key").is_some(),
        "{body}"
    );
    let st = wait_past_queued(&s.api, &up.job_id, 30).await;
    assert_eq!(st["status"], "processing", "{st}");
    // The stored object is the file.
    let key = job["file_key"].as_str().unwrap();
    let bucket = local_stack::DEFAULT_BUCKET;
    let cfg = functions_config(&t.url, &s.s3, bucket, "10");
    let s3 = s3_client(
        &cfg,
        local_stack::s3server::ACCESS_KEY,
        local_stack::s3server::SECRET_KEY,
    );
    let got = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let stored = got.body.collect().await.unwrap().into_bytes();
    assert!(stored == file, "object differs from the file");
    // The job's upload is over: nothing more is signed for it.
    let res = auth(client().post(format!("{}/upload/sign", s.api)))
        .json(&json!({"job_id": up.job_id, "method": "PUT", "upload_id": up.upload_id, "part_number": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 409);
}

#[tokio::test]
async fn a_tampered_part_makes_complete_fail_and_the_job_stays_queued() {
    let t = TestDb::new().await;
    let dir = temp_dir("multipart-tamper");
    let s = StackProc::start(&dir, Some(&t.url), &[]);
    let file = data(11 * MIB, 3);
    let job = init_for(&s.api, "take.wav", &file).await;
    let up = Upload::create(&s.api, &job).await;
    let e1 = up.part(1, &file[..5 * MIB]).await;
    let e2 = up.part(2, &file[5 * MIB..10 * MIB]).await;
    // Part 3 arrives with other bytes than the client hashed.
    let mut tampered = file[10 * MIB..].to_vec();
    tampered[0] ^= 0xff;
    let e3 = up.part(3, &tampered).await;
    let expected = format!("\"{}\"", md5_of(&file[10 * MIB..]));
    assert_ne!(e3, expected);
    let (code, body) = up
        .complete(&[(1, e1.clone()), (2, e2.clone()), (3, expected)])
        .await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("InvalidPart"), "{body}");
    // A small middle part is refused as S3 refuses it.
    let e_small = up.part(2, &file[5 * MIB..6 * MIB]).await;
    let (code, body) = up.complete(&[(1, e1), (2, e_small), (3, e3)]).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("EntityTooSmall"), "{body}");
    // Another total size than init declared: S3 refuses it (the signed
    // x-amz-mp-object-size), before any object exists.
    let e2 = up.part(2, &file[5 * MIB..10 * MIB]).await;
    let (code, body) = up
        .complete(&[(1, up.part(1, &file[..5 * MIB]).await), (2, e2)])
        .await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("InvalidRequest"), "{body}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let st = status(&s.api, &up.job_id).await;
    assert_eq!(st["status"], "queued", "{st}");
}

fn md5_of(b: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(b))
}

/// A stack whose upload windows end 2 s after the last signed URL (no
/// grace, no allowance for the size), reaping every second.
fn short_window_stack(dir: &std::path::Path, url: &str) -> StackProc {
    StackProc::start(
        dir,
        Some(url),
        &[
            ("UPLOAD_URL_TTL_SECONDS", "2"),
            ("REAPER_GRACE_SECONDS", "0"),
            ("REAPER_MIN_UPLOAD_BYTES_PER_SECOND", "1099511627776"),
        ],
    )
}

#[tokio::test]
async fn an_aborted_upload_expires_through_the_reaper() {
    let t = TestDb::new().await;
    let dir = temp_dir("multipart-abort");
    let s = short_window_stack(&dir, &t.url);
    let file = data(6 * MIB, 1);
    let job = init_for(&s.api, "take.wav", &file).await;
    let up = Upload::create(&s.api, &job).await;
    up.part(1, &file[..5 * MIB]).await;
    let res = send(&up.sign("DELETE", None).await, Vec::new()).await;
    assert_eq!(res.status(), 204);
    // The upload is gone: S3 no longer knows it.
    let res = send(&up.sign("GET", None).await, Vec::new()).await;
    assert_eq!(res.status(), 404);
    let st = wait_past_queued(&s.api, &up.job_id, 30).await;
    assert_eq!(st["status"], "failed", "{st}");
    assert_eq!(st["error_code"], "UPLOAD_EXPIRED", "{st}");
}

#[tokio::test]
async fn a_slow_multipart_upload_past_the_single_put_window_is_not_expired() {
    let t = TestDb::new().await;
    let dir = temp_dir("multipart-slow");
    let s = short_window_stack(&dir, &t.url);
    let file = data(7 * MIB, 9);
    let job = init_for(&s.api, "slow.wav", &file).await;
    let up = Upload::create(&s.api, &job).await;
    let e1 = up.part(1, &file[..5 * MIB]).await;
    // The window passes and the reaper looks at the job (its claim bumps
    // updated_at), finds the upload in progress and leaves it queued.
    let c = t.client().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let claimed: bool = c
            .query_one("SELECT updated_at > created_at FROM upload_jobs", &[])
            .await
            .unwrap()
            .get(0);
        if claimed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reaper never looked at the job"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(status(&s.api, &up.job_id).await["status"], "queued");
    // The upload goes on and completes.
    let e2 = up.part(2, &file[5 * MIB..]).await;
    let (code, body) = up.complete(&[(1, e1), (2, e2)]).await;
    assert_eq!(code, 200, "{body}");
    let st = wait_past_queued(&s.api, &up.job_id, 30).await;
    assert_eq!(st["status"], "processing", "{st}");
}

#[tokio::test]
async fn the_reapers_s3_calls_list_and_abort_uploads_on_exactly_one_key() {
    use upload_core::objects::MultipartUploads;
    let t = TestDb::new().await;
    let dir = temp_dir("multipart-list");
    let s = StackProc::start(&dir, Some(&t.url), &[]);
    let bucket = local_stack::DEFAULT_BUCKET;
    let cfg = functions_config(&t.url, &s.s3, bucket, "10");
    let client = s3_client(
        &cfg,
        local_stack::s3server::ACCESS_KEY,
        local_stack::s3server::SECRET_KEY,
    );
    let key = format!("tenant/{TENANT}/uploads/{}/a.wav", uuid::Uuid::new_v4());
    let longer = format!("{key}.bak");
    let mut ids = Vec::new();
    for k in [&key, &key, &longer] {
        let out = client
            .create_multipart_upload()
            .bucket(bucket)
            .key(k)
            .send()
            .await
            .unwrap();
        ids.push(out.upload_id().unwrap().to_owned());
    }
    let objects = upload_core::s3::S3Objects {
        client,
        bucket: bucket.to_owned(),
    };
    let mut listed = objects.multipart_uploads(&key).await.unwrap();
    listed.sort_by(|a, b| a.upload_id.cmp(&b.upload_id));
    let mut want = ids[..2].to_vec();
    want.sort();
    assert_eq!(
        listed
            .iter()
            .map(|u| u.upload_id.clone())
            .collect::<Vec<_>>(),
        want
    );
    for u in &listed {
        let age = chrono::Utc::now() - u.initiated.expect("S3 says when it began");
        assert!(age.num_seconds().abs() < 60, "{age}");
    }
    objects.abort_multipart(&key, &ids[0]).await.unwrap();
    // Already gone: not an error (a lifecycle or another run got there first).
    objects.abort_multipart(&key, &ids[0]).await.unwrap();
    let left = objects.multipart_uploads(&key).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].upload_id, ids[1]);
    assert_eq!(objects.multipart_uploads(&longer).await.unwrap().len(), 1);
}
