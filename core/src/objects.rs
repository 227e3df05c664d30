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

/// A multipart upload in progress (created, neither completed nor aborted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUpload {
    pub upload_id: String,
    /// When it was created, as S3 reports it; the bucket's abort-incomplete
    /// lifecycle counts from here.
    pub initiated: Option<chrono::DateTime<chrono::Utc>>,
}

pub type UploadsFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<MultipartUpload>, StoreError>> + Send + 'a>>;
pub type AbortFuture<'a> = Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send + 'a>>;

/// The multipart uploads in progress on a key (the reaper leaves a job
/// whose upload is still being sent in parts), and aborting one.
pub trait MultipartUploads: Send + Sync {
    /// The uploads in progress on exactly `key`.
    fn multipart_uploads<'a>(&'a self, key: &'a str) -> UploadsFuture<'a>;
    /// Aborts one; an upload that is already gone is not an error.
    fn abort_multipart<'a>(&'a self, key: &'a str, upload_id: &'a str) -> AbortFuture<'a>;
}

/// Everything the functions ask of object storage.
pub trait ObjectStore: ObjectHead + MultipartUploads {}
impl<T: ObjectHead + MultipartUploads> ObjectStore for T {}
