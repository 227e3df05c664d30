//! In-progress multipart uploads on disk, beside (not inside) s3s-fs's root:
//!
//! ```text
//! <data>/multipart/<upload id>/upload.json  bucket, key, initiated, object attributes
//! <data>/multipart/<upload id>/00001.part   the part's binary MD5 (16 bytes), then its bytes
//! <data>/multipart/.tmp/                    parts being received, uploads being created,
//!                                           completed or aborted (emptied at start)
//! ```
//!
//! Every change is a rename, so a reader sees an upload or a part whole or
//! not at all: a part is received under `.tmp` and renamed over its number
//! (a re-upload replaces it atomically); an upload is created as a directory
//! under `.tmp` and renamed in; completion and abort first rename the
//! directory away (claiming it: a second completion or abort, or a part
//! arriving late, find no upload) and a failed completion renames it back.
//! Upload ids are 32 hex digits whose first 16 are the creation time in
//! nanoseconds, so their lexicographic order (S3's `upload-id-marker`) is
//! also the order of initiation.

use std::io::{ErrorKind, Read as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http_body_util::BodyExt as _;
use s3s::crypto::{Checksum, Md5};
use s3s::dto::{StreamingBlob, Timestamp, TimestampFormat};
use s3s::{S3Error, S3ErrorCode, S3Result};
use serde_json::{Value, json};
use tokio::io::{AsyncSeekExt as _, AsyncWriteExt as _};

use super::objects::hex;

/// The multipart uploads of one server.
pub struct Uploads {
    dir: PathBuf,
    tmp: PathBuf,
    /// s3s-fs's root: objects and their sidecars.
    pub objects: PathBuf,
    counter: AtomicU64,
}

/// An in-progress upload (its `upload.json`).
pub struct Upload {
    pub id: String,
    pub bucket: String,
    pub key: String,
    /// RFC 3339, UTC, milliseconds (S3's `Initiated`).
    pub initiated: String,
    /// s3s-fs's object attributes (Content-Type...) for the object.
    pub attrs: Value,
}

impl Upload {
    pub fn initiated(&self) -> Option<Timestamp> {
        Timestamp::parse(TimestampFormat::DateTime, &self.initiated).ok()
    }
}

/// One stored part.
pub struct Part {
    pub number: i32,
    pub md5: [u8; 16],
    pub size: u64,
    pub modified: SystemTime,
    pub path: PathBuf,
}

/// Bytes before a part's body in its file (its MD5).
pub const PART_HEADER: u64 = 16;

pub fn no_such_upload() -> S3Error {
    s3s::s3_error!(
        NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )
}

pub fn internal(e: std::io::Error) -> S3Error {
    S3Error::internal_error(e)
}

impl Uploads {
    /// The uploads under `<data_dir>/multipart`, for objects under `objects`.
    pub fn open(data_dir: &Path, objects: PathBuf) -> std::io::Result<Self> {
        let dir = data_dir.join("multipart");
        let tmp = dir.join(".tmp");
        if let Err(e) = std::fs::remove_dir_all(&tmp)
            && e.kind() != ErrorKind::NotFound
        {
            return Err(e);
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(Self {
            dir,
            tmp,
            objects,
            counter: AtomicU64::new(0),
        })
    }

    /// A path under `.tmp` no other request uses.
    pub fn tmp_path(&self, what: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.tmp.join(format!("{what}-{}-{n}", std::process::id()))
    }

    fn new_id(&self) -> String {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let salt = Md5::checksum(format!("{}/{n}/{nanos}", std::process::id()).as_bytes());
        format!("{nanos:016x}{}", &hex(&salt)[..16])
    }

    /// The directory of upload `id`; an id this server cannot have issued is
    /// no upload.
    pub fn upload_dir(&self, id: &str) -> S3Result<PathBuf> {
        let ours = id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if ours {
            Ok(self.dir.join(id))
        } else {
            Err(no_such_upload())
        }
    }

    /// Records a new upload of `bucket`/`key`.
    pub fn create(&self, bucket: &str, key: &str, attrs: Value) -> S3Result<Upload> {
        let upload = Upload {
            id: self.new_id(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            initiated: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            attrs,
        };
        let staged = self.tmp_path("create");
        let doc = json!({"bucket": upload.bucket, "key": upload.key,
            "initiated": upload.initiated, "attrs": upload.attrs});
        std::fs::create_dir(&staged)
            .and_then(|()| std::fs::write(staged.join("upload.json"), doc.to_string()))
            .and_then(|()| std::fs::rename(&staged, self.dir.join(&upload.id)))
            .map_err(internal)?;
        Ok(upload)
    }

    /// Upload `id`, if it is in progress and was created for `bucket`/`key`
    /// (S3 answers NoSuchUpload to an id used with another key).
    pub fn load(&self, id: &str, bucket: &str, key: &str) -> S3Result<Upload> {
        match read_upload(&self.upload_dir(id)?) {
            Some(u) if u.bucket == bucket && u.key == key => Ok(u),
            _ => Err(no_such_upload()),
        }
    }

    /// Every upload in progress in `bucket`, in no particular order.
    pub fn all(&self, bucket: &str) -> S3Result<Vec<Upload>> {
        let entries = std::fs::read_dir(&self.dir).map_err(internal)?;
        Ok(entries
            .filter_map(Result::ok)
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .filter_map(|e| read_upload(&e.path()))
            .filter(|u| u.bucket == bucket)
            .collect())
    }

    /// Receives part `number` of `upload` and puts it in place (replacing a
    /// part of that number); answers its MD5. A Content-MD5 that does not
    /// match the body is BadDigest and stores nothing.
    pub async fn write_part(
        &self,
        upload: &Upload,
        number: i32,
        body: StreamingBlob,
        content_md5: Option<&str>,
    ) -> S3Result<[u8; 16]> {
        let dest = self.upload_dir(&upload.id)?.join(part_name(number));
        let staged = self.tmp_path("part");
        let result = async {
            let md5 = receive(&staged, body).await?;
            check_content_md5(content_md5, &md5)?;
            match tokio::fs::rename(&staged, &dest).await {
                Ok(()) => Ok(md5),
                // Completed or aborted meanwhile.
                Err(e) if e.kind() == ErrorKind::NotFound => Err(no_such_upload()),
                Err(e) => Err(internal(e)),
            }
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&staged).await;
        }
        result
    }

    /// Takes upload `id` out of view (for completion or abort): afterwards
    /// it is NoSuchUpload to everyone else. Answers where it now is.
    pub fn claim(&self, id: &str) -> S3Result<PathBuf> {
        let claimed = self.tmp_path("claimed");
        match std::fs::rename(self.upload_dir(id)?, &claimed) {
            Ok(()) => Ok(claimed),
            Err(e) if e.kind() == ErrorKind::NotFound => Err(no_such_upload()),
            Err(e) => Err(internal(e)),
        }
    }

    /// Puts a claimed upload back (its completion failed).
    pub fn unclaim(&self, claimed: &Path, id: &str) {
        if let Err(e) = std::fs::rename(claimed, self.dir.join(id)) {
            tracing::error!(error = %e, upload_id = id, "could not restore a multipart upload");
        }
    }

    /// Deletes a claimed upload and its parts.
    pub fn discard(claimed: &Path) {
        if let Err(e) = std::fs::remove_dir_all(claimed) {
            tracing::warn!(error = %e, "could not delete a finished multipart upload");
        }
    }
}

fn part_name(number: i32) -> String {
    format!("{number:05}.part")
}

fn read_upload(dir: &Path) -> Option<Upload> {
    let doc: Value = serde_json::from_slice(&std::fs::read(dir.join("upload.json")).ok()?).ok()?;
    Some(Upload {
        id: dir.file_name()?.to_str()?.to_owned(),
        bucket: doc["bucket"].as_str()?.to_owned(),
        key: doc["key"].as_str()?.to_owned(),
        initiated: doc["initiated"].as_str()?.to_owned(),
        attrs: doc["attrs"].clone(),
    })
}

/// Part `number` in upload directory `dir`, if stored.
pub fn part(dir: &Path, number: i32) -> Option<Part> {
    let path = dir.join(part_name(number));
    let mut file = std::fs::File::open(&path).ok()?;
    let meta = file.metadata().ok()?;
    let mut md5 = [0u8; 16];
    file.read_exact(&mut md5).ok()?;
    Some(Part {
        number,
        md5,
        size: meta.len().checked_sub(PART_HEADER)?,
        modified: meta.modified().ok()?,
        path,
    })
}

/// The parts stored in upload directory `dir`, by ascending number.
pub fn parts(dir: &Path) -> S3Result<Vec<Part>> {
    let entries = std::fs::read_dir(dir).map_err(|_| no_such_upload())?;
    let mut parts: Vec<Part> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name();
            let number = name.to_str()?.strip_suffix(".part")?.parse().ok()?;
            part(dir, number)
        })
        .collect();
    parts.sort_by_key(|p| p.number);
    Ok(parts)
}

/// Writes `body` to `path` after room for its MD5, then the MD5. (tokio's
/// `fs` feature comes with s3s-fs, which needs it.)
async fn receive(path: &Path, body: StreamingBlob) -> S3Result<[u8; 16]> {
    let file = tokio::fs::File::create(path).await.map_err(internal)?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
    out.write_all(&[0; 16]).await.map_err(internal)?;
    let mut md5 = Md5::new();
    let mut body = s3s::Body::from(body);
    while let Some(frame) = body.frame().await {
        // s3s's checks of the body (x-amz-content-sha256, aws-chunked
        // signatures) fail here; s3s-fs answers them with this error too.
        let frame = frame.map_err(|e| match e.downcast::<S3Error>() {
            Ok(e) => *e,
            Err(e) => S3Error::with_message(S3ErrorCode::InternalError, e.to_string()),
        })?;
        if let Ok(data) = frame.into_data() {
            md5.update(&data);
            out.write_all(&data).await.map_err(internal)?;
        }
    }
    out.flush().await.map_err(internal)?;
    let mut file = out.into_inner();
    let digest = md5.finalize();
    file.seek(SeekFrom::Start(0)).await.map_err(internal)?;
    file.write_all(&digest).await.map_err(internal)?;
    file.flush().await.map_err(internal)?;
    Ok(digest)
}

fn check_content_md5(content_md5: Option<&str>, md5: &[u8; 16]) -> S3Result<()> {
    let Some(expected) = content_md5 else {
        return Ok(());
    };
    let expected = base64::engine::general_purpose::STANDARD
        .decode(expected.trim())
        .map_err(|_| s3s::s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid."))?;
    if expected == md5 {
        Ok(())
    } else {
        Err(s3s::s3_error!(
            BadDigest,
            "The Content-MD5 you specified did not match what we received."
        ))
    }
}
