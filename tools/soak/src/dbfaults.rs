//! Database faults, through a superuser connection of our own to the
//! cluster's `postgres` database: every backend of the stack's database
//! killed (`pg_terminate_backend`), and outages where the database refuses
//! connections (`ALTER DATABASE ... WITH ALLOW_CONNECTIONS false`, its
//! backends killed, then `true` again).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

use crate::plan::DbFault;

/// What was injected, for the summary and to judge 503s.
#[derive(Debug, Default)]
pub struct Injected {
    pub kills: Vec<Instant>,
    pub backends_killed: i64,
    /// (refusing from, accepting again at)
    pub outages: Vec<(Instant, Instant)>,
    pub errors: Vec<String>,
}

pub struct Admin {
    client: Client,
    database: String,
}

/// Connects to `url` (a `postgres://` URL without a password or with one).
pub async fn connect(url: &str) -> Result<Client, String> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(client)
}

/// The URL with its path (database) replaced.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    if query.is_empty() {
        format!("{base}/{database}")
    } else {
        format!("{base}/{database}?{query}")
    }
}

impl Admin {
    /// Connected to the `postgres` database of the cluster behind `url`.
    pub async fn new(url: &str) -> Result<Admin, String> {
        let database = url
            .split('?')
            .next()
            .and_then(|u| u.rsplit_once('/'))
            .map(|(_, d)| d.to_owned())
            .filter(|d| !d.is_empty() && !d.contains('"'))
            .ok_or(format!("no database name in {url}"))?;
        let client = connect(&with_database(url, "postgres")).await?;
        Ok(Admin { client, database })
    }

    /// Terminates every client backend of the stack's database.
    async fn kill_all(&self) -> Result<i64, String> {
        let row = self
            .client
            .query_one(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
                 WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
                &[&self.database],
            )
            .await
            .map_err(|e| format!("pg_terminate_backend: {e}"))?;
        Ok(row.get(0))
    }

    async fn allow_connections(&self, allow: bool) -> Result<(), String> {
        let sql = format!(
            "ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS {allow}",
            self.database
        );
        self.client
            .batch_execute(&sql)
            .await
            .map_err(|e| format!("{sql}: {e}"))
    }

    /// Injects one fault and records it.
    pub async fn inject(&self, fault: DbFault, log: &Mutex<Injected>) {
        let note = |f: &dyn Fn(&mut Injected)| f(&mut log.lock().expect("fault log lock"));
        match fault {
            DbFault::KillAll => {
                let at = Instant::now();
                match self.kill_all().await {
                    Ok(n) => note(&|l| {
                        l.kills.push(at);
                        l.backends_killed += n;
                    }),
                    Err(e) => note(&|l| l.errors.push(e.clone())),
                }
            }
            DbFault::Outage(length) => {
                let from = Instant::now();
                let result = self.outage(length).await;
                let to = Instant::now();
                match result {
                    Ok(n) => note(&|l| {
                        l.outages.push((from, to));
                        l.backends_killed += n;
                    }),
                    Err(e) => note(&|l| l.errors.push(e.clone())),
                }
            }
        }
    }

    /// Refuse, kill, wait, accept again (accepting is attempted whatever
    /// happened before it).
    async fn outage(&self, length: Duration) -> Result<i64, String> {
        self.allow_connections(false).await?;
        let killed = self.kill_all().await;
        tokio::time::sleep(length).await;
        let mut reopened = self.allow_connections(true).await;
        for _ in 0..5 {
            if reopened.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            reopened = self.allow_connections(true).await;
        }
        reopened?;
        killed
    }
}

/// Fires each `(fraction, fault)` once `done / total` reaches its fraction;
/// returns when all have fired (the rest fire when `finished` says the load
/// is over).
pub async fn drive(
    admin: &Admin,
    schedule: &[(f64, DbFault)],
    done: &AtomicUsize,
    total: usize,
    finished: &std::sync::atomic::AtomicBool,
    log: &Mutex<Injected>,
) {
    for (at, fault) in schedule {
        while (done.load(Ordering::Relaxed) as f64) < at * total as f64
            && !finished.load(Ordering::Relaxed)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        admin.inject(*fault, log).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn swaps_the_database_of_a_url() {
        use super::with_database;
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5/upload_jobs", "postgres"),
            "postgres://postgres@127.0.0.1:5/postgres"
        );
        assert_eq!(
            with_database("postgres://u@h:5/db?sslmode=disable", "postgres"),
            "postgres://u@h:5/postgres?sslmode=disable"
        );
    }
}
