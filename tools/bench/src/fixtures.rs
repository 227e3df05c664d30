//! Invocation payloads and the functions' environment.

use std::path::PathBuf;

use serde_json::{Value, json};
use upload_core::{FileKey, JobId, SafeFileName, TenantId};
use upload_testkit::TestDb;

pub const TENANT: &str = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
const BUCKET: &str = "eq-uploads-test";

pub fn fixture(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).expect("fixture")).expect("json")
}

pub fn base_env(db: &str) -> Vec<(String, String)> {
    [
        ("DATABASE_URL", db),
        ("UPLOAD_BUCKET", BUCKET),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ),
        ("INTERNAL_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ("RUST_LOG", "error"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

pub fn status_request(job_id: &str) -> Value {
    let mut ev = fixture("apigw-status.json");
    ev["rawPath"] = json!(format!("/upload/status/{job_id}"));
    ev["pathParameters"]["job_id"] = json!(job_id);
    ev["requestContext"]["http"]["path"] = json!(format!("/upload/status/{job_id}"));
    ev
}

pub fn init_request() -> Value {
    let mut ev = fixture("apigw-init.json");
    // A fresh Idempotency-Key per request: every init inserts a new job.
    ev["headers"]["idempotency-key"] = json!(uuid::Uuid::new_v4().to_string());
    ev
}

/// Inserts `n` queued jobs and returns an S3 event naming them.
pub async fn queued_jobs_event(t: &TestDb, n: usize) -> Value {
    let tenant = TenantId::parse(TENANT).unwrap();
    let mut ids = Vec::new();
    let mut keys = Vec::new();
    for i in 0..n {
        let id = JobId::new_random();
        ids.push(id.0);
        keys.push(
            FileKey::build(tenant, id, SafeFileName::new(&format!("take {i} (1).wav")))
                .as_str()
                .to_owned(),
        );
    }
    let c = t.client().await;
    c.execute(
        "INSERT INTO upload_jobs (id, tenant_id, user_id, file_key, file_name, mime_type, file_size, interaction_id)
         SELECT id, $1, 'bench', key, 'x.wav', 'audio/wav', 1000, gen_random_uuid()
         FROM unnest($2::uuid[], $3::text[]) AS u(id, key)",
        &[&tenant.0, &ids, &keys],
    )
    .await
    .expect("insert jobs");
    let template = fixture("s3-put.json")["Records"][0].clone();
    let records: Vec<Value> = keys
        .iter()
        .map(|k| {
            let mut r = template.clone();
            let enc: String = url_encode(k);
            r["s3"]["object"]["key"] = json!(enc);
            r["s3"]["object"]["size"] = json!(1000);
            r
        })
        .collect();
    json!({"Records": records})
}

fn url_encode(k: &str) -> String {
    let mut out = String::new();
    for b in k.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
