//! The test harness every crate's tests use (feature `test-support`).
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::db::{Db, DbSettings};
use crate::migrate;
use crate::pg_cluster::{Cluster, free_port};

pub use crate::logging::init_for_tests as init_tracing;

struct Server {
    /// URL of a database on the server we may CREATE DATABASE from.
    admin_url: String,
    host: String,
    port: u16,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static CLUSTER: OnceLock<Cluster> = OnceLock::new();
const STALE_PREFIX: &str = "upload-jobs-test-pg-";

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
            let parsed = DbSettings::parse_url(&url).expect("DATABASE_URL is valid");
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
        let client = migrate::connect(&t.url).await.expect("connect to test db");
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
        let admin = migrate::connect(&server().admin_url)
            .await
            .unwrap_or_else(|e| panic!("connect to the test server: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create test database");
        let url = url_for(&name);
        let db = Db::new(Self::settings_for(&url)).expect("pool for test db");
        TestDb { name, url, db }
    }

    fn settings_for(url: &str) -> DbSettings {
        let mut s = DbSettings::new(url);
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
        migrate::connect(&self.url)
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
                if let Ok(c) = migrate::connect(&admin).await {
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// A TCP proxy in front of the test server that counts round trips (one
/// ReadyForQuery message from the server per round trip, not counting the one
/// that ends each connection's start-up) and can cut every connection.
pub struct CountingProxy {
    pub addr: SocketAddr,
    round_trips: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl CountingProxy {
    pub async fn start(upstream: SocketAddr) -> Self {
        Self::start_at("127.0.0.1:0".parse().expect("addr"), upstream).await
    }

    /// A proxy listening on `listen` (e.g. where a database "comes back").
    pub async fn start_at(listen: SocketAddr, upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind(listen).await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let round_trips = Arc::new(AtomicU64::new(0));
        let connections = Arc::new(AtomicU64::new(0));
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (rt, conns, ts) = (round_trips.clone(), connections.clone(), tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                conns.fetch_add(1, Ordering::SeqCst);
                let rt = rt.clone();
                let task = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    // Without this, Nagle's algorithm plus delayed ACKs add
                    // ~40 ms to any message split over several segments.
                    let _ = server.set_nodelay(true);
                    let _ = client.set_nodelay(true);
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let up = async move {
                        let _ = tokio::io::copy(&mut cr, &mut sw).await;
                        let _ = sw.shutdown().await;
                    };
                    let down = async move {
                        let mut buf = vec![0u8; 16 * 1024];
                        let mut parser = MessageCounter::default();
                        loop {
                            let n = match sr.read(&mut buf).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            let z = parser.feed(&buf[..n]);
                            if cw.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                            if z > 0 {
                                rt.fetch_add(z, Ordering::SeqCst);
                            }
                        }
                        let _ = cw.shutdown().await;
                    };
                    tokio::join!(up, down);
                });
                ts.lock().expect("lock").push(task);
            }
        });
        CountingProxy {
            addr,
            round_trips,
            connections,
            tasks,
            accept,
        }
    }

    /// Round trips since start (or the last [`CountingProxy::reset`]).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::SeqCst)
    }

    /// Connections accepted since start.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.round_trips.store(0, Ordering::SeqCst);
    }

    /// Cuts every open connection (clients see the socket close).
    pub fn cut_all(&self) {
        for t in self.tasks.lock().expect("lock").drain(..) {
            t.abort();
        }
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut_all();
    }
}

/// Splits the server's byte stream into messages and counts ReadyForQuery
/// ('Z'), skipping the first one of the connection (end of start-up).
#[derive(Default)]
struct MessageCounter {
    header: Vec<u8>,
    remaining: usize,
    seen_startup_z: bool,
}

impl MessageCounter {
    fn feed(&mut self, mut data: &[u8]) -> u64 {
        let mut count = 0;
        while !data.is_empty() {
            if self.remaining > 0 {
                let take = self.remaining.min(data.len());
                self.remaining -= take;
                data = &data[take..];
                continue;
            }
            let need = 5 - self.header.len();
            let take = need.min(data.len());
            self.header.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.header.len() == 5 {
                let len = u32::from_be_bytes([
                    self.header[1],
                    self.header[2],
                    self.header[3],
                    self.header[4],
                ]) as usize;
                if self.header[0] == b'Z' {
                    if self.seen_startup_z {
                        count += 1;
                    } else {
                        self.seen_startup_z = true;
                    }
                }
                self.remaining = len.saturating_sub(4);
                self.header.clear();
            }
        }
        count
    }
}

/// An address where nothing listens: connections are refused at once.
pub fn refused_addr() -> SocketAddr {
    format!("127.0.0.1:{}", free_port()).parse().expect("addr")
}

/// A listener that accepts connections and never answers (a black hole, like
/// a database behind a dropped route). Keep the returned handle alive.
pub async fn black_hole() -> (SocketAddr, JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let h = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    (addr, h)
}
