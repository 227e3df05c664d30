//! An in-memory object store for handler tests (the real S3 client is
//! exercised against an S3-compatible server).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use upload_core::objects::{
    AbortFuture, HeadFuture, MultipartUpload, MultipartUploads, ObjectHead, ObjectInfo, StoreError,
    UploadsFuture,
};

/// Objects held in memory (tests of the handlers; the real S3 client is
/// exercised against an S3-compatible server).
#[derive(Default)]
pub struct MemoryObjects {
    /// key -> (size, ETag); every put makes a new ETag, as new bytes would.
    objects: Mutex<HashMap<String, (i64, String)>>,
    failing: Mutex<bool>,
    puts: AtomicU64,
    /// key -> multipart uploads in progress on it.
    uploads: Mutex<HashMap<String, Vec<MultipartUpload>>>,
    /// (key, upload id) of every abort asked for.
    aborted: Mutex<Vec<(String, String)>>,
    /// Makes ListMultipartUploads alone fail.
    listing_fails: Mutex<bool>,
}

impl MemoryObjects {
    pub fn put(&self, key: &str, size: i64) {
        let n = self.puts.fetch_add(1, Ordering::Relaxed) + 1;
        self.objects
            .lock()
            .expect("lock")
            .insert(key.to_owned(), (size, format!("\"memory-{n}\"")));
    }
    /// Starts a multipart upload on `key`, created at `initiated`; returns
    /// its id.
    pub fn start_multipart(&self, key: &str, initiated: chrono::DateTime<chrono::Utc>) -> String {
        let n = self.puts.fetch_add(1, Ordering::Relaxed) + 1;
        let upload_id = format!("memory-upload-{n}");
        self.uploads
            .lock()
            .expect("lock")
            .entry(key.to_owned())
            .or_default()
            .push(MultipartUpload {
                upload_id: upload_id.clone(),
                initiated: Some(initiated),
            });
        upload_id
    }
    /// The aborts asked for, as (key, upload id).
    pub fn aborted(&self) -> Vec<(String, String)> {
        self.aborted.lock().expect("lock").clone()
    }
    /// Makes ListMultipartUploads fail while HEAD still works (a role
    /// without s3:ListBucketMultipartUploads).
    pub fn set_listing_failing(&self, failing: bool) {
        *self.listing_fails.lock().expect("lock") = failing;
    }
    /// Makes every request fail (storage outage).
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

impl MultipartUploads for MemoryObjects {
    fn multipart_uploads<'a>(&'a self, key: &'a str) -> UploadsFuture<'a> {
        let r = if *self.failing.lock().expect("lock") || *self.listing_fails.lock().expect("lock")
        {
            Err(StoreError("storage unavailable".into()))
        } else {
            Ok(self
                .uploads
                .lock()
                .expect("lock")
                .get(key)
                .cloned()
                .unwrap_or_default())
        };
        Box::pin(async move { r })
    }

    fn abort_multipart<'a>(&'a self, key: &'a str, upload_id: &'a str) -> AbortFuture<'a> {
        let r = if *self.failing.lock().expect("lock") {
            Err(StoreError("storage unavailable".into()))
        } else {
            if let Some(list) = self.uploads.lock().expect("lock").get_mut(key) {
                list.retain(|u| u.upload_id != upload_id);
            }
            self.aborted
                .lock()
                .expect("lock")
                .push((key.to_owned(), upload_id.to_owned()));
            Ok(())
        };
        Box::pin(async move { r })
    }
}
