//! Where s3s-fs keeps an object and what it knows about it, so that an
//! object assembled by a multipart completion is served by s3s-fs's HEAD and
//! GET with its multipart ETag, size and Content-Type:
//! `<root>/<bucket>/<key>` holds the bytes, and two sidecars in `<root>`,
//! `.bucket-<b64>.object-<b64>.metadata.json` (Content-Type and the other
//! object attributes) and `.bucket-<b64>.object-<b64>.internal.json` (the
//! ETag), each name carrying bucket and key in URL-safe base64 without
//! padding (s3s-fs 0.14.1, `fs.rs`).

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use s3s::S3Result;
use s3s::crypto::{Checksum, Md5};
use serde_json::{Value, json};

/// Lowercase hex, as S3 writes MD5s in ETags.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The file s3s-fs reads for `key` (the same join it does). Keys it could
/// not store as a plain file (`..`, `.`, a leading or trailing `/`) are
/// refused rather than written somewhere s3s-fs would not look.
pub fn object_path(root: &Path, bucket: &str, key: &str) -> S3Result<PathBuf> {
    let plain = !key.is_empty()
        && !key.ends_with('/')
        && Path::new(key)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !plain {
        return Err(s3s::s3_error!(
            InvalidArgument,
            "this local server stores objects as files and cannot store the key {key:?}"
        ));
    }
    Ok(root.join(bucket).join(key))
}

fn sidecar(root: &Path, bucket: &str, key: &str, suffix: &str) -> PathBuf {
    root.join(format!(
        ".bucket-{}.object-{}.{suffix}",
        URL_SAFE_NO_PAD.encode(bucket),
        URL_SAFE_NO_PAD.encode(key)
    ))
}

/// The object's ETag as s3s-fs reports it: the recorded one, else the MD5
/// of the bytes. `None` when there is no object.
pub fn current_etag(root: &Path, bucket: &str, key: &str) -> Option<String> {
    let path = object_path(root, bucket, key).ok()?;
    if !path.is_file() {
        return None;
    }
    let recorded = std::fs::read(sidecar(root, bucket, key, "internal.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["e_tag"].as_str().map(str::to_owned));
    recorded.or_else(|| {
        let mut file = std::fs::File::open(&path).ok()?;
        let mut md5 = Md5::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf).ok()?;
            if n == 0 {
                return Some(hex(&md5.finalize()));
            }
            md5.update(&buf[..n]);
        }
    })
}

/// Records `attrs` (s3s-fs's object attributes JSON) and `etag` for a new
/// object under `key`, replacing what a previous object there left. Each
/// sidecar is written next to `tmp` (a unique path on the same file system)
/// and renamed into place.
pub fn write_sidecars(
    root: &Path,
    tmp: &Path,
    bucket: &str,
    key: &str,
    attrs: &Value,
    etag: &str,
) -> std::io::Result<()> {
    let files = [
        ("metadata.json", attrs.clone()),
        ("internal.json", json!({ "e_tag": etag })),
    ];
    for (suffix, content) in files {
        let mut staged = tmp.as_os_str().to_owned();
        staged.push(format!(".{suffix}"));
        std::fs::write(&staged, serde_json::to_vec(&content)?)?;
        std::fs::rename(&staged, sidecar(root, bucket, key, suffix))?;
    }
    Ok(())
}
