//! The local stack: everything the upload flow needs, in one process, with
//! the same router and the same events handler the Lambdas run.

pub mod cors;
pub mod faults;
pub mod s3server;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::Html;
use axum::routing::{get, post};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use upload_core::{Config, Db};
use upload_events::EventsState;
use upload_migrate as migrate;
use upload_testkit::pg_cluster::{Cluster, free_port};

pub const DEFAULT_BUCKET: &str = "local-uploads";
const UI: &str = include_str!("ui.html");

#[derive(Debug, Clone)]
pub struct Options {
    pub api_addr: SocketAddr,
    pub s3_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub reaper_interval: Duration,
    /// Seeded faults injected into notification delivery (`--notification-faults`).
    pub notification_faults: Option<faults::NotificationFaults>,
    /// Origins the API answers with CORS headers (`--allowed-origins`).
    pub allowed_origins: cors::AllowedOrigins,
}

/// Keys whose next notification is dropped (the test hook for lost events).
#[derive(Clone, Default)]
pub struct DropList(Arc<Mutex<Vec<String>>>);

impl DropList {
    /// True (and forgets the entry) when `key` contains a registered substring.
    fn take(&self, key: &str) -> bool {
        let mut l = self.0.lock().expect("lock");
        match l.iter().position(|s| key.contains(s.as_str())) {
            Some(i) => {
                l.remove(i);
                true
            }
            None => false,
        }
    }
}

/// A started stack. Dropping it does not stop Postgres: call [`Stack::shutdown`].
pub struct Stack {
    pub api_url: String,
    pub s3_url: String,
    pub bucket: String,
    pub database: String,
    cluster: Option<Cluster>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Stack {
    /// The line printed when everything is up.
    pub fn ready_line(&self) -> String {
        format!(
            "local-stack ready api={} s3={} bucket={} database={}",
            self.api_url, self.s3_url, self.bucket, self.database
        )
    }

    pub fn shutdown(self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(c) = &self.cluster {
            c.stop();
        }
    }
}

async fn bind(addr: SocketAddr, flag: &str) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} ({flag}): {e}"))
}

/// Starts Postgres (or uses `DATABASE_URL`), applies migrations, then the S3
/// server, event delivery, the API with the upload page, and the reaper.
pub async fn start(opts: Options) -> Result<Stack, String> {
    // Ports first: a taken port is one clear error before anything starts.
    let api_listener = bind(opts.api_addr, "--api-addr").await?;
    let s3_listener = bind(opts.s3_addr, "--s3-addr").await?;
    std::fs::create_dir_all(&opts.data_dir)
        .map_err(|e| format!("cannot create --data-dir {}: {e}", opts.data_dir.display()))?;
    let data_dir = opts
        .data_dir
        .canonicalize()
        .map_err(|e| format!("--data-dir {}: {e}", opts.data_dir.display()))?;

    let (database_url, cluster) = database(&data_dir).await?;
    let stop_cluster_on_error = |e: String| {
        if let Some(c) = &cluster {
            c.stop();
        }
        e
    };
    apply_migrations(&database_url)
        .await
        .map_err(stop_cluster_on_error)?;

    let bucket = std::env::var("UPLOAD_BUCKET").unwrap_or_else(|_| DEFAULT_BUCKET.to_owned());
    let s3_url = format!("http://{}", s3server::local_addr(&s3_listener));
    let api_url = format!("http://{}", s3server::local_addr(&api_listener));
    let config = local_config(&database_url, &bucket, &s3_url).map_err(stop_cluster_on_error)?;
    let (api_state, events_state) = states(config);

    let (tx, rx) = mpsc::unbounded_channel();
    let drops = DropList::default();
    let (s3_dir, s3_bucket) = (data_dir.clone(), bucket.clone());
    let faults = opts.notification_faults;
    let mut tasks = vec![
        tokio::spawn(async move {
            if let Err(e) = s3server::serve(s3_listener, s3_dir, s3_bucket, tx).await {
                tracing::error!(error = %e, "S3 server stopped");
            }
        }),
        tokio::spawn(deliver(rx, events_state.clone(), drops.clone(), faults)),
        tokio::spawn(reaper(events_state, opts.reaper_interval)),
    ];
    let app = upload_api::router(api_state)
        .route("/", get(|| async { Html(UI) }))
        .route(
            "/_local/drop-next-event",
            post(drop_next_event).with_state(drops),
        );
    let app = cors::with_cors(app, &opts.allowed_origins);
    tasks.push(tokio::spawn(async move {
        if let Err(e) = axum::serve(api_listener, app).await {
            tracing::error!(error = %e, "API server stopped");
        }
    }));

    Ok(Stack {
        api_url,
        s3_url,
        bucket,
        database: upload_core::config::redact_url(&database_url),
        cluster,
        tasks,
    })
}

/// `DATABASE_URL` when set; otherwise a PostgreSQL cluster of our own under
/// `{data-dir}/postgres` with a database `upload_jobs`.
async fn database(data_dir: &Path) -> Result<(String, Option<Cluster>), String> {
    if let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        return Ok((url, None));
    }
    let cluster = Cluster::start(&data_dir.join("postgres"), free_port(), false)
        .map_err(|e| format!("cannot start PostgreSQL: {e}"))?;
    let admin = migrate::connect_url(&cluster.url("postgres"))
        .await
        .map_err(|e| format!("cannot reach the local PostgreSQL: {e}"))?;
    let exists = admin
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname = 'upload_jobs'",
            &[],
        )
        .await
        .map_err(|e| format!("cannot query the local PostgreSQL: {e}"))?;
    if exists.is_none() {
        admin
            .batch_execute("CREATE DATABASE upload_jobs")
            .await
            .map_err(|e| format!("cannot create database upload_jobs: {e}"))?;
    }
    Ok((cluster.url("upload_jobs"), Some(cluster)))
}

/// The API's and the events handler's state, on the local S3 server with its
/// fixed credentials.
fn states(config: Config) -> (Arc<upload_api::AppState>, Arc<EventsState>) {
    let credentials = aws_credential_types::provider::SharedCredentialsProvider::new(
        aws_credential_types::Credentials::new(
            s3server::ACCESS_KEY,
            s3server::SECRET_KEY,
            None,
            None,
            "local-stack",
        ),
    );
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new(config.aws_region.clone()))
        .credentials_provider(credentials)
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let client = upload_core::s3::client_from_sdk_config(&config, &sdk);
    let objects = Arc::new(upload_core::s3::S3Objects {
        client: client.clone(),
        bucket: config.upload_bucket.clone(),
    });
    let events = Arc::new(EventsState {
        config: config.clone(),
        db: Db::new(config.db_settings("local-events")),
        objects: objects.clone(),
    });
    let api = Arc::new(upload_api::AppState::new(
        config.clone(),
        Db::new(config.db_settings("local-api")),
        client,
        sdk.credentials_provider(),
        objects,
    ));
    (api, events)
}

/// The scheduled reaper, every `interval`.
async fn reaper(state: Arc<EventsState>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tick.tick().await;
        let ev = serde_json::json!({"detail-type": "Scheduled Event", "source": "local-stack", "detail": {}});
        let ev = serde_json::from_value(ev).expect("a scheduled event");
        if let Err(e) = upload_events::handle(&state, ev).await {
            tracing::warn!(error = %e, "reaper run failed");
        }
    }
}

/// `POST /_local/drop-next-event {"key_contains": "..."}`: the next
/// notification whose key contains the string is lost (test hook).
async fn drop_next_event(State(drops): State<DropList>, Json(body): Json<Value>) -> Json<Value> {
    let s = body["key_contains"].as_str().unwrap_or_default().to_owned();
    if !s.is_empty() {
        drops.0.lock().expect("lock").push(s.clone());
    }
    Json(serde_json::json!({"dropping_next_event_containing": s}))
}

/// Delivers notifications to the events handler asynchronously, at least
/// once: a failed delivery is retried with back-off (S3 + Lambda's async
/// retries), each in its own task so a slow one does not block the rest.
/// With `faults`, some are lost, delayed or delivered 2-3 times.
async fn deliver(
    mut rx: mpsc::UnboundedReceiver<Value>,
    state: Arc<EventsState>,
    drops: DropList,
    faults: Option<faults::NotificationFaults>,
) {
    if let Some(f) = &faults {
        tracing::warn!(
            event = "notification_faults_enabled",
            seed = f.seed,
            drop = f.drop,
            delay = f.delay,
            duplicate = f.duplicate,
            max_delay_ms = f.max_delay.as_millis() as u64,
            "fault injection on: notifications will be lost, delayed and repeated"
        );
    }
    let mut injector = faults.map(faults::Injector::new);
    while let Some(ev) = rx.recv().await {
        let key = ev["Records"][0]["s3"]["object"]["key"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let decoded = upload_events::decode_s3_key(&key).unwrap_or_default();
        if drops.take(&decoded) {
            tracing::warn!(event = "notification_dropped", key = %decoded, "test hook: notification lost");
            continue;
        }
        let plan = injector
            .as_mut()
            .map_or_else(faults::Plan::once, faults::Injector::plan);
        faults::log(&plan, &decoded);
        let faults::Plan::Deliver(copies) = plan else {
            continue;
        };
        let ev: upload_events::Payload =
            serde_json::from_value(ev).expect("any JSON is an events payload");
        for delay in copies {
            tokio::spawn(deliver_one(
                state.clone(),
                ev.clone(),
                decoded.clone(),
                delay,
            ));
        }
    }
}

/// One delivery after `delay`, retried up to 5 times with back-off.
async fn deliver_one(
    state: Arc<EventsState>,
    ev: upload_events::Payload,
    key: String,
    delay: Duration,
) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut backoff = Duration::from_millis(200);
    for attempt in 1..=5 {
        match upload_events::handle(&state, ev.clone()).await {
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(event = "delivery_failed", attempt, key = %key, error = %e, "event delivery failed; retrying");
                tokio::time::sleep(backoff).await;
                backoff *= 2;
            }
        }
    }
    tracing::error!(event = "notification_undeliverable", key = %key, "event undeliverable after 5 attempts (would go to the DLQ)");
}

async fn apply_migrations(url: &str) -> Result<(), String> {
    let dir = migrations_dir();
    let ms = migrate::load_dir(&dir).map_err(|e| e.to_string())?;
    let client = migrate::connect_url(url)
        .await
        .map_err(|e| format!("cannot reach the database: {e}"))?;
    migrate::up(&client, &ms)
        .await
        .map_err(|e| format!("migrations failed: {e}"))?;
    Ok(())
}

fn migrations_dir() -> PathBuf {
    std::env::var_os("MIGRATIONS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations"))
}

/// The function configuration for the local stack: the environment, with
/// local defaults (dev header auth on, the local S3 endpoint).
fn local_config(database_url: &str, bucket: &str, s3_url: &str) -> Result<Config, String> {
    let local = |k: &str| -> Option<String> {
        match k {
            "DATABASE_URL" => Some(database_url.to_owned()),
            "UPLOAD_BUCKET" => Some(bucket.to_owned()),
            "S3_ENDPOINT_URL" => Some(s3_url.to_owned()),
            "ALLOW_LEGACY_HEADER_AUTH" => Some("true".to_owned()),
            "AWS_REGION" => Some(std::env::var(k).unwrap_or_else(|_| "us-east-1".to_owned())),
            _ => std::env::var(k).ok(),
        }
    };
    Config::from_lookup(local).map_err(|e| e.to_string())
}
