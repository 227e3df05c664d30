//! What the functions need from object storage, behind a small trait so
//! handlers can be tested with a real S3-compatible server or the test kit's
//! in-memory store.

use std::future::Future;
use std::pin::Pin;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: i64,
    /// As S3 returns it (quoted).
    pub etag: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("object storage error: {0}")]
pub struct StoreError(pub String);

pub type HeadFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Option<ObjectInfo>, StoreError>> + Send + 'a>>;

/// HEAD of one object: `Ok(None)` when it does not exist.
pub trait ObjectHead: Send + Sync {
    fn head<'a>(&'a self, key: &'a str) -> HeadFuture<'a>;
}
