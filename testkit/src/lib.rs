//! The test kit: used only as a dev-dependency (and by `local-stack`), never
//! linked into a Lambda.
//!
//! * [`TestDb::new`] gives each test its own freshly created, uniquely named
//!   database with `migrations/` applied, dropped when the value is dropped.
//! * The server is `DATABASE_URL` when set; otherwise a throwaway cluster is
//!   started once per test process from the local PostgreSQL binaries, in a
//!   temp dir on a free port, and stopped and removed when the process exits.
//!   Clusters left behind by killed test processes are removed at next start.
//! * [`CountingProxy`] sits between a pool and the server and counts round
//!   trips (ReadyForQuery messages), and can cut connections.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

use upload_core::db::{Db, DbSettings, ParsedUrl};
use upload_migrate as migrate;

pub mod emf;
pub mod eventbridge;
pub mod objects;
pub mod pg_cluster;
pub mod proxy;
pub mod tls_cluster;

pub use emf::validate_emf;
pub use objects::MemoryObjects;
use pg_cluster::{Cluster, free_port};
pub use proxy::{CountingProxy, black_hole, refused_addr};

/// For tests: logs are silent unless `TEST_LOG` is set.
pub fn init_tracing() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_test_writer()
            .try_init();
    }
}

struct Server {
    /// URL of a database on the server we may CREATE DATABASE from.
    admin_url: String,
    host: String,
    port: u16,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static CLUSTER: OnceLock<Cluster> = OnceLock::new();
pub(crate) const STALE_PREFIX: &str = "upload-jobs-test-pg-";

extern "C" fn stop_cluster_at_exit() {
    if let Some(c) = CLUSTER.get() {
        c.stop();
    }
}

fn remove_stale_clusters() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = name
            .strip_prefix(STALE_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !PathBuf::from(format!("/proc/{pid}")).exists() {
            Cluster::stop_stale(&e.path());
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        if let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
            let parsed = ParsedUrl::parse(&url).expect("DATABASE_URL is valid");
            let host = match parsed.pg.get_hosts().first() {
                Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
                _ => "127.0.0.1".to_owned(),
            };
            let port = parsed.pg.get_ports().first().copied().unwrap_or(5432);
            return Server {
                admin_url: url,
                host,
                port,
            };
        }
        remove_stale_clusters();
        let dir = std::env::temp_dir().join(format!(
            "{STALE_PREFIX}{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let cluster = Cluster::start(&dir, free_port(), true)
            .unwrap_or_else(|e| panic!("test database: {e}"));
        let server = Server {
            admin_url: cluster.url("postgres"),
            host: "127.0.0.1".to_owned(),
            port: cluster.port,
        };
        CLUSTER.set(cluster).expect("cluster started once");
        // SAFETY: registering a plain extern "C" fn with no captured state.
        unsafe {
            libc::atexit(stop_cluster_at_exit);
        }
        server
    })
}

/// URL of `database` on the test server (same credentials as the admin URL).
fn url_for(database: &str) -> String {
    let admin = &server().admin_url;
    match url::Url::parse(admin) {
        Ok(mut u) if u.scheme().starts_with("postgres") => {
            u.set_path(&format!("/{database}"));
            u.to_string()
        }
        _ => format!("{admin} dbname={database}"),
    }
}

/// The migrations directory of this repository.
pub fn migrations_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("migrations")
}

/// A fresh database for one test. Dropped (with its connections) on drop.
pub struct TestDb {
    pub name: String,
    pub url: String,
    pub db: Db,
}

impl TestDb {
    /// A fresh database with every migration applied.
    pub async fn new() -> Self {
        let t = Self::empty().await;
        let client = migrate::connect_url(&t.url)
            .await
            .expect("connect to test db");
        let migrations = migrate::load_dir(&migrations_dir()).expect("load migrations");
        migrate::up(&client, &migrations)
            .await
            .expect("apply migrations");
        t
    }

    /// A fresh, empty database (no migrations).
    pub async fn empty() -> Self {
        init_tracing();
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let admin = migrate::connect_url(&server().admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to the test server: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create test database");
        let url = url_for(&name);
        let db = Db::new(Self::settings_for(&url));
        TestDb { name, url, db }
    }

    fn settings_for(url: &str) -> DbSettings {
        let mut s = DbSettings::new(url).expect("test URL is valid");
        s.pool_max = 8;
        s.application_name = Some("tests".into());
        s
    }

    /// Settings pointing at this database (for custom pools).
    pub fn settings(&self) -> DbSettings {
        Self::settings_for(&self.url)
    }

    /// A single direct connection, for assertions and set-up SQL.
    pub async fn client(&self) -> tokio_postgres::Client {
        migrate::connect_url(&self.url)
            .await
            .expect("connect to test db")
    }

    /// Where the server listens (for proxies).
    pub fn server_addr(&self) -> SocketAddr {
        let s = server();
        let host = if s.host == "localhost" {
            "127.0.0.1"
        } else {
            &s.host
        };
        format!("{host}:{}", s.port)
            .parse()
            .expect("test server host is an IP address")
    }

    /// This database's URL, but through `proxy`.
    pub fn url_via(&self, proxy: SocketAddr) -> String {
        let mut u = url::Url::parse(&self.url).expect("test URL is a URL");
        u.set_host(Some(&proxy.ip().to_string())).expect("host");
        u.set_port(Some(proxy.port())).expect("port");
        u.to_string()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        let admin = server().admin_url.clone();
        // Drop runs inside the test's runtime; use a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok(c) = migrate::connect_url(&admin).await {
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}
