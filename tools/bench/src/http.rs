//! The local HTTP server (the same router as the Lambda) under load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use upload_testkit::TestDb;

use crate::fixtures::{TENANT, base_env};
use crate::report::{Row, row};

/// The local HTTP server (same router) under 32 concurrent connections.
pub async fn http_load(t: &TestDb, seconds: u64) -> Vec<Row> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = upload_api::router(api_state(t));
    tokio::spawn(async move { axum::serve(listener, router).await });

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let first: Value = with_identity(http.post(format!("{base}/upload/init")))
        .json(&json!({"filename": "a.wav", "account_id": "a"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job_id = first["job_id"].as_str().unwrap().to_owned();
    let mut rows = Vec::new();
    for which in ["init", "status"] {
        let all = load(which, &http, &base, &job_id, seconds).await;
        let rps = all.len() as f64 / seconds as f64;
        let mut r = row(
            &format!("local HTTP `{which}`, 32 connections, {seconds} s"),
            all,
            "report",
            "",
        );
        r.note = format!("{rps:.0} requests/s (load: lambda-bench's built-in reqwest client)");
        rows.push(r);
    }
    rows
}

fn with_identity(r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    r.header("X-Tenant-ID", TENANT).header("X-User-ID", "bench")
}

/// The API's state as the local server builds it, with dev header auth.
fn api_state(t: &TestDb) -> Arc<upload_api::AppState> {
    let mut env: std::collections::HashMap<String, String> = base_env(&t.url).into_iter().collect();
    env.insert("AWS_REGION".into(), "us-east-1".into());
    env.insert("ALLOW_LEGACY_HEADER_AUTH".into(), "true".into());
    env.insert("DB_POOL_MAX".into(), "8".into());
    let config = upload_core::Config::from_lookup(|k| env.get(k).cloned()).expect("config");
    let creds =
        aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "bench");
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let client = upload_core::s3::client_from_sdk_config(&config, &sdk);
    let db = upload_core::Db::new(config.db_settings("bench"));
    let objects = Arc::new(upload_core::s3::S3Objects {
        client: client.clone(),
        bucket: config.upload_bucket.clone(),
    });
    Arc::new(upload_api::AppState::new(
        config,
        db,
        client,
        sdk.credentials_provider(),
        objects,
    ))
}

/// 32 clients sending `which` requests for `seconds`: every latency, in ms.
async fn load(
    which: &'static str,
    http: &reqwest::Client,
    base: &str,
    job_id: &str,
    seconds: u64,
) -> Vec<f64> {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (http, base, job_id) = (http.clone(), base.to_owned(), job_id.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let r = if which == "init" {
                    with_identity(http.post(format!("{base}/upload/init")))
                        .json(
                            &json!({"filename": "take.wav", "file_size": 1000, "account_id": "a"}),
                        )
                        .send()
                        .await
                } else {
                    with_identity(http.get(format!("{base}/upload/status/{job_id}")))
                        .send()
                        .await
                };
                let ok = r.map(|r| r.status().is_success()).unwrap_or(false);
                assert!(ok, "{which} failed under load");
                lat.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}
