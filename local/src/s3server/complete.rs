//! CompleteMultipartUpload with S3's checks, in S3's order: the part list
//! (MalformedXML, InvalidPartOrder), the preconditions (`If-None-Match: *`,
//! `If-Match`), each listed part against what is stored (InvalidPart), the
//! size of all but the last (EntityTooSmall). A failure leaves the upload as
//! it was; success writes the concatenation of the listed parts where s3s-fs
//! serves it, with S3's multipart ETag, and deletes the upload.

use std::io::{Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};

use s3s::S3Result;
use s3s::crypto::{Checksum, Md5};
use s3s::dto::{CompleteMultipartUploadInput, CompletedMultipartUpload, ETag, ETagCondition};

use super::objects::{self, hex};
use super::uploads::{self, PART_HEADER, Part, Upload, Uploads, internal};

/// The least size of every part but the last.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// A completed upload: the object's ETag (unquoted) and size.
pub struct Completed {
    pub etag: String,
    pub size: u64,
}

pub async fn complete(u: &Uploads, input: CompleteMultipartUploadInput) -> S3Result<Completed> {
    let upload = u.load(&input.upload_id, &input.bucket, &input.key)?;
    let listed = listed_parts(input.multipart_upload)?;
    let dest = objects::object_path(&u.objects, &upload.bucket, &upload.key)?;
    let (if_match, if_none_match) = (input.if_match.as_ref(), input.if_none_match.as_ref());
    let exclusive = check_preconditions(u, &upload, &dest, if_match, if_none_match)?;
    let claimed = u.claim(&upload.id)?;
    let expected = input.mpu_object_size;
    match assemble(u, &upload, &claimed, &listed, &dest, exclusive, expected).await {
        Ok(done) => {
            Uploads::discard(&claimed);
            Ok(done)
        }
        Err(e) => {
            u.unclaim(&claimed, &upload.id);
            Err(e)
        }
    }
}

/// The (part number, ETag) pairs of the request, which S3 wants non-empty
/// and strictly ascending.
fn listed_parts(body: Option<CompletedMultipartUpload>) -> S3Result<Vec<(i32, String)>> {
    let parts = body.and_then(|b| b.parts).unwrap_or_default();
    if parts.is_empty() {
        return Err(s3s::s3_error!(
            MalformedXML,
            "The XML you provided was not well-formed or did not validate against our published schema"
        ));
    }
    let mut listed = Vec::with_capacity(parts.len());
    for p in parts {
        let number = p
            .part_number
            .ok_or_else(|| s3s::s3_error!(MalformedXML, "Every part must have a PartNumber"))?;
        if listed.last().is_some_and(|(last, _)| number <= *last) {
            return Err(s3s::s3_error!(
                InvalidPartOrder,
                "The list of parts was not in ascending order. The parts list must be specified in order by part number."
            ));
        }
        listed.push((number, p.e_tag.map(ETag::into_value).unwrap_or_default()));
    }
    Ok(listed)
}

/// S3 compares part ETags without their quotes and case.
fn same_etag(listed: &str, md5: &[u8; 16]) -> bool {
    listed
        .trim()
        .trim_matches('"')
        .eq_ignore_ascii_case(&hex(md5))
}

/// 412 (nothing written) when `If-None-Match: *` and the key exists (the
/// check s3s-fs makes for PUT), or `If-Match` names another ETag; 404
/// NoSuchKey when `If-Match` and no object. Answers whether the write must
/// not replace an object (checked again, atomically, when it is put in
/// place).
fn check_preconditions(
    u: &Uploads,
    upload: &Upload,
    dest: &Path,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
) -> S3Result<bool> {
    let exclusive = match if_none_match {
        None => false,
        Some(c) if c.is_any() => true,
        Some(_) => {
            return Err(s3s::s3_error!(
                NotImplemented,
                "A header you provided implies functionality that is not implemented"
            ));
        }
    };
    if exclusive && dest.exists() {
        return Err(precondition_failed());
    }
    if let Some(cond) = if_match {
        let Some(etag) = objects::current_etag(&u.objects, &upload.bucket, &upload.key) else {
            return Err(s3s::s3_error!(
                NoSuchKey,
                "The specified key does not exist."
            ));
        };
        if cond
            .as_etag()
            .is_some_and(|want| !ETag::Strong(etag).strong_cmp(want))
        {
            return Err(precondition_failed());
        }
    }
    Ok(exclusive)
}

fn precondition_failed() -> s3s::S3Error {
    s3s::s3_error!(
        PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold"
    )
}

/// The listed parts as stored in the claimed upload `dir`, checked.
fn checked_parts(dir: &Path, listed: &[(i32, String)]) -> S3Result<Vec<Part>> {
    let mut parts = Vec::with_capacity(listed.len());
    for (number, etag) in listed {
        match uploads::part(dir, *number) {
            Some(p) if same_etag(etag, &p.md5) => parts.push(p),
            _ => {
                return Err(s3s::s3_error!(
                    InvalidPart,
                    "One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
                ));
            }
        }
    }
    if let Some(small) = parts[..parts.len() - 1]
        .iter()
        .find(|p| p.size < MIN_PART_SIZE)
    {
        return Err(s3s::s3_error!(
            EntityTooSmall,
            "Your proposed upload is smaller than the minimum allowed size (part {} is {} bytes; every part but the last must be at least {MIN_PART_SIZE})",
            small.number,
            small.size
        ));
    }
    Ok(parts)
}

/// S3's multipart ETag: the MD5 of the parts' binary MD5s, `-` their count.
pub fn multipart_etag(md5s: &[[u8; 16]]) -> String {
    let mut md5 = Md5::new();
    for m in md5s {
        md5.update(m);
    }
    format!("{}-{}", hex(&md5.finalize()), md5s.len())
}

/// Checks the listed parts, writes their concatenation and puts it in
/// place with its sidecars. When it may replace an object, the sidecars go
/// first: a GET pinned to the old object's ETag (`If-Match`) never gets the
/// new bytes. When it must not, the object goes first (a sidecar must not
/// describe another request's object).
async fn assemble(
    u: &Uploads,
    upload: &Upload,
    claimed: &Path,
    listed: &[(i32, String)],
    dest: &Path,
    exclusive: bool,
    expected_size: Option<i64>,
) -> S3Result<Completed> {
    let parts = checked_parts(claimed, listed)?;
    // x-amz-mp-object-size: S3 refuses an object of another total size.
    let total: u64 = parts.iter().map(|p| p.size).sum();
    if let Some(want) = expected_size.filter(|w| u64::try_from(*w).ok() != Some(total)) {
        return Err(s3s::s3_error!(
            InvalidRequest,
            "The provided 'x-amz-mp-object-size' header value {want} does not match what was computed: {total}"
        ));
    }
    let etag = multipart_etag(&parts.iter().map(|p| p.md5).collect::<Vec<_>>());
    let staged = u.tmp_path("object");
    let paths: Vec<PathBuf> = parts.iter().map(|p| p.path.clone()).collect();
    let from = staged.clone();
    let size = tokio::task::spawn_blocking(move || concatenate(&paths, &from))
        .await
        .map_err(|e| internal(std::io::Error::other(e)))
        .and_then(|r| r.map_err(internal));
    let sidecars = || {
        let tmp = u.tmp_path("sidecar");
        let (bucket, key) = (&upload.bucket, &upload.key);
        objects::write_sidecars(&u.objects, &tmp, bucket, key, &upload.attrs, &etag)
    };
    let placed = size.and_then(|size| {
        if !exclusive {
            sidecars().map_err(internal)?;
        }
        match put_in_place(&staged, dest, exclusive).map_err(internal)? {
            // Created by another request since the check.
            false => Err(precondition_failed()),
            true if exclusive => sidecars().map_err(internal).map(|()| size),
            true => Ok(size),
        }
    });
    let _ = std::fs::remove_file(&staged);
    placed.map(|size| Completed { etag, size })
}

/// Writes the parts' bodies one after the other to `to`; answers the size.
fn concatenate(parts: &[PathBuf], to: &Path) -> std::io::Result<u64> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(to)?);
    let mut size = 0;
    for path in parts {
        let mut part = std::fs::File::open(path)?;
        part.seek(SeekFrom::Start(PART_HEADER))?;
        size += std::io::copy(&mut part, &mut out)?;
    }
    out.flush()?;
    Ok(size)
}

/// Moves `from` to `to`; when `exclusive`, only if nothing is at `to`
/// (a hard link fails atomically when the name exists). Answers whether it
/// was put in place.
fn put_in_place(from: &Path, to: &Path, exclusive: bool) -> std::io::Result<bool> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if !exclusive {
        std::fs::rename(from, to)?;
        return Ok(true);
    }
    match std::fs::hard_link(from, to) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}
