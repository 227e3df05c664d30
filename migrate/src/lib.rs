//! The migration tool's library: load `migrations/`, guard the target,
//! apply/revert under an advisory lock with checksums, and verify the schema.
//!
//! Locking: every migration runs in its own transaction that first takes
//! `pg_advisory_xact_lock`, then re-reads `schema_migrations`. A concurrent
//! run waits on the lock and then finds the migration recorded, so nothing
//! is applied twice. Transaction-scoped locks also behave through a
//! transaction-mode pooler (a session lock would not).

mod files;
mod guard;
mod ledger;
mod verify;

pub use files::{Migration, checksum, load_dir};
pub use guard::{
    Expect, Op, ServerIdentity, Target, connect, connect_url, describe, guard, guard_connected,
    neon_endpoint, server_identity,
};
pub use ledger::{Applied, StatusLine, UpOutcome, down, status, up};
pub use verify::verify;

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

pub(crate) fn db_err(
    context: impl Into<String>,
) -> impl FnOnce(tokio_postgres::Error) -> MigrateError {
    let context = context.into();
    move |source| MigrateError::Db { context, source }
}

/// Flattens a tokio-postgres error into one line (server message included).
pub fn one_line(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => upload_core::db::error_chain(e),
    }
}
