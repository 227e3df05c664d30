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
//!   closed is retried once on a fresh connection. All repository statements
//!   are idempotent (conditional updates, inserts on a deterministic key), so
//!   the retry cannot apply anything twice.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Row, config::Host};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How the connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsPolicy {
    /// Plain TCP or a Unix socket: local hosts only.
    Disabled,
    /// TLS with the server certificate verified against the web PKI roots and
    /// the host name (SNI sent). Used for `sslmode=require` and `verify-full`.
    Verified,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DbConfigError {
    #[error("is not a valid connection string: {0}")]
    Invalid(String),
    #[error("names no host")]
    NoHost,
    #[error(
        "sslmode={0} is only allowed for local hosts; remote databases (Neon) need sslmode=require or verify-full"
    )]
    PlaintextRemote(String),
    #[error("has an unsupported sslmode={0} (use disable, require or verify-full)")]
    UnknownSslMode(String),
}

/// What the URL says, after the TLS policy was decided.
pub struct ParsedUrl {
    pub pg: tokio_postgres::Config,
    pub tls: TlsPolicy,
    pub local: bool,
}

impl std::fmt::Debug for ParsedUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedUrl")
            .field("hosts", &self.pg.get_hosts())
            .field("ports", &self.pg.get_ports())
            .field("dbname", &self.pg.get_dbname())
            .field("user", &self.pg.get_user())
            .field("tls", &self.tls)
            .field("local", &self.local)
            .finish()
    }
}

/// Is this host on this machine (loopback address, `localhost`, Unix socket)?
pub fn is_local_host(host: &Host) -> bool {
    match host {
        Host::Unix(_) => true,
        Host::Tcp(h) => {
            let h = h.trim_start_matches('[').trim_end_matches(']');
            h.eq_ignore_ascii_case("localhost")
                || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
    }
}

pub struct DbSettings {
    pub url: SecretString,
    pub pool_max: usize,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
    pub max_idle: Duration,
    pub application_name: Option<String>,
}

impl DbSettings {
    /// Settings with the contract's defaults, for tools and tests.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: SecretString::from(url.into()),
            pool_max: 2,
            connect_timeout: Duration::from_secs(3),
            statement_timeout: Duration::from_secs(5),
            max_idle: Duration::from_secs(240),
            application_name: None,
        }
    }

    /// Parses a libpq-style URL or key/value string and decides TLS.
    ///
    /// `sslmode` is handled here rather than by tokio-postgres, whose `require`
    /// does not verify certificates and which does not know `verify-full`.
    pub fn parse_url(url: &str) -> Result<ParsedUrl, DbConfigError> {
        let (rest, sslmode) = split_sslmode(url)?;
        let pg: tokio_postgres::Config = rest
            .parse()
            .map_err(|e: tokio_postgres::Error| DbConfigError::Invalid(e.to_string()))?;
        if pg.get_hosts().is_empty() {
            return Err(DbConfigError::NoHost);
        }
        let local = pg.get_hosts().iter().all(is_local_host);
        let tls = match sslmode.as_deref() {
            None if local => TlsPolicy::Disabled,
            None => TlsPolicy::Verified,
            Some("disable" | "allow" | "prefer") if local => TlsPolicy::Disabled,
            Some(m @ ("disable" | "allow" | "prefer")) => {
                return Err(DbConfigError::PlaintextRemote(m.to_owned()));
            }
            Some("require" | "verify-ca" | "verify-full") => TlsPolicy::Verified,
            Some(other) => return Err(DbConfigError::UnknownSslMode(other.to_owned())),
        };
        let mut pg = pg;
        pg.ssl_mode(match tls {
            TlsPolicy::Disabled => tokio_postgres::config::SslMode::Disable,
            TlsPolicy::Verified => tokio_postgres::config::SslMode::Require,
        });
        Ok(ParsedUrl { pg, tls, local })
    }
}

/// Removes `sslmode` from the connection string and returns it separately.
fn split_sslmode(url: &str) -> Result<(String, Option<String>), DbConfigError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_owned(), None));
        };
        let mut mode = None;
        let kept: Vec<&str> = query
            .split('&')
            .filter(|pair| match pair.split_once('=') {
                Some(("sslmode", v)) => {
                    mode = Some(v.to_ascii_lowercase());
                    false
                }
                _ => !pair.is_empty(),
            })
            .collect();
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        Ok((rest, mode))
    } else {
        let mut mode = None;
        let kept: Vec<&str> = url
            .split_whitespace()
            .filter(|tok| match tok.split_once('=') {
                Some(("sslmode", v)) => {
                    mode = Some(v.trim_matches('\'').to_ascii_lowercase());
                    false
                }
                _ => true,
            })
            .collect();
        Ok((kept.join(" "), mode))
    }
}

/// The rustls connector: web PKI roots compiled into the binary, so nothing is
/// read from the file system at cold start. With TLS disabled the root store
/// stays empty (it is never used).
pub fn tls_connector(policy: TlsPolicy) -> MakeRustlsConnect {
    let mut roots = rustls::RootCertStore::empty();
    if policy == TlsPolicy::Verified {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    tls_connector_with_roots(roots)
}

/// The connector with an explicit root store (tests use a private CA).
pub fn tls_connector_with_roots(roots: rustls::RootCertStore) -> MakeRustlsConnect {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    MakeRustlsConnect::new(config)
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection could be had (refused, timed out, pool exhausted, closed).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The statement did not answer within `DB_STATEMENT_TIMEOUT_MS`.
    #[error("database statement timed out after {0:?}")]
    Timeout(Duration),
    /// The server answered with an error.
    #[error("database error: {0}")]
    Query(#[source] tokio_postgres::Error),
    /// A row did not have the expected shape.
    #[error("unexpected database response: {0}")]
    Decode(String),
}

impl DbError {
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
    pub fn new(settings: DbSettings) -> Result<Self, DbConfigError> {
        let parsed = DbSettings::parse_url(settings.url.expose_secret())?;
        Self::from_parsed(parsed, &settings, tls_connector)
    }

    /// As [`Db::new`], with a custom TLS root store (tests).
    pub fn with_roots(
        settings: DbSettings,
        roots: rustls::RootCertStore,
    ) -> Result<Self, DbConfigError> {
        let parsed = DbSettings::parse_url(settings.url.expose_secret())?;
        Self::from_parsed(parsed, &settings, move |_| tls_connector_with_roots(roots))
    }

    fn from_parsed(
        parsed: ParsedUrl,
        settings: &DbSettings,
        tls: impl FnOnce(TlsPolicy) -> MakeRustlsConnect,
    ) -> Result<Self, DbConfigError> {
        let mut pg = parsed.pg;
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
            tls(parsed.tls),
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
            .map_err(|e| DbConfigError::Invalid(e.to_string()))?;
        Ok(Self {
            pool,
            statement_timeout: settings.statement_timeout,
            acquire_timeout: settings.connect_timeout + Duration::from_millis(500),
        })
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
        let mut attempt = 0;
        loop {
            attempt += 1;
            let client = self.checkout().await?;
            match tokio::time::timeout(self.statement_timeout, client.query_typed(sql, params))
                .await
            {
                Ok(Ok(rows)) => return Ok(rows),
                Ok(Err(e)) if attempt == 1 && (connection_broken(&e) || client.is_closed()) => {
                    // The socket died while we were not looking (frozen
                    // function, pooler restart). Drop it and try once more on
                    // a new connection.
                    tracing::warn!(error = %e, "database connection was closed; retrying on a fresh connection");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts_may_skip_tls_remote_ones_may_not() {
        let p = DbSettings::parse_url("postgres://u@127.0.0.1:5432/db").unwrap();
        assert_eq!(p.tls, TlsPolicy::Disabled);
        assert!(p.local);
        let p = DbSettings::parse_url("postgres://u@localhost/db?sslmode=disable").unwrap();
        assert_eq!(p.tls, TlsPolicy::Disabled);
        let p = DbSettings::parse_url("host=/var/run/postgresql user=postgres").unwrap();
        assert!(p.local);
        let p = DbSettings::parse_url("postgres://u@[::1]:5432/db").unwrap();
        assert!(p.local);

        let neon = "postgresql://neondb_owner:pw@ep-silent-waterfall-adtinpn1-pooler.c-2.us-east-1.aws.neon.tech/neondb?sslmode=require&channel_binding=require";
        let p = DbSettings::parse_url(neon).unwrap();
        assert_eq!(p.tls, TlsPolicy::Verified);
        assert!(!p.local);
        assert_eq!(p.pg.get_dbname(), Some("neondb"));

        let p = DbSettings::parse_url("postgres://u@db.example.com/x?sslmode=verify-full").unwrap();
        assert_eq!(p.tls, TlsPolicy::Verified);
        // No sslmode on a remote host: verified TLS anyway.
        let p = DbSettings::parse_url("postgres://u@db.example.com/x").unwrap();
        assert_eq!(p.tls, TlsPolicy::Verified);

        assert_eq!(
            DbSettings::parse_url("postgres://u@db.example.com/x?sslmode=disable").unwrap_err(),
            DbConfigError::PlaintextRemote("disable".into())
        );
        assert_eq!(
            DbSettings::parse_url("postgres://u@db.example.com/x?sslmode=bogus").unwrap_err(),
            DbConfigError::UnknownSslMode("bogus".into())
        );
        assert!(matches!(
            DbSettings::parse_url("not a url at all").unwrap_err(),
            DbConfigError::Invalid(_)
        ));
    }
}
