//! Network doubles for tests: a round-trip-counting proxy in front of the
//! database, a refused address, a black hole.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::pg_cluster::free_port;

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
