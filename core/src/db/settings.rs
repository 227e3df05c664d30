//! What `DATABASE_URL` says, parsed once: hosts, TLS policy, and the pool's
//! settings with their defaults.

use std::net::IpAddr;
use std::time::Duration;

use tokio_postgres::config::Host;

use super::tls::ExtraRoots;

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
#[derive(Clone)]
pub struct ParsedUrl {
    pub pg: tokio_postgres::Config,
    pub tls: TlsPolicy,
    pub local: bool,
}

impl std::fmt::Debug for ParsedUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedUrl")
            .field("hosts", &self.pg.get_hosts())
            .field("hostaddrs", &self.pg.get_hostaddrs())
            .field("ports", &self.pg.get_ports())
            .field("dbname", &self.pg.get_dbname())
            .field("user", &self.pg.get_user())
            .field("tls", &self.tls)
            .field("local", &self.local)
            .finish()
    }
}

impl ParsedUrl {
    /// Parses a libpq-style URL or key/value string and decides TLS.
    ///
    /// `sslmode` is handled here rather than by tokio-postgres, whose `require`
    /// does not verify certificates and which does not know `verify-full`.
    pub fn parse(url: &str) -> Result<Self, DbConfigError> {
        let (rest, sslmode) = split_sslmode(url)?;
        let mut pg: tokio_postgres::Config = rest
            .parse()
            .map_err(|e: tokio_postgres::Error| DbConfigError::Invalid(e.to_string()))?;
        let local = {
            let endpoints = endpoints(&pg);
            if endpoints.is_empty() {
                return Err(DbConfigError::NoHost);
            }
            endpoints.iter().all(|e| e.local)
        };
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
        pg.ssl_mode(match tls {
            TlsPolicy::Disabled => tokio_postgres::config::SslMode::Disable,
            TlsPolicy::Verified => tokio_postgres::config::SslMode::Require,
        });
        Ok(Self { pg, tls, local })
    }

    /// Every server the client may connect to, in order.
    pub fn endpoints(&self) -> Vec<Endpoint> {
        endpoints(&self.pg)
    }
}

/// One server a URL names: `host` (or `hostaddr` alone) and port. A
/// `hostaddr` is the address really dialled; `host` then only names the
/// server for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host name, socket directory or, without one, the `hostaddr`.
    pub host: String,
    pub hostaddr: Option<IpAddr>,
    pub port: u16,
    /// Is what the client dials on this machine?
    pub local: bool,
}

fn endpoints(pg: &tokio_postgres::Config) -> Vec<Endpoint> {
    let (hosts, addrs, ports) = (pg.get_hosts(), pg.get_hostaddrs(), pg.get_ports());
    let port = |i: usize| match ports {
        [one] => *one,
        many => many.get(i).copied().unwrap_or(5432),
    };
    if hosts.is_empty() {
        return addrs
            .iter()
            .enumerate()
            .map(|(i, a)| Endpoint {
                host: a.to_string(),
                hostaddr: Some(*a),
                port: port(i),
                local: a.is_loopback(),
            })
            .collect();
    }
    hosts
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let hostaddr = addrs.get(i).copied();
            Endpoint {
                host: match h {
                    Host::Tcp(h) => h.clone(),
                    Host::Unix(p) => p.display().to_string(),
                },
                hostaddr,
                port: port(i),
                local: hostaddr.map_or_else(|| is_local_host(h), |a| a.is_loopback()),
            }
        })
        .collect()
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

/// Everything the pool is built from. The defaults are the contract's; the
/// functions' `Config` overrides them from the environment.
#[derive(Debug, Clone)]
pub struct DbSettings {
    pub url: ParsedUrl,
    pub pool_max: usize,
    pub connect_timeout: Duration,
    pub statement_timeout: Duration,
    pub max_idle: Duration,
    pub application_name: Option<String>,
    /// Test-only `DATABASE_EXTRA_ROOT_CERT`: roots trusted besides the web
    /// PKI ones, read once at init. `None` in every deployment.
    pub extra_roots: Option<ExtraRoots>,
}

impl DbSettings {
    pub const DEFAULT_POOL_MAX: u64 = 2;
    pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 3000;
    pub const DEFAULT_STATEMENT_TIMEOUT_MS: u64 = 5000;
    pub const DEFAULT_MAX_IDLE_SECONDS: u64 = 240;

    /// Settings with the defaults for a parsed URL.
    pub fn from_parsed(url: ParsedUrl) -> Self {
        Self {
            url,
            pool_max: Self::DEFAULT_POOL_MAX as usize,
            connect_timeout: Duration::from_millis(Self::DEFAULT_CONNECT_TIMEOUT_MS),
            statement_timeout: Duration::from_millis(Self::DEFAULT_STATEMENT_TIMEOUT_MS),
            max_idle: Duration::from_secs(Self::DEFAULT_MAX_IDLE_SECONDS),
            application_name: None,
            extra_roots: None,
        }
    }

    /// Parses `url` and takes the defaults (tools and tests).
    pub fn new(url: impl AsRef<str>) -> Result<Self, DbConfigError> {
        Ok(Self::from_parsed(ParsedUrl::parse(url.as_ref())?))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_hosts_may_skip_tls_remote_ones_may_not() {
        let p = ParsedUrl::parse("postgres://u@127.0.0.1:5432/db").unwrap();
        assert_eq!(p.tls, TlsPolicy::Disabled);
        assert!(p.local);
        let p = ParsedUrl::parse("postgres://u@localhost/db?sslmode=disable").unwrap();
        assert_eq!(p.tls, TlsPolicy::Disabled);
        let p = ParsedUrl::parse("host=/var/run/postgresql user=postgres").unwrap();
        assert!(p.local);
        let p = ParsedUrl::parse("postgres://u@[::1]:5432/db").unwrap();
        assert!(p.local);

        let neon = "postgresql://neondb_owner:pw@ep-silent-waterfall-adtinpn1-pooler.c-2.us-east-1.aws.neon.tech/neondb?sslmode=require&channel_binding=require";
        let p = ParsedUrl::parse(neon).unwrap();
        assert_eq!(p.tls, TlsPolicy::Verified);
        assert!(!p.local);
        assert_eq!(p.pg.get_dbname(), Some("neondb"));

        let p = ParsedUrl::parse("postgres://u@db.example.com/x?sslmode=verify-full").unwrap();
        assert_eq!(p.tls, TlsPolicy::Verified);
        // No sslmode on a remote host: verified TLS anyway.
        let p = ParsedUrl::parse("postgres://u@db.example.com/x").unwrap();
        assert_eq!(p.tls, TlsPolicy::Verified);

        assert_eq!(
            ParsedUrl::parse("postgres://u@db.example.com/x?sslmode=disable").unwrap_err(),
            DbConfigError::PlaintextRemote("disable".into())
        );
        assert_eq!(
            ParsedUrl::parse("postgres://u@db.example.com/x?sslmode=bogus").unwrap_err(),
            DbConfigError::UnknownSslMode("bogus".into())
        );
        assert!(matches!(
            ParsedUrl::parse("not a url at all").unwrap_err(),
            DbConfigError::Invalid(_)
        ));
    }

    #[test]
    fn local_means_every_server_the_client_dials() {
        // hostaddr is what is dialled: a remote one is not local, whatever
        // the host name says, so TLS is required.
        let p = ParsedUrl::parse("postgresql://u@localhost/db?hostaddr=203.0.113.7").unwrap();
        assert!(!p.local);
        assert_eq!(p.tls, TlsPolicy::Verified);
        assert_eq!(
            ParsedUrl::parse("postgresql://u@localhost/db?hostaddr=203.0.113.7&sslmode=disable")
                .unwrap_err(),
            DbConfigError::PlaintextRemote("disable".into())
        );
        let p = ParsedUrl::parse("host=localhost hostaddr=203.0.113.7 user=u").unwrap();
        assert!(!p.local);
        // A loopback hostaddr behind a remote-looking name is local.
        let p = ParsedUrl::parse("host=db.example.com hostaddr=127.0.0.1 user=u").unwrap();
        assert!(p.local);
        // Multi-host: every host counts, not only the first.
        let p = ParsedUrl::parse("postgresql://u@localhost:5432,db.example.com:5433/db").unwrap();
        assert!(!p.local);
        let e = p.endpoints();
        assert_eq!(e.len(), 2);
        assert_eq!(
            (e[1].host.as_str(), e[1].port, e[1].local),
            ("db.example.com", 5433, false)
        );
        // hostaddr alone.
        let p = ParsedUrl::parse("hostaddr=127.0.0.1 user=u").unwrap();
        assert!(p.local);
        assert_eq!(p.endpoints()[0].host, "127.0.0.1");
    }
}
