//! ListParts and ListMultipartUploads, paginated as S3 does (at most 1,000
//! entries a page; `IsTruncated` and the next markers when more remain).

use s3s::S3Result;
use s3s::dto::{
    CommonPrefix, ETag, ListMultipartUploadsInput, ListMultipartUploadsOutput, ListPartsInput,
    ListPartsOutput, MultipartUpload, Part, StorageClass, Timestamp,
};

use super::objects::hex;
use super::uploads::{self, Upload, Uploads};

/// S3's default and largest page.
const MAX_PAGE: usize = 1000;

fn page_size(requested: Option<i32>, name: &str) -> S3Result<usize> {
    match requested {
        None => Ok(MAX_PAGE),
        Some(n) => usize::try_from(n).map(|n| n.min(MAX_PAGE)).map_err(|_| {
            s3s::s3_error!(
                InvalidArgument,
                "Argument {name} must be an integer between 0 and 2147483647"
            )
        }),
    }
}

pub fn list_parts(u: &Uploads, input: ListPartsInput) -> S3Result<ListPartsOutput> {
    let upload = u.load(&input.upload_id, &input.bucket, &input.key)?;
    let max = page_size(input.max_parts, "max-parts")?;
    let marker = input.part_number_marker.unwrap_or(0);
    let mut rest: Vec<_> = uploads::parts(&u.upload_dir(&upload.id)?)?
        .into_iter()
        .filter(|p| p.number > marker)
        .collect();
    let truncated = rest.len() > max;
    rest.truncate(max);
    let next = rest.last().map_or(marker, |p| p.number);
    let parts = rest
        .into_iter()
        .map(|p| Part {
            part_number: Some(p.number),
            e_tag: Some(ETag::Strong(hex(&p.md5))),
            size: i64::try_from(p.size).ok(),
            last_modified: Some(Timestamp::from(p.modified)),
            ..Default::default()
        })
        .collect();
    Ok(ListPartsOutput {
        bucket: Some(upload.bucket),
        key: Some(upload.key),
        upload_id: Some(upload.id),
        max_parts: i32::try_from(max).ok(),
        part_number_marker: Some(marker),
        next_part_number_marker: Some(next),
        is_truncated: Some(truncated),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        parts: Some(parts),
        ..Default::default()
    })
}

/// One entry of a ListMultipartUploads page.
enum Entry {
    Upload(Upload),
    Prefix(String),
}

/// Whether `u` comes after the markers: S3 lists uploads by key, then by
/// upload id; `upload-id-marker` counts only with `key-marker`.
fn after_markers(u: &Upload, key_marker: Option<&str>, id_marker: Option<&str>) -> bool {
    match (key_marker, id_marker) {
        (None, _) => true,
        (Some(k), None) => u.key.as_str() > k,
        (Some(k), Some(i)) => (u.key.as_str(), u.id.as_str()) > (k, i),
    }
}

pub fn list_uploads(
    u: &Uploads,
    input: ListMultipartUploadsInput,
) -> S3Result<ListMultipartUploadsOutput> {
    if !u.objects.join(&input.bucket).is_dir() {
        return Err(s3s::s3_error!(
            NoSuchBucket,
            "The specified bucket does not exist"
        ));
    }
    let max = page_size(input.max_uploads, "max-uploads")?;
    let prefix = input.prefix.clone().unwrap_or_default();
    let (key_marker, id_marker) = (
        input.key_marker.as_deref(),
        input.upload_id_marker.as_deref(),
    );
    let mut all: Vec<Upload> = u
        .all(&input.bucket)?
        .into_iter()
        .filter(|up| up.key.starts_with(&prefix) && after_markers(up, key_marker, id_marker))
        .collect();
    all.sort_by(|a, b| (&a.key, &a.id).cmp(&(&b.key, &b.id)));
    let delimiter = input.delimiter.as_deref().filter(|d| !d.is_empty());
    let mut entries: Vec<Entry> = Vec::new();
    let mut truncated = false;
    for up in all {
        let rolled = delimiter.and_then(|d| {
            let idx = up.key[prefix.len()..].find(d)?;
            Some(up.key[..prefix.len() + idx + d.len()].to_owned())
        });
        if let Some(cp) = &rolled {
            // Already listed on this page or an earlier one.
            let seen = matches!(entries.last(), Some(Entry::Prefix(p)) if p == cp);
            if seen || key_marker.is_some_and(|k| cp.as_str() <= k) {
                continue;
            }
        }
        if entries.len() == max {
            truncated = true;
            break;
        }
        entries.push(rolled.map_or(Entry::Upload(up), Entry::Prefix));
    }
    Ok(uploads_page(input, entries, truncated, max))
}

fn uploads_page(
    input: ListMultipartUploadsInput,
    entries: Vec<Entry>,
    truncated: bool,
    max: usize,
) -> ListMultipartUploadsOutput {
    let (next_key, next_id) = match entries.last() {
        Some(Entry::Upload(up)) => (Some(up.key.clone()), Some(up.id.clone())),
        Some(Entry::Prefix(p)) => (Some(p.clone()), None),
        None => (None, None),
    };
    let (mut list, mut prefixes) = (Vec::new(), Vec::new());
    for e in entries {
        match e {
            Entry::Upload(up) => list.push(MultipartUpload {
                initiated: up.initiated(),
                storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                key: Some(up.key),
                upload_id: Some(up.id),
                ..Default::default()
            }),
            Entry::Prefix(p) => prefixes.push(CommonPrefix { prefix: Some(p) }),
        }
    }
    ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        prefix: input.prefix,
        delimiter: input.delimiter,
        key_marker: input.key_marker,
        upload_id_marker: input.upload_id_marker,
        next_key_marker: next_key,
        next_upload_id_marker: next_id,
        max_uploads: i32::try_from(max).ok(),
        is_truncated: Some(truncated),
        uploads: Some(list),
        common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
        ..Default::default()
    }
}
