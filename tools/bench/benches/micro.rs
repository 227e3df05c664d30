//! Micro-benchmarks: presigning one URL, building + sanitising a key,
//! verifying a JWT, parsing and decoding a 100-record S3 event, and the TLS
//! connector with and without the web PKI roots.

use std::hint::black_box;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use upload_api::auth::Authenticator;
use upload_api::presign::{MultipartRequest, Presigner, PutRequest};
use upload_core::config::JwtSettings;
use upload_core::db::{TlsPolicy, tls_connector};
use upload_core::{FileKey, JobId, SafeFileName, TenantId};
use upload_events::Payload;

fn presigner() -> Presigner {
    let creds = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
        None,
        "bench",
    );
    let provider = SharedCredentialsProvider::new(creds);
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(provider.clone())
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let conf = aws_sdk_s3::config::Builder::from(&sdk)
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .build();
    Presigner::new(
        aws_sdk_s3::Client::from_conf(conf),
        "eq-uploads-prod".into(),
        Duration::from_secs(300),
        Some(provider),
    )
}

fn s3_event(n: usize) -> Value {
    let tenant = TenantId(uuid::Uuid::new_v4());
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let key = FileKey::build(tenant, JobId::new_random(), SafeFileName::new(&format!("Réunion équipe+notes ({i}).wav")));
            let enc: String = key.as_str().bytes().map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => (b as char).to_string(),
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            }).collect();
            json!({"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                   "eventTime": "2026-11-27T19:04:11.503Z", "eventName": "ObjectCreated:Put",
                   "userIdentity": {"principalId": "AWS:X"}, "requestParameters": {"sourceIPAddress": "1.2.3.4"},
                   "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
                   "s3": {"s3SchemaVersion": "1.0", "configurationId": "c",
                          "bucket": {"name": "eq-uploads-prod", "ownerIdentity": {"principalId": "A"}, "arn": "arn:aws:s3:::eq-uploads-prod"},
                          "object": {"key": enc, "size": 48213504, "eTag": "e", "sequencer": "00AB"}}})
        })
        .collect();
    json!({"Records": records})
}

fn presign(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let p = presigner();
    let key = "tenant/3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f/uploads/8a0f5a4e-1111-4b2c-9d3e-000000000001/take 1.wav";
    c.bench_function(
        "presign one PUT URL (content-type + content-length signed)",
        |b| {
            b.to_async(&rt).iter(|| async {
                // What init does per request: the window, then the signature.
                let put = PutRequest {
                    key,
                    content_type: "audio/wav",
                    content_length: Some(48213504),
                    checksum_sha256: None,
                    if_none_match: false,
                };
                let window = p.window().await.unwrap();
                black_box(p.sign_put(&put, &window).await.unwrap())
            })
        },
    );
    c.bench_function("presign one UploadPart URL (multipart)", |b| {
        b.to_async(&rt).iter(|| async {
            let part = MultipartRequest::UploadPart {
                key,
                upload_id: "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA--",
                part_number: 7,
            };
            let window = p.window().await.unwrap();
            black_box(p.sign_multipart(&part, &window).await.unwrap())
        })
    });
}

fn keys_and_tokens(c: &mut Criterion) {
    let tenant = TenantId(uuid::Uuid::new_v4());
    let job = JobId::new_random();
    c.bench_function("build + sanitise an object key", |b| {
        b.iter(|| {
            black_box(FileKey::build(
                tenant,
                job,
                SafeFileName::new(black_box("Réunion équipe+notes (1).wav")),
            ))
        })
    });

    let secret = "0123456789abcdef0123456789abcdef";
    let auth = Authenticator::new(
        Some(&JwtSettings {
            secret: secret.to_owned().into(),
            issuer: "eq-frontend".into(),
            audience: "eq-backend".into(),
        }),
        false,
    );
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": "eq-frontend", "aud": "eq-backend", "exp": chrono::Utc::now().timestamp() + 3600,
                "tenant_id": tenant.to_string(), "user_id": "u"}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    let (parts, _) = http::Request::builder()
        .header("authorization", format!("Bearer {token}"))
        .body(())
        .unwrap()
        .into_parts();
    c.bench_function("verify an HS256 gateway JWT", |b| {
        b.iter(|| black_box(auth.authenticate(&parts).unwrap()))
    });
}

fn events_and_tls(c: &mut Criterion) {
    // From the raw JSON, as the Lambda runtime hands it over, to the objects
    // the database batch gets.
    let raw = s3_event(100).to_string();
    c.bench_function("parse + decode a 100-record S3 event", |b| {
        b.iter(|| {
            let payload: Payload = serde_json::from_str(black_box(&raw)).unwrap();
            let Payload::S3(notification) = payload else {
                panic!("not an S3 notification")
            };
            let objects = notification.objects_created("eq-uploads-prod", None);
            assert_eq!(objects.len(), 100);
            black_box(objects)
        })
    });

    c.bench_function("TLS connector with web PKI roots (remote hosts)", |b| {
        b.iter(|| black_box(tls_connector(TlsPolicy::Verified)))
    });
    c.bench_function("TLS connector without roots (local hosts)", |b| {
        b.iter(|| black_box(tls_connector(TlsPolicy::Disabled)))
    });
}

criterion_group! {
    name = micro;
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = presign, keys_and_tokens, events_and_tls
}
criterion_main!(micro);
