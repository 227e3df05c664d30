//! Everything the upload functions share: configuration, the Postgres pool
//! (TLS to Neon, pooler-safe statements), the domain types, the repository
//! (one SQL statement per operation) and the migration tool's library.

pub mod config;
pub mod db;
pub mod domain;
pub mod logging;
pub mod migrate;
pub mod objects;
pub mod pg_cluster;
pub mod repo;
#[cfg(feature = "s3")]
pub mod s3;

#[cfg(feature = "test-support")]
pub mod testing;

pub use config::{Config, ConfigError};
pub use db::{Db, DbError, DbSettings};
pub use domain::{FileKey, JobId, JobStatus, JobType, KeyError, SafeFileName, TenantId, UploadJob};
