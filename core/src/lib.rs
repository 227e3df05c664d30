//! What the upload Lambdas link: configuration, the Postgres pool (TLS to
//! Neon, pooler-safe statements), the domain types, the repository (one SQL
//! statement per operation) and object storage (a trait and its S3 client).
//!
//! The migration tool (`upload-migrate`) and the test kit (`upload-testkit`)
//! are crates of their own: a Lambda links exactly what it runs.

#[cfg(feature = "s3")]
pub mod aws;
pub mod config;
pub mod db;
pub mod domain;
pub mod handoff;
pub mod logging;
pub mod metrics;
pub mod objects;
pub mod repo;
#[cfg(feature = "s3")]
pub mod s3;
pub mod schema;

pub use config::{Config, ConfigError};
pub use db::{Db, DbError, DbSettings};
pub use domain::{FileKey, JobId, JobStatus, JobType, KeyError, SafeFileName, TenantId, UploadJob};
