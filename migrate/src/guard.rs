//! The wrong-database guard: who the URL names, checked before connecting,
//! and what the server says it is, checked after.

use tokio_postgres::Client;

use upload_core::db::{Endpoint, ParsedUrl, tls_connector};

use crate::{MigrateError, db_err, one_line};

/// Who we are about to talk to, from the URL (before connecting).
#[derive(Debug, Clone)]
pub struct Target {
    /// The parsed URL [`connect`] uses.
    pub url: ParsedUrl,
    /// Every server the URL names (multi-host URLs, `host=`/`hostaddr=`).
    pub endpoints: Vec<Endpoint>,
    /// The servers, for messages: `h1,h2` (`host(hostaddr)` where one is set).
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    /// Is every server the client would dial on this machine?
    pub local: bool,
    /// `ep-...` when the (first) host is a Neon host.
    pub neon_endpoint: Option<String>,
}

impl Target {
    pub fn from_url(url: &str) -> Result<Self, MigrateError> {
        let parsed = parse(url)?;
        let endpoints = parsed.endpoints();
        let first = endpoints
            .first()
            .ok_or_else(|| MigrateError::Usage("DATABASE_URL names no host".into()))?;
        let user = parsed.pg.get_user().unwrap_or("postgres").to_owned();
        Ok(Target {
            host: endpoints
                .iter()
                .map(|e| match e.hostaddr {
                    Some(a) if a.to_string() != e.host => format!("{}({a})", e.host),
                    _ => e.host.clone(),
                })
                .collect::<Vec<_>>()
                .join(","),
            port: first.port,
            database: parsed.pg.get_dbname().unwrap_or(&user).to_owned(),
            neon_endpoint: neon_endpoint(&first.host),
            local: parsed.local,
            endpoints,
            url: parsed,
            user,
        })
    }
}

/// Does `expected` name this server (host name, Neon endpoint id or the
/// address really dialled)?
fn names(expected: &str, e: &Endpoint) -> bool {
    expected.eq_ignore_ascii_case(&e.host)
        || neon_endpoint(&e.host).is_some_and(|ep| expected.eq_ignore_ascii_case(&ep))
        || e.hostaddr.is_some_and(|a| expected == a.to_string())
}

/// `ep-silent-waterfall-adtinpn1-pooler.c-2.us-east-1.aws.neon.tech` → `ep-silent-waterfall-adtinpn1`.
pub fn neon_endpoint(host: &str) -> Option<String> {
    let host = host.to_ascii_lowercase();
    if !(host.ends_with(".neon.tech") || host.ends_with(".neon.build")) {
        return None;
    }
    let first = host.split('.').next()?;
    let ep = first.strip_suffix("-pooler").unwrap_or(first);
    ep.starts_with("ep-").then(|| ep.to_owned())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Up,
    Down,
    Status,
    Verify,
}

impl Op {
    fn changes_schema(self) -> bool {
        matches!(self, Op::Up | Op::Down)
    }
    fn name(self) -> &'static str {
        match self {
            Op::Up => "up",
            Op::Down => "down",
            Op::Status => "status",
            Op::Verify => "verify",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expect {
    pub host: Option<String>,
    pub database: Option<String>,
    pub yes: bool,
}

/// The wrong-database guard, checked BEFORE connecting. Local targets are
/// free; a remote target that `up`/`down` would change must be named by the
/// operator (host, or Neon endpoint id, and/or database), and `down` also
/// needs `--yes`.
pub fn guard(target: &Target, expect: &Expect, op: Op) -> Result<(), MigrateError> {
    if !op.changes_schema() || target.local {
        return Ok(());
    }
    let who = format!("host={} database={}", target.host, target.database);
    if expect.host.is_none() && expect.database.is_none() {
        return Err(MigrateError::Refused(format!(
            "`{}` against non-local {who} needs --expect-host and/or --expect-database naming it",
            op.name()
        )));
    }
    if let Some(h) = &expect.host {
        // Every server must be the expected one: a second host in a
        // multi-host URL (or a hostaddr) could be another database.
        if !target.endpoints.iter().all(|e| names(h, e)) {
            return Err(MigrateError::Refused(format!(
                "target host {} does not match --expect-host {h}",
                target.host
            )));
        }
    }
    if let Some(d) = &expect.database
        && d != &target.database
    {
        return Err(MigrateError::Refused(format!(
            "target database {} does not match --expect-database {d}",
            target.database
        )));
    }
    if op == Op::Down && !expect.yes {
        return Err(MigrateError::Refused(format!(
            "`down` against non-local {who} also needs --yes"
        )));
    }
    Ok(())
}

fn parse(url: &str) -> Result<ParsedUrl, MigrateError> {
    ParsedUrl::parse(url).map_err(|e| MigrateError::Usage(format!("DATABASE_URL {e}")))
}

/// Opens one connection to `url` (tools and tests that hold a URL string).
pub async fn connect_url(url: &str) -> Result<Client, MigrateError> {
    connect(&parse(url)?).await
}

/// Opens one connection (TLS as the URL requires).
pub async fn connect(url: &ParsedUrl) -> Result<Client, MigrateError> {
    let mut pg = url.pg.clone();
    pg.connect_timeout(std::time::Duration::from_secs(10));
    pg.application_name("migrate");
    let (client, conn) = pg
        .connect(tls_connector(url.tls))
        .await
        .map_err(|e| MigrateError::Io(format!("could not connect: {}", one_line(&e))))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "migration connection ended");
        }
    });
    Ok(client)
}

/// What the server says it is.
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    pub database: String,
    pub user: String,
    pub server_version: String,
}

pub async fn server_identity(client: &Client) -> Result<ServerIdentity, MigrateError> {
    let row = client
        .query_typed(
            "SELECT current_database()::text, current_user::text, current_setting('server_version')",
            &[],
        )
        .await
        .map_err(db_err("reading server identity"))?;
    let row = row
        .first()
        .ok_or_else(|| MigrateError::Io("no identity row".into()))?;
    Ok(ServerIdentity {
        database: row.get(0),
        user: row.get(1),
        server_version: row.get(2),
    })
}

pub fn describe(target: &Target, id: &ServerIdentity) -> String {
    let mut s = format!(
        "target: host={} port={} database={} user={} server=PostgreSQL {}",
        target.host, target.port, id.database, id.user, id.server_version
    );
    if let Some(ep) = &target.neon_endpoint {
        s.push_str(&format!(" neon_endpoint={ep}"));
    }
    s
}

/// After connecting: the server's own idea of its database must match too.
pub fn guard_connected(
    target: &Target,
    expect: &Expect,
    op: Op,
    id: &ServerIdentity,
) -> Result<(), MigrateError> {
    if !op.changes_schema() || target.local {
        return Ok(());
    }
    if let Some(d) = &expect.database
        && d != &id.database
    {
        return Err(MigrateError::Refused(format!(
            "connected database {} does not match --expect-database {d}",
            id.database
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Target {
        Target::from_url(url).unwrap()
    }

    const NEON: &str = "postgresql://neondb_owner:pw@ep-silent-waterfall-adtinpn1-pooler.c-2.us-east-1.aws.neon.tech/neondb?sslmode=require";

    #[test]
    fn targets_and_neon_endpoints() {
        let t = target(NEON);
        assert!(!t.local);
        assert_eq!(t.database, "neondb");
        assert_eq!(
            t.neon_endpoint.as_deref(),
            Some("ep-silent-waterfall-adtinpn1")
        );
        assert!(target("postgres://postgres@127.0.0.1:5432/x").local);
        assert!(target("postgres://postgres@localhost/x").local);
        assert_eq!(
            target("postgres://postgres@localhost/x").neon_endpoint,
            None
        );
    }

    #[test]
    fn guard_refuses_unnamed_or_mismatched_remote_targets() {
        let t = target(NEON);
        let none = Expect::default();
        for op in [Op::Up, Op::Down] {
            assert!(matches!(
                guard(&t, &none, op),
                Err(MigrateError::Refused(_))
            ));
        }
        // Read-only commands are never refused.
        assert!(guard(&t, &none, Op::Status).is_ok());
        assert!(guard(&t, &none, Op::Verify).is_ok());

        let by_host = Expect {
            host: Some(t.host.clone()),
            ..Default::default()
        };
        assert!(guard(&t, &by_host, Op::Up).is_ok());
        let by_endpoint = Expect {
            host: Some("ep-silent-waterfall-adtinpn1".into()),
            database: Some("neondb".into()),
            yes: false,
        };
        assert!(guard(&t, &by_endpoint, Op::Up).is_ok());
        // The wrong-database incident: another project's endpoint.
        let wrong = Expect {
            host: Some("ep-shy-truth-adk9d3h7".into()),
            ..Default::default()
        };
        let e = guard(&t, &wrong, Op::Up).unwrap_err();
        assert!(
            e.to_string().contains("does not match --expect-host"),
            "{e}"
        );
        let wrong_db = Expect {
            database: Some("other".into()),
            ..Default::default()
        };
        assert!(guard(&t, &wrong_db, Op::Up).is_err());
        // down also needs --yes.
        assert!(guard(&t, &by_host, Op::Down).is_err());
        let yes = Expect {
            yes: true,
            ..by_host
        };
        assert!(guard(&t, &yes, Op::Down).is_ok());
        // Local targets are free.
        assert!(guard(&target("postgres://p@127.0.0.1/x"), &none, Op::Down).is_ok());
    }

    #[test]
    fn guard_looks_at_every_host_and_at_the_address_really_dialled() {
        let none = Expect::default();
        // A remote hostaddr behind `localhost` is not local.
        let t = target("postgresql://u@localhost/db?hostaddr=203.0.113.7");
        assert!(!t.local);
        assert!(matches!(
            guard(&t, &none, Op::Up),
            Err(MigrateError::Refused(_))
        ));
        let t = target("host=localhost hostaddr=203.0.113.7 user=u dbname=db");
        assert!(!t.local);
        assert!(guard(&t, &none, Op::Up).is_err());
        // A multi-host URL whose second host is remote.
        let t = target("postgresql://u@localhost:5432,db.example.com:5432/db");
        assert!(!t.local);
        assert!(guard(&t, &none, Op::Up).is_err());
        // Naming only one of two different hosts is not enough.
        let two = target(
            "postgresql://u@ep-a-1.us-east-1.aws.neon.tech,ep-b-2.us-east-1.aws.neon.tech/db",
        );
        let only_a = Expect {
            host: Some("ep-a-1".into()),
            ..Default::default()
        };
        let e = guard(&two, &only_a, Op::Up).unwrap_err();
        assert!(
            e.to_string().contains("does not match --expect-host"),
            "{e}"
        );
        // Every host the same server (pooler and direct): naming it passes.
        let same = target(
            "postgresql://u@ep-a-1-pooler.us-east-1.aws.neon.tech,ep-a-1.us-east-1.aws.neon.tech/db",
        );
        assert!(guard(&same, &only_a, Op::Up).is_ok());
        // The dialled address itself may be named.
        let t = target("host=db.example.com hostaddr=203.0.113.7 user=u dbname=db");
        let by_addr = Expect {
            host: Some("203.0.113.7".into()),
            ..Default::default()
        };
        assert!(guard(&t, &by_addr, Op::Up).is_ok());
        assert!(t.host.contains("203.0.113.7"), "{}", t.host);
    }
}
