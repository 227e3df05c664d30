//! The migration tool's library: load `migrations/`, guard the target,
//! apply/revert under an advisory lock with checksums, and verify the schema.
//!
//! Locking: every migration runs in its own transaction that first takes
//! `pg_advisory_xact_lock`, then re-reads `schema_migrations`. A concurrent
//! run waits on the lock and then finds the migration recorded, so nothing
//! is applied twice. Transaction-scoped locks also behave through a
//! transaction-mode pooler (a session lock would not).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio_postgres::Client;
use tokio_postgres::config::Host;
use tokio_postgres::types::Type;

use crate::db::{DbSettings, is_local_host, tls_connector};

/// Key of the advisory lock ("uploadjb").
pub const LOCK_KEY: i64 = 0x7570_6c6f_6164_6a62;

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{0}")]
    Usage(String),
    #[error("refused: {0}")]
    Refused(String),
    #[error("{0}")]
    Checksum(String),
    #[error("{0}")]
    Drift(String),
    #[error("{0}")]
    Io(String),
    #[error("{context}: {source}")]
    Db {
        context: String,
        #[source]
        source: tokio_postgres::Error,
    },
}

impl MigrateError {
    /// Exit codes scripts can rely on.
    pub fn exit_code(&self) -> i32 {
        match self {
            MigrateError::Io(_) | MigrateError::Db { .. } => 1,
            MigrateError::Usage(_) => 2,
            MigrateError::Refused(_) => 3,
            MigrateError::Checksum(_) | MigrateError::Drift(_) => 4,
        }
    }
}

fn db_err(context: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> MigrateError {
    let context = context.into();
    move |source| MigrateError::Db { context, source }
}

/// Flattens a tokio-postgres error into one line (server message included).
pub fn one_line(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => crate::db::error_chain(e),
    }
}

#[derive(Debug, Clone)]
pub struct Migration {
    pub version: i64,
    pub name: String,
    pub file: PathBuf,
    pub up_sql: String,
    pub down_sql: Option<String>,
    pub checksum: String,
}

pub fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.as_bytes()))
}

/// Loads `NNN_name.sql` (+ optional `NNN_name.down.sql`) files, in version order.
pub fn load_dir(dir: &Path) -> Result<Vec<Migration>, MigrateError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        MigrateError::Io(format!(
            "cannot read migrations directory {}: {e}",
            dir.display()
        ))
    })?;
    let mut out: Vec<Migration> = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| MigrateError::Io(format!("cannot list {}: {e}", dir.display())))?
            .path();
        let Some(fname) = path.file_name().and_then(|f| f.to_str()) else {
            continue;
        };
        if !fname.ends_with(".sql") || fname.ends_with(".down.sql") {
            continue;
        }
        let stem = &fname[..fname.len() - 4];
        let (num, name) = stem.split_once('_').ok_or_else(|| {
            MigrateError::Usage(format!("migration file {fname} is not named NNN_name.sql"))
        })?;
        let version: i64 = num.parse().map_err(|_| {
            MigrateError::Usage(format!(
                "migration file {fname} does not start with a version number"
            ))
        })?;
        if let Some(other) = out.iter().find(|m| m.version == version) {
            return Err(MigrateError::Usage(format!(
                "two migrations have version {version}: {} and {fname}",
                other.file.display()
            )));
        }
        let read = |p: &Path| {
            std::fs::read_to_string(p)
                .map_err(|e| MigrateError::Io(format!("cannot read {}: {e}", p.display())))
        };
        let up_sql = read(&path)?;
        let down_path = dir.join(format!("{stem}.down.sql"));
        let down_sql = if down_path.exists() {
            Some(read(&down_path)?)
        } else {
            None
        };
        out.push(Migration {
            version,
            name: name.to_owned(),
            checksum: checksum(&up_sql),
            file: path,
            up_sql,
            down_sql,
        });
    }
    out.sort_by_key(|m| m.version);
    Ok(out)
}

/// Who we are about to talk to, from the URL (before connecting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub local: bool,
    /// `ep-...` when the host is a Neon host.
    pub neon_endpoint: Option<String>,
}

impl Target {
    pub fn from_url(url: &str) -> Result<Self, MigrateError> {
        let parsed = DbSettings::parse_url(url)
            .map_err(|e| MigrateError::Usage(format!("DATABASE_URL {e}")))?;
        let pg = &parsed.pg;
        let host = match pg.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => return Err(MigrateError::Usage("DATABASE_URL names no host".into())),
        };
        let user = pg.get_user().unwrap_or("postgres").to_owned();
        Ok(Target {
            port: pg.get_ports().first().copied().unwrap_or(5432),
            database: pg.get_dbname().unwrap_or(&user).to_owned(),
            neon_endpoint: neon_endpoint(&host),
            local: pg.get_hosts().iter().all(is_local_host),
            host,
            user,
        })
    }
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
        let matches = h.eq_ignore_ascii_case(&target.host)
            || target
                .neon_endpoint
                .as_deref()
                .is_some_and(|ep| h.eq_ignore_ascii_case(ep));
        if !matches {
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

/// Opens one connection (TLS as the URL requires).
pub async fn connect(url: &str) -> Result<Client, MigrateError> {
    let parsed =
        DbSettings::parse_url(url).map_err(|e| MigrateError::Usage(format!("DATABASE_URL {e}")))?;
    let mut pg = parsed.pg;
    pg.connect_timeout(std::time::Duration::from_secs(10));
    pg.application_name("migrate");
    let (client, conn) = pg
        .connect(tls_connector(parsed.tls))
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

const CREATE_LEDGER: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version BIGINT PRIMARY KEY,
    name TEXT NOT NULL,
    checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

async fn lock(client: &Client) -> Result<(), MigrateError> {
    client
        .query_typed(
            "SELECT pg_advisory_xact_lock($1)",
            &[(&LOCK_KEY, Type::INT8)],
        )
        .await
        .map_err(db_err("taking the migration lock"))?;
    Ok(())
}

async fn in_transaction<T>(
    client: &Client,
    body: impl AsyncFnOnce(&Client) -> Result<T, MigrateError>,
) -> Result<T, MigrateError> {
    client
        .batch_execute("BEGIN")
        .await
        .map_err(db_err("BEGIN"))?;
    match body(client).await {
        Ok(v) => {
            client
                .batch_execute("COMMIT")
                .await
                .map_err(db_err("COMMIT"))?;
            Ok(v)
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

async fn ensure_ledger(client: &Client) -> Result<(), MigrateError> {
    in_transaction(client, async |c| {
        lock(c).await?;
        c.batch_execute(CREATE_LEDGER)
            .await
            .map_err(db_err("creating schema_migrations"))
    })
    .await
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub version: i64,
    pub name: String,
    pub checksum: String,
    pub applied_at: chrono::DateTime<chrono::Utc>,
}

async fn applied(client: &Client) -> Result<Vec<Applied>, MigrateError> {
    let exists = client
        .query_typed("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .await
        .map_err(db_err("looking for schema_migrations"))?;
    if !exists.first().is_some_and(|r| r.get::<_, bool>(0)) {
        return Ok(Vec::new());
    }
    let rows = client
        .query_typed(
            "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version",
            &[],
        )
        .await
        .map_err(db_err("reading schema_migrations"))?;
    Ok(rows
        .iter()
        .map(|r| Applied {
            version: r.get(0),
            name: r.get(1),
            checksum: r.get(2),
            applied_at: r.get(3),
        })
        .collect())
}

fn check_checksums(migrations: &[Migration], done: &[Applied]) -> Result<(), MigrateError> {
    for a in done {
        if let Some(m) = migrations.iter().find(|m| m.version == a.version)
            && m.checksum != a.checksum
        {
            return Err(MigrateError::Checksum(format!(
                "migration {} was changed after it was applied (recorded sha256 {}, file {}); add a new migration instead",
                m.file.display(),
                &a.checksum[..12.min(a.checksum.len())],
                &m.checksum[..12]
            )));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpOutcome {
    Applied { version: i64, name: String },
    AppliedConcurrently { version: i64, name: String },
}

/// Applies every pending migration, each in its own locked transaction.
pub async fn up(client: &Client, migrations: &[Migration]) -> Result<Vec<UpOutcome>, MigrateError> {
    ensure_ledger(client).await?;
    let done = applied(client).await?;
    check_checksums(migrations, &done)?;
    let mut out = Vec::new();
    for m in migrations {
        if done.iter().any(|a| a.version == m.version) {
            continue;
        }
        let outcome = in_transaction(client, async |c| {
            lock(c).await?;
            let rows = c
                .query_typed(
                    "SELECT checksum FROM schema_migrations WHERE version = $1",
                    &[(&m.version, Type::INT8)],
                )
                .await
                .map_err(db_err("reading schema_migrations"))?;
            if let Some(row) = rows.first() {
                let recorded: String = row.get(0);
                if recorded != m.checksum {
                    return Err(MigrateError::Checksum(format!(
                        "migration {} was changed after it was applied",
                        m.file.display()
                    )));
                }
                return Ok(None);
            }
            c.batch_execute(&m.up_sql).await.map_err(|e| {
                MigrateError::Io(format!("{} failed: {}", m.file.display(), one_line(&e)))
            })?;
            c.query_typed(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                &[
                    (&m.version, Type::INT8),
                    (&m.name, Type::TEXT),
                    (&m.checksum, Type::TEXT),
                ],
            )
            .await
            .map_err(db_err("recording the migration"))?;
            Ok(Some(()))
        })
        .await?;
        out.push(match outcome {
            Some(()) => UpOutcome::Applied {
                version: m.version,
                name: m.name.clone(),
            },
            None => UpOutcome::AppliedConcurrently {
                version: m.version,
                name: m.name.clone(),
            },
        });
    }
    Ok(out)
}

/// Reverts the most recently applied migration (its `.down.sql`).
pub async fn down(
    client: &Client,
    migrations: &[Migration],
) -> Result<Option<Applied>, MigrateError> {
    ensure_ledger(client).await?;
    in_transaction(client, async |c| {
        lock(c).await?;
        let done = applied(c).await?;
        let Some(last) = done.last().cloned() else {
            return Ok(None);
        };
        let m = migrations
            .iter()
            .find(|m| m.version == last.version)
            .ok_or_else(|| {
                MigrateError::Io(format!(
                    "applied migration {} ({}) has no file here",
                    last.version, last.name
                ))
            })?;
        let sql = m
            .down_sql
            .as_ref()
            .ok_or_else(|| MigrateError::Io(format!("{} has no .down.sql", m.file.display())))?;
        c.batch_execute(sql).await.map_err(|e| {
            MigrateError::Io(format!(
                "down of {} failed: {}",
                m.file.display(),
                one_line(&e)
            ))
        })?;
        c.query_typed(
            "DELETE FROM schema_migrations WHERE version = $1",
            &[(&last.version, Type::INT8)],
        )
        .await
        .map_err(db_err("removing the migration record"))?;
        Ok(Some(last))
    })
    .await
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusLine {
    Applied(Applied),
    Pending { version: i64, name: String },
    Changed(Applied),
    MissingFile(Applied),
}

pub async fn status(
    client: &Client,
    migrations: &[Migration],
) -> Result<Vec<StatusLine>, MigrateError> {
    let done = applied(client).await?;
    let mut out = Vec::new();
    for m in migrations {
        match done.iter().find(|a| a.version == m.version) {
            Some(a) if a.checksum == m.checksum => out.push(StatusLine::Applied(a.clone())),
            Some(a) => out.push(StatusLine::Changed(a.clone())),
            None => out.push(StatusLine::Pending {
                version: m.version,
                name: m.name.clone(),
            }),
        }
    }
    for a in &done {
        if !migrations.iter().any(|m| m.version == a.version) {
            out.push(StatusLine::MissingFile(a.clone()));
        }
    }
    out.sort_by_key(|l| match l {
        StatusLine::Applied(a) | StatusLine::Changed(a) | StatusLine::MissingFile(a) => a.version,
        StatusLine::Pending { version, .. } => *version,
    });
    Ok(out)
}

/// The schema the service expects (SCHEMA-SEED.md): (column, udt_name, NOT NULL).
const EXPECTED_COLUMNS: &[(&str, &str, bool)] = &[
    ("id", "uuid", true),
    ("tenant_id", "uuid", true),
    ("user_id", "text", true),
    ("job_type", "jobtype", true),
    ("status", "jobstatus", true),
    ("file_key", "text", true),
    ("file_name", "text", false),
    ("mime_type", "text", false),
    ("file_size", "int8", false),
    ("interaction_id", "uuid", true),
    ("trace_id", "text", false),
    ("account_id", "text", false),
    ("error_message", "text", false),
    ("error_code", "text", false),
    ("result_summary", "text", false),
    ("metadata_json", "text", false),
    ("created_at", "timestamptz", true),
    ("updated_at", "timestamptz", true),
    ("started_at", "timestamptz", false),
    ("completed_at", "timestamptz", false),
];

const EXPECTED_ENUMS: &[(&str, &[&str])] = &[
    (
        "jobstatus",
        &["queued", "processing", "succeeded", "failed"],
    ),
    ("jobtype", &["audio_transcription", "text_processing"]),
];

/// (index name, unique, columns)
const EXPECTED_INDEXES: &[(&str, bool, &[&str])] = &[
    ("ix_upload_jobs_tenant_id", false, &["tenant_id"]),
    ("ix_upload_jobs_status", false, &["status"]),
    (
        "ix_upload_jobs_tenant_status",
        false,
        &["tenant_id", "status"],
    ),
    (
        "ix_upload_jobs_tenant_file_key",
        true,
        &["tenant_id", "file_key"],
    ),
];

/// The schema document's proof queries, and a little more. Returns every
/// drift found (empty: the database matches).
pub async fn verify(client: &Client) -> Result<Vec<String>, MigrateError> {
    let mut drift = Vec::new();
    let q = async |sql: &str| {
        client
            .query_typed(sql, &[])
            .await
            .map_err(db_err("running the verify queries"))
    };

    let table = q("SELECT tablename::text FROM pg_tables WHERE tablename = 'upload_jobs' AND schemaname = current_schema()").await?;
    if table.is_empty() {
        drift.push("table upload_jobs does not exist".to_owned());
    }

    let enums = q(
        "SELECT t.typname::text, array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
                   FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
                   JOIN pg_namespace n ON n.oid = t.typnamespace AND n.nspname = current_schema()
                   WHERE t.typname IN ('jobstatus', 'jobtype')
                   GROUP BY t.typname",
    )
    .await?;
    for (name, labels) in EXPECTED_ENUMS {
        match enums.iter().find(|r| r.get::<_, String>(0) == *name) {
            None => drift.push(format!("enum type {name} does not exist")),
            Some(r) => {
                let got: Vec<String> = r.get(1);
                if got != *labels {
                    drift.push(format!(
                        "enum type {name} has labels {got:?}, expected {labels:?}"
                    ));
                }
            }
        }
    }

    if !table.is_empty() {
        let cols = q(
            "SELECT column_name::text, udt_name::text, is_nullable::text, column_default::text
                      FROM information_schema.columns
                      WHERE table_name = 'upload_jobs' AND table_schema = current_schema()",
        )
        .await?;
        for (name, udt, not_null) in EXPECTED_COLUMNS {
            match cols.iter().find(|r| r.get::<_, String>(0) == *name) {
                None => drift.push(format!("column upload_jobs.{name} does not exist")),
                Some(r) => {
                    let got_udt: String = r.get(1);
                    if got_udt != *udt {
                        drift.push(format!(
                            "column upload_jobs.{name} is {got_udt}, expected {udt}"
                        ));
                    }
                    let nullable = r.get::<_, String>(2) == "YES";
                    if nullable == *not_null {
                        drift.push(format!(
                            "column upload_jobs.{name} is {}, expected {}",
                            if nullable { "nullable" } else { "NOT NULL" },
                            if *not_null { "NOT NULL" } else { "nullable" }
                        ));
                    }
                }
            }
        }
        // Extra columns are fine (the Python service added some) unless they
        // would make this service's inserts fail.
        for r in &cols {
            let name: String = r.get(0);
            let nullable = r.get::<_, String>(2) == "YES";
            let default: Option<String> = r.get(3);
            if !EXPECTED_COLUMNS.iter().any(|(n, _, _)| *n == name)
                && !nullable
                && default.is_none()
            {
                drift.push(format!(
                    "extra column upload_jobs.{name} is NOT NULL without a default (inserts would fail)"
                ));
            }
        }
        let id_default = cols
            .iter()
            .find(|r| r.get::<_, String>(0) == "id")
            .and_then(|r| r.get::<_, Option<String>>(3));
        if !id_default
            .as_deref()
            .is_some_and(|d| d.contains("gen_random_uuid"))
        {
            drift.push("column upload_jobs.id has no gen_random_uuid() default".to_owned());
        }

        let idx = q("SELECT c.relname::text, i.indisunique,
                            array_agg(a.attname::text ORDER BY k.ord)
                     FROM pg_index i
                     JOIN pg_class c ON c.oid = i.indexrelid
                     JOIN pg_class t ON t.oid = i.indrelid
                     JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
                     CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                     WHERE t.relname = 'upload_jobs'
                     GROUP BY c.relname, i.indisunique")
        .await?;
        for (name, unique, columns) in EXPECTED_INDEXES {
            match idx.iter().find(|r| r.get::<_, String>(0) == *name) {
                None => drift.push(format!("index {name} does not exist")),
                Some(r) => {
                    let got_unique: bool = r.get(1);
                    let got_cols: Vec<String> = r.get(2);
                    if got_unique != *unique {
                        drift.push(format!(
                            "index {name} is {}, expected {}",
                            if got_unique { "unique" } else { "not unique" },
                            if *unique { "unique" } else { "not unique" }
                        ));
                    }
                    if got_cols != *columns {
                        drift.push(format!(
                            "index {name} is on {got_cols:?}, expected {columns:?}"
                        ));
                    }
                }
            }
        }
        let pk = q("SELECT array_agg(a.attname::text)
                    FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
                    JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
                    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey)
                    WHERE t.relname = 'upload_jobs' AND i.indisprimary")
        .await?;
        let pk_cols: Option<Vec<String>> = pk.first().and_then(|r| r.get(0));
        if pk_cols.as_deref() != Some(&["id".to_owned()][..]) {
            drift.push(format!(
                "primary key of upload_jobs is {pk_cols:?}, expected [\"id\"]"
            ));
        }
    }
    Ok(drift)
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
}
