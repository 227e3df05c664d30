//! The local stack: everything the upload flow needs, in one process, with
//! the same router and the same events handler the Lambdas run.

pub mod console;
pub mod cors;
mod delivery;
pub mod faults;
pub mod lambda_env;
pub mod s3server;
pub mod worker;

pub use delivery::DropList;
use delivery::{deliver, drop_next_event};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::response::Html;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use upload_core::{Config, Db};
use upload_events::EventsState;
use upload_events::handoff::EventBridge;
use upload_migrate as migrate;
use upload_testkit::eventbridge::LocalEventBridge;
use upload_testkit::pg_cluster::{Cluster, free_port};

pub const DEFAULT_BUCKET: &str = "local-uploads";
const UI: &str = include_str!("ui.html");
/// The upload page's script and style sheet, served beside it.
const UI_JS: &str = include_str!("ui.js");
const UI_CSS: &str = include_str!("ui.css");

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
    /// Run the example worker, which marks handed-off jobs `succeeded`
    /// (`--worker`).
    pub worker: bool,
}

/// A started stack. Dropping it does not stop Postgres: call [`Stack::shutdown`].
pub struct Stack {
    pub api_url: String,
    pub s3_url: String,
    pub bucket: String,
    pub database: String,
    /// Where each hand-off event is appended, one JSON line each.
    pub handoff_file: PathBuf,
    /// The local EventBridge endpoint the events handler puts hand-offs on.
    pub eventbridge: LocalEventBridge,
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
    let data_dir = data_dir(&opts.data_dir)?;

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
    let handoff_file = data_dir.join("handoff.jsonl");
    let eventbridge = LocalEventBridge::start(handoff_file.clone(), &config.aws_region)
        .await
        .map_err(|e| stop_cluster_on_error(format!("cannot start the local EventBridge: {e}")))?;
    let (api_state, events_state, s3) = states(config.clone(), &eventbridge.url);

    let (tx, rx) = mpsc::unbounded_channel();
    let drops = DropList::default();
    let (s3_dir, s3_bucket) = (data_dir.clone(), bucket.clone());
    let faults = opts.notification_faults;
    let mut tasks = vec![
        tokio::spawn(serve_s3(s3_listener, s3_dir, s3_bucket, tx)),
        tokio::spawn(deliver(rx, events_state.clone(), drops.clone(), faults)),
        tokio::spawn(reaper(events_state, opts.reaper_interval)),
    ];
    if opts.worker {
        let db = Db::new(config.db_settings("local-worker"));
        let worker = worker::Worker {
            db,
            s3,
            events: handoff_file.clone(),
        };
        tasks.push(tokio::spawn(worker.run(Duration::from_millis(300))));
    }
    tasks.push(serve_api(
        api_listener,
        api_state,
        drops,
        &opts.allowed_origins,
    ));
    lambda_env::write_for(&data_dir, &database_url, &s3_url, &config, &eventbridge.url);

    Ok(Stack {
        api_url,
        s3_url,
        bucket,
        database: upload_core::config::redact_url(&database_url),
        handoff_file,
        eventbridge,
        cluster,
        tasks,
    })
}

/// `--data-dir`, created if needed, as an absolute path.
fn data_dir(dir: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create --data-dir {}: {e}", dir.display()))?;
    dir.canonicalize()
        .map_err(|e| format!("--data-dir {}: {e}", dir.display()))
}

/// The S3 server, until aborted.
async fn serve_s3(
    listener: TcpListener,
    dir: PathBuf,
    bucket: String,
    notifications: mpsc::UnboundedSender<serde_json::Value>,
) {
    if let Err(e) = s3server::serve(listener, dir, bucket, notifications).await {
        tracing::error!(error = %e, "S3 server stopped");
    }
}

/// The API with the upload page and the test hooks, until aborted.
fn serve_api(
    listener: TcpListener,
    state: Arc<upload_api::AppState>,
    drops: DropList,
    origins: &cors::AllowedOrigins,
) -> tokio::task::JoinHandle<()> {
    let app = upload_api::router(state)
        .route("/", get(|| async { Html(UI) }))
        .route(
            "/ui.js",
            get(|| async { static_file("text/javascript; charset=utf-8", UI_JS) }),
        )
        .route(
            "/ui.css",
            get(|| async { static_file("text/css; charset=utf-8", UI_CSS) }),
        )
        .route(
            "/_local/drop-next-event",
            post(drop_next_event).with_state(drops),
        );
    let app = cors::with_cors(app, origins);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "API server stopped");
        }
    })
}

/// One of the page's files, never cached (the page changes with the binary).
fn static_file(
    content_type: &'static str,
    body: &'static str,
) -> impl axum::response::IntoResponse {
    (
        [
            (http::header::CONTENT_TYPE, content_type),
            (http::header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
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
/// fixed credentials and the local EventBridge at `eventbridge_url` (bus
/// `HANDOFF_EVENT_BUS`, else `default`); and the S3 client.
fn states(
    config: Config,
    eventbridge_url: &str,
) -> (
    Arc<upload_api::AppState>,
    Arc<EventsState>,
    aws_sdk_s3::Client,
) {
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
    let bus = config.handoff_event_bus.as_deref().unwrap_or("default");
    let handoff = EventBridge::new(&sdk, bus, Some(eventbridge_url));
    let events = Arc::new(EventsState {
        config: config.clone(),
        db: Db::new(config.db_settings("local-events")),
        objects: objects.clone(),
        handoff: Some(Arc::new(handoff)),
        metrics: upload_core::metrics::Metrics::off(),
    });
    let api = Arc::new(upload_api::AppState::new(
        config.clone(),
        Db::new(config.db_settings("local-api")),
        client.clone(),
        sdk.credentials_provider(),
        objects,
    ));
    (api, events, client)
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
