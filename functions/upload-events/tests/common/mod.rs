//! Set-up shared by the events tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use upload_core::repo::{self, NewJob};
use upload_core::{Config, Db, FileKey, JobId, JobStatus, JobType, SafeFileName, TenantId};
use upload_events::{EventsState, Payload};
use upload_testkit::MemoryObjects;
use uuid::Uuid;

pub const TENANT: &str = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
pub const BUCKET: &str = "eq-uploads-test";
pub const MAX: i64 = 1_000_000_000;

pub fn config(url: &str) -> Config {
    config_with(url, &[])
}

/// [`config`] with some settings changed.
pub fn config_with(url: &str, extra: &[(&str, &str)]) -> Config {
    let mut env: HashMap<&str, String> = [
        ("DATABASE_URL", url.to_owned()),
        ("UPLOAD_BUCKET", BUCKET.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
        ("MAX_UPLOAD_BYTES", MAX.to_string()),
        ("UPLOAD_URL_TTL_SECONDS", "300".to_owned()),
        ("REAPER_GRACE_SECONDS", "60".to_owned()),
        // Fast uploads only: the window is TTL + grace (+1 s at most).
        (
            "REAPER_MIN_UPLOAD_BYTES_PER_SECOND",
            "1000000000".to_owned(),
        ),
    ]
    .into_iter()
    .collect();
    for (k, v) in extra {
        env.insert(k, (*v).to_owned());
    }
    Config::from_lookup(|k| env.get(k).cloned()).unwrap()
}

pub fn state(url: &str, db: Db, objects: Arc<MemoryObjects>) -> EventsState {
    EventsState {
        config: config(url),
        db,
        objects,
        handoff: None,
        metrics: upload_core::metrics::Metrics::off(),
    }
}

/// [`state`] with some settings changed.
pub fn state_with(
    url: &str,
    db: Db,
    objects: Arc<MemoryObjects>,
    extra: &[(&str, &str)],
) -> EventsState {
    EventsState {
        config: config_with(url, extra),
        ..state(url, db, objects)
    }
}

/// AWS settings for a local endpoint: static credentials, quick retries
/// (3 attempts, as the SDK's standard mode).
pub fn sdk_config() -> aws_config::SdkConfig {
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(std::time::Duration::from_millis(5));
    aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "test", "test", None, None, "test",
        )))
        .retry_config(retry)
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build()
}

/// The events state with hand-offs put on `bus` at a local EventBridge
/// endpoint.
pub fn state_with_handoff(
    url: &str,
    db: Db,
    objects: Arc<MemoryObjects>,
    endpoint: &str,
) -> EventsState {
    let publisher = upload_events::handoff::EventBridge::new(&sdk_config(), BUS, Some(endpoint));
    EventsState {
        handoff: Some(Arc::new(publisher)),
        ..state(url, db, objects)
    }
}

pub const BUS: &str = "uploads-test";

/// A sample payload, deserialized as the Lambda runtime does.
pub fn fixture(name: &str) -> Payload {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

pub fn payload(v: Value) -> Payload {
    serde_json::from_str(&v.to_string()).unwrap()
}

pub async fn job(db: &Db, tenant: TenantId, id: JobId, name: &str, size: Option<i64>) -> FileKey {
    let key = FileKey::build(tenant, id, SafeFileName::new(name));
    repo::create_queued_job(
        db,
        &NewJob {
            id,
            tenant_id: tenant,
            user_id: "u".into(),
            job_type: JobType::AudioTranscription,
            file_key: key.clone(),
            file_name: name.into(),
            mime_type: "audio/wav".into(),
            file_size: size,
            interaction_id: Uuid::new_v4(),
            trace_id: Some(Uuid::new_v4().to_string()),
            account_id: Some("a".into()),
            metadata_json: None,
        },
    )
    .await
    .unwrap();
    key
}

pub async fn status(db: &Db, tenant: TenantId, id: JobId) -> (JobStatus, Option<String>) {
    let j = repo::get_job(db, tenant, id).await.unwrap().unwrap();
    (j.status, j.error_code)
}

pub fn id(s: &str) -> JobId {
    JobId::parse(s).unwrap()
}

/// An S3 notification record as S3 sends it (key form-encoded).
pub fn record(key: &str, size: i64) -> Value {
    let enc: String = url::form_urlencoded::byte_serialize(key.as_bytes())
        .collect::<String>()
        .replace("%2F", "/");
    json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
           "eventTime": "2026-11-27T19:04:11.503Z", "eventName": "ObjectCreated:Put",
           "userIdentity": {"principalId": "AWS:X"}, "requestParameters": {"sourceIPAddress": "1.2.3.4"},
           "responseElements": {}, "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
           "bucket": {"name": BUCKET, "ownerIdentity": {"principalId": "A"}, "arn": format!("arn:aws:s3:::{BUCKET}")},
           "object": {"key": enc, "size": size, "eTag": "e", "sequencer": "00AB"}}})
}
