//! The ledger (`schema_migrations`): apply, revert and report migrations,
//! each in its own transaction under the advisory lock.

use tokio_postgres::Client;
use tokio_postgres::types::Type;

use crate::{LOCK_KEY, MigrateError, Migration, db_err, one_line};

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
