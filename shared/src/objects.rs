//! What the functions need from object storage, behind a small trait so
//! handlers can be tested with a real S3-compatible server or an in-memory
//! store of real objects.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub size: i64,
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

/// Objects held in memory (tests of the handlers; the real S3 client is
/// exercised against an S3-compatible server).
#[derive(Default)]
pub struct MemoryObjects {
    objects: Mutex<HashMap<String, i64>>,
    failing: Mutex<bool>,
}

impl MemoryObjects {
    pub fn put(&self, key: &str, size: i64) {
        self.objects
            .lock()
            .expect("lock")
            .insert(key.to_owned(), size);
    }
    /// Makes every HEAD fail (storage outage).
    pub fn set_failing(&self, failing: bool) {
        *self.failing.lock().expect("lock") = failing;
    }
}

impl ObjectHead for MemoryObjects {
    fn head<'a>(&'a self, key: &'a str) -> HeadFuture<'a> {
        let r = if *self.failing.lock().expect("lock") {
            Err(StoreError("storage unavailable".into()))
        } else {
            Ok(self
                .objects
                .lock()
                .expect("lock")
                .get(key)
                .map(|&size| ObjectInfo { size }))
        };
        Box::pin(async move { r })
    }
}
