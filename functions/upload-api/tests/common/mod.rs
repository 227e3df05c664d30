#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use upload_api::{AppState, router};
use upload_core::{Config, Db};
use upload_testkit::{MemoryObjects, TestDb};

pub const JWT_SECRET: &str = "test-secret-0123456789-abcdefghijklmnop";
pub const BUCKET: &str = "eq-uploads-test";
pub const TENANT: &str = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f";

pub struct TestApp {
    pub t: TestDb,
    pub state: Arc<AppState>,
    pub objects: Arc<MemoryObjects>,
}

pub fn config(url: &str, extra: &[(&str, &str)]) -> Config {
    let mut env: HashMap<String, String> = [
        ("DATABASE_URL", url),
        ("UPLOAD_BUCKET", BUCKET),
        ("AWS_REGION", "us-east-1"),
        ("INTERNAL_JWT_SECRET", JWT_SECRET),
        ("ALLOW_LEGACY_HEADER_AUTH", "true"),
        ("S3_ENDPOINT_URL", "http://127.0.0.1:9000"),
        ("MAX_UPLOAD_BYTES", "1000000"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    Config::from_lookup(|k| env.get(k).cloned()).expect("test config")
}

pub fn state_for(config: Config, db: Db, objects: Arc<MemoryObjects>) -> Arc<AppState> {
    Arc::new(app_state(config, db, objects))
}

/// The state [`state_for`] shares, before it is shared (to set metrics).
pub fn app_state(config: Config, db: Db, objects: Arc<MemoryObjects>) -> AppState {
    let creds = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
        None,
        "test",
    );
    let provider = SharedCredentialsProvider::new(creds);
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new(config.aws_region.clone()))
        .credentials_provider(provider.clone())
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let client = upload_core::s3::client_from_sdk_config(&config, &sdk);
    AppState::new(config, db, client, Some(provider), objects)
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with(&[]).await
    }

    pub async fn with(extra: &[(&str, &str)]) -> Self {
        let t = TestDb::new().await;
        let objects = Arc::new(MemoryObjects::default());
        let state = state_for(config(&t.url, extra), t.db.clone(), objects.clone());
        TestApp { t, state, objects }
    }

    pub async fn call(&self, req: Request<Body>) -> (StatusCode, axum::http::HeaderMap, Value) {
        call(&self.state, req).await
    }

    pub async fn rows(&self) -> i64 {
        let c = self.t.client().await;
        c.query_one("SELECT count(*) FROM upload_jobs", &[])
            .await
            .unwrap()
            .get(0)
    }
}

pub async fn call(
    state: &Arc<AppState>,
    req: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, Value) {
    let res = router(state.clone()).oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let json = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, headers, json)
}

pub fn token(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn good_token(tenant: &str) -> String {
    token(
        serde_json::json!({"iss": "eq-frontend", "aud": "eq-backend", "exp": now() + 600,
                           "tenant_id": tenant, "user_id": "user-7"}),
        JWT_SECRET,
    )
}

pub fn req(method: &str, path: &str, auth: Option<&str>, body: Option<Value>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(path);
    if let Some(t) = auth {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    match body {
        Some(v) => b
            .header("content-type", "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

pub fn init_body() -> Value {
    serde_json::json!({"filename": "Réunion équipe+notes (1).wav", "mime_type": "audio/x-wav",
                       "file_size": 1234, "account_id": "acct-9"})
}

/// Sends `r`, expects a problem+json answer with `status` and `code`, and
/// that nothing was written; returns the body.
pub async fn expect_error(
    app: &TestApp,
    r: Request<Body>,
    status: StatusCode,
    code: &str,
) -> Value {
    let before = app.rows().await;
    let (st, h, body) = app.call(r).await;
    assert_eq!(st, status, "{body}");
    assert_eq!(h.get("content-type").unwrap(), "application/problem+json");
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
    assert!(body["title"].is_string() && body["type"].is_string());
    assert_eq!(app.rows().await, before, "nothing written");
    body
}
