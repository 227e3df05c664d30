//! Helpers shared by the repository tests.
#![allow(dead_code)]

use upload_core::repo::{self, Created, NewJob, UploadedObject};
use upload_core::{Db, FileKey, JobId, JobStatus, JobType, SafeFileName, TenantId};
use uuid::Uuid;

pub const MAX: u64 = 1_000_000;

pub fn new_job(tenant: TenantId, name: &str, size: Option<i64>) -> NewJob {
    let id = JobId::new_random();
    NewJob {
        id,
        tenant_id: tenant,
        user_id: "user-1".into(),
        job_type: JobType::AudioTranscription,
        file_key: FileKey::build(tenant, id, SafeFileName::new(name)),
        file_name: name.into(),
        mime_type: "audio/wav".into(),
        file_size: size,
        interaction_id: Uuid::new_v4(),
        trace_id: Some(Uuid::new_v4().to_string()),
        account_id: Some("acct-1".into()),
        metadata_json: Some(r#"{"k":"v"}"#.into()),
    }
}

pub async fn insert(db: &Db, job: &NewJob) {
    let c = repo::create_queued_job(db, job).await.unwrap();
    assert!(matches!(c, Created::New(_)));
}

pub fn item(job: &NewJob, size: Option<i64>) -> UploadedObject {
    UploadedObject::at(&job.file_key, size, None)
}

pub async fn status_of(db: &Db, job: &NewJob) -> JobStatus {
    repo::get_job(db, job.tenant_id, job.id)
        .await
        .unwrap()
        .unwrap()
        .status
}

/// Every node of an `EXPLAIN (FORMAT JSON)` plan, depth first.
pub fn plan_nodes(plan: &serde_json::Value) -> Vec<&serde_json::Value> {
    let mut out = vec![plan];
    if let Some(children) = plan["Plans"].as_array() {
        for c in children {
            out.extend(plan_nodes(c));
        }
    }
    out
}

/// A rustls server config for `localhost` with a fresh self-signed
/// certificate (aws-lc), and that certificate.
pub fn self_signed_localhost() -> (
    tokio_rustls::rustls::ServerConfig,
    tokio_rustls::rustls::pki_types::CertificateDer<'static>,
    String,
) {
    use std::sync::Arc;
    use tokio_rustls::rustls::{self, pki_types::PrivateKeyDer};
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = cert.der().clone();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![der.clone()],
        PrivateKeyDer::try_from(key.serialize_der()).unwrap(),
    )
    .unwrap();
    (config, der, cert.pem())
}
