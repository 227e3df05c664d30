//! The Postgres pool, built for Lambda and for Neon.
//!
//! * Small pool (`DB_POOL_MAX`, default 2), connect timeout, bounded waits.
//! * TLS with rustls and the built-in web PKI roots (no system certificate
//!   store read at cold start), SNI and certificate verification; plain TCP
//!   only for local hosts.
//! * Every operation is ONE statement sent with `query_typed`: Parse, Bind,
//!   Execute and Sync on the unnamed statement in a single write, so it works
//!   through Neon's PgBouncer pooler in transaction mode and costs one round
//!   trip. No named statements, no health-check query per checkout.
//! * A connection that died while the function was frozen is not handed out
//!   twice: deadpool's fast recycling drops connections whose socket is known
//!   closed, connections idle longer than `DB_MAX_IDLE_SECONDS` are replaced,
//!   and a statement that fails because its connection turned out to be
//!   closed is retried on the next connection, until a fresh one was tried. All repository statements
//!   are idempotent (conditional updates, inserts on a deterministic key), so
//!   the retry cannot apply anything twice.

use std::time::Duration;

use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres_rustls::MakeRustlsConnect;

mod settings;
mod tls;

pub use settings::{DbConfigError, DbSettings, Endpoint, ParsedUrl, TlsPolicy};
pub use tls::{
    EXTRA_ROOT_CERT_VAR, ExtraRoots, tls_connector, tls_connector_for, tls_connector_with_roots,
};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had (refused, timed out, pool exhausted, closed).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The statement did not answer within `DB_STATEMENT_TIMEOUT_MS`.
    #[error("database statement timed out after {0:?}")]
    Timeout(Duration),
    /// The server answered with an error. Shown as its SQLSTATE and the
    /// server's message only: never its DETAIL, which can quote the
    /// statement's parameters (and is why the error is not exposed as a
    /// `source` either).
    #[error("database error: {}", server_error(.0))]
    Query(tokio_postgres::Error),
    /// A row did not have the expected shape.
    #[error("unexpected database response: {0}")]
    Decode(String),
}

/// `SQLSTATE 42P01: relation "upload_jobs" does not exist`: the code and the
/// server's message, nothing else.
fn server_error(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("SQLSTATE {}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

impl DbError {
    /// The server's SQLSTATE code, when the server answered with an error.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            DbError::Query(e) => e.code().map(SqlState::code),
            _ => None,
        }
    }

    /// Would trying again later plausibly succeed? (Connection trouble,
    /// timeouts, server shutting down, serialization failures.)
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Unavailable(_) | DbError::Timeout(_) => true,
            DbError::Decode(_) => false,
            DbError::Query(e) => match e.code() {
                None => true, // I/O or protocol trouble on the wire
                Some(code) => {
                    let c = code.code();
                    c.starts_with("08") // connection exception
                        || c.starts_with("53") // insufficient resources
                        || c.starts_with("57P") // admin/crash shutdown
                        || *code == SqlState::T_R_SERIALIZATION_FAILURE
                        || *code == SqlState::T_R_DEADLOCK_DETECTED
                        || *code == SqlState::QUERY_CANCELED
                }
            },
        }
    }
}

/// Did this error end the connection? (Socket closed, or the server
/// terminated the backend: `57P01` admin shutdown, as after
/// `pg_terminate_backend` or a pooler restart; class `08` connection errors.)
fn connection_broken(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c.starts_with("57P")
        }
        None => false,
    }
}

/// The error and its sources on one line ("error performing TLS handshake:
/// invalid peer certificate: UnknownIssuer").
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.ends_with(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

fn pool_error(e: PoolError) -> DbError {
    match e {
        PoolError::Timeout(kind) => DbError::Unavailable(format!("timed out ({kind:?})")),
        PoolError::Backend(e) => DbError::Unavailable(error_chain(&e)),
        other => DbError::Unavailable(other.to_string()),
    }
}

/// The pool plus the per-statement timeout. Cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    statement_timeout: Duration,
    acquire_timeout: Duration,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("status", &self.pool.status())
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

impl Db {
    /// Builds the pool without connecting: an unreachable database never fails
    /// init; the first statement connects (see [`Db::warm_up`]).
    pub fn new(settings: DbSettings) -> Self {
        let tls = tls_connector_for(settings.url.tls, settings.extra_roots.as_ref());
        Self::with_connector(settings, tls)
    }

    /// As [`Db::new`], trusting only `roots` (tests with a private CA).
    pub fn with_roots(settings: DbSettings, roots: rustls::RootCertStore) -> Self {
        Self::with_connector(settings, tls_connector_with_roots(roots))
    }

    fn with_connector(settings: DbSettings, tls: MakeRustlsConnect) -> Self {
        let mut pg = settings.url.pg.clone();
        pg.connect_timeout(settings.connect_timeout);
        pg.keepalives(true);
        pg.keepalives_idle(Duration::from_secs(30));
        if pg.get_application_name().is_none()
            && let Some(name) = &settings.application_name
        {
            pg.application_name(name);
        }
        let manager = Manager::from_config(
            pg,
            tls,
            ManagerConfig {
                // Checks the socket state only: no query per checkout.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let max_idle = settings.max_idle;
        let pool = Pool::builder(manager)
            .max_size(settings.pool_max)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(settings.connect_timeout))
            .create_timeout(Some(settings.connect_timeout))
            .recycle_timeout(Some(settings.connect_timeout))
            .pre_recycle(Hook::sync_fn(move |client, metrics| {
                // A connection idle this long may have been cut by the pooler
                // or a NAT while the function was frozen: replace it instead
                // of finding out on a request.
                if client.is_closed() {
                    Err(HookError::Message("connection closed".into()))
                } else if metrics.last_used() > max_idle {
                    Err(HookError::Message("connection idle too long".into()))
                } else {
                    Ok(())
                }
            }))
            .build()
            .expect("a pool with a runtime set always builds");
        Self {
            pool,
            statement_timeout: settings.statement_timeout,
            acquire_timeout: settings.connect_timeout + Duration::from_millis(500),
        }
    }

    /// Opens one connection if none is open, so the first request does not
    /// pay for it. Failure is logged, never fatal.
    pub async fn warm_up(&self) {
        match tokio::time::timeout(self.acquire_timeout, self.pool.get()).await {
            Ok(Ok(_conn)) => tracing::debug!("database connection ready"),
            Ok(Err(e)) => {
                tracing::warn!(error = %pool_error(e), "database not reachable at init; will retry per request")
            }
            Err(_) => {
                tracing::warn!("database connection timed out at init; will retry per request")
            }
        }
    }

    async fn checkout(&self) -> Result<Object, DbError> {
        match tokio::time::timeout(self.acquire_timeout, self.pool.get()).await {
            Ok(Ok(obj)) => Ok(obj),
            Ok(Err(e)) => Err(pool_error(e)),
            Err(_) => Err(DbError::Unavailable(format!(
                "no connection within {:?}",
                self.acquire_timeout
            ))),
        }
    }

    /// Runs one statement in one round trip (`query_typed`: unnamed statement,
    /// parameter types given, nothing prepared separately).
    pub async fn query(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Vec<Row>, DbError> {
        // Each idle connection in the pool may be dead (a pooler restart
        // ends them all at once), so a broken connection is retried until
        // the pool has had to open a fresh one: at most pool size + 1 tries.
        let max_attempts = self.pool.status().max_size + 1;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let client = self.checkout().await?;
            match tokio::time::timeout(self.statement_timeout, client.query_typed(sql, params))
                .await
            {
                Ok(Ok(rows)) => return Ok(rows),
                Ok(Err(e))
                    if attempt < max_attempts && (connection_broken(&e) || client.is_closed()) =>
                {
                    // The socket died while we were not looking (frozen
                    // function, pooler restart). Drop it and try again: on
                    // the next idle connection, or a new one.
                    tracing::warn!(error = %server_error(&e), "database connection was closed; retrying on a fresh connection");
                    drop(Object::take(client));
                    continue;
                }
                Ok(Err(e)) => {
                    if client.is_closed() || connection_broken(&e) {
                        drop(Object::take(client));
                    }
                    return Err(if e.code().is_none() {
                        DbError::Unavailable(error_chain(&e))
                    } else {
                        DbError::Query(e)
                    });
                }
                Err(_) => {
                    // The statement may still run on the server; the
                    // connection is in an unknown state, so it is closed
                    // rather than returned to the pool.
                    drop(Object::take(client));
                    return Err(DbError::Timeout(self.statement_timeout));
                }
            }
        }
    }

    /// [`Db::query`] for statements that return at most one row.
    pub async fn query_opt(
        &self,
        sql: &str,
        params: &[(&(dyn ToSql + Sync), Type)],
    ) -> Result<Option<Row>, DbError> {
        let mut rows = self.query(sql, params).await?;
        match rows.len() {
            0 => Ok(None),
            1 => Ok(rows.pop()),
            n => Err(DbError::Decode(format!(
                "expected at most one row, got {n}"
            ))),
        }
    }
}
