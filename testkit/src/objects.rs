//! An in-memory object store for handler tests (the real S3 client is
//! exercised against an S3-compatible server).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use upload_core::objects::{HeadFuture, ObjectHead, ObjectInfo, StoreError};

/// Objects held in memory (tests of the handlers; the real S3 client is
/// exercised against an S3-compatible server).
#[derive(Default)]
pub struct MemoryObjects {
    /// key -> (size, ETag); every put makes a new ETag, as new bytes would.
    objects: Mutex<HashMap<String, (i64, String)>>,
    failing: Mutex<bool>,
    puts: AtomicU64,
}

impl MemoryObjects {
    pub fn put(&self, key: &str, size: i64) {
        let n = self.puts.fetch_add(1, Ordering::Relaxed) + 1;
        self.objects
            .lock()
            .expect("lock")
            .insert(key.to_owned(), (size, format!("\"memory-{n}\"")));
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
                .map(|(size, etag)| ObjectInfo {
                    size: *size,
                    etag: Some(etag.clone()),
                }))
        };
        Box::pin(async move { r })
    }
}
