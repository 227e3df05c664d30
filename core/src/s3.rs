//! The S3 client, built once at init from [`Config`].

use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};

use crate::config::Config;
use crate::objects::{
    AbortFuture, HeadFuture, MultipartUpload, MultipartUploads, ObjectHead, ObjectInfo, StoreError,
    UploadsFuture,
};

/// Loads AWS settings (credentials from the environment, as Lambda provides
/// them) and builds the S3 client. With `S3_ENDPOINT_URL` the client talks
/// path-style to that endpoint.
///
/// Checksums are only computed when an operation requires them: otherwise the
/// SDK would sign a CRC32 of the empty body into presigned PUT URLs, and every
/// browser upload would fail its checksum.
pub fn client(config: &Config) -> aws_sdk_s3::Client {
    client_from_sdk_config(config, &sdk_config(config))
}

pub use crate::aws::sdk_config;

/// As [`client`], from an already loaded SDK config (tests pass static
/// credentials).
pub fn client_from_sdk_config(
    config: &Config,
    shared: &aws_types::SdkConfig,
) -> aws_sdk_s3::Client {
    let mut b = aws_sdk_s3::config::Builder::from(shared)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(endpoint) = &config.s3_endpoint_url {
        b = b.endpoint_url(endpoint).force_path_style(true);
    }
    aws_sdk_s3::Client::from_conf(b.build())
}

/// HEAD against the upload bucket.
#[derive(Clone)]
pub struct S3Objects {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
}

impl ObjectHead for S3Objects {
    fn head<'a>(&'a self, key: &'a str) -> HeadFuture<'a> {
        Box::pin(async move {
            match self
                .client
                .head_object()
                .bucket(&self.bucket)
                .key(key)
                .send()
                .await
            {
                Ok(out) => Ok(Some(ObjectInfo {
                    size: out.content_length().unwrap_or(0),
                    etag: out.e_tag().map(str::to_owned),
                })),
                Err(e) => {
                    let not_found = e.as_service_error().is_some_and(|se| se.is_not_found())
                        || e.raw_response().is_some_and(|r| r.status().as_u16() == 404);
                    let forbidden = e.raw_response().is_some_and(|r| r.status().as_u16() == 403);
                    if not_found {
                        Ok(None)
                    } else if forbidden {
                        Err(StoreError(
                            "HEAD answered 403 Forbidden: the role may lack s3:ListBucket on the \
                             bucket (without it S3 answers 403 for a missing key) or \
                             s3:GetObject on the key"
                                .to_owned(),
                        ))
                    } else {
                        Err(StoreError(format!(
                            "HEAD failed: {}",
                            aws_sdk_s3::error::DisplayErrorContext(&e)
                        )))
                    }
                }
            }
        })
    }
}

/// Pages of ListMultipartUploads the reaper follows for one key (1,000
/// uploads each); a key has one job's uploads, so one page is the norm.
const MAX_UPLOAD_PAGES: usize = 10;

impl MultipartUploads for S3Objects {
    fn multipart_uploads<'a>(&'a self, key: &'a str) -> UploadsFuture<'a> {
        Box::pin(async move {
            let mut uploads = Vec::new();
            let (mut key_marker, mut id_marker) = (None::<String>, None::<String>);
            for _ in 0..MAX_UPLOAD_PAGES {
                let out = self
                    .client
                    .list_multipart_uploads()
                    .bucket(&self.bucket)
                    .prefix(key)
                    .set_key_marker(key_marker.take())
                    .set_upload_id_marker(id_marker.take())
                    .send()
                    .await
                    .map_err(|e| {
                        StoreError(format!(
                            "ListMultipartUploads failed (the role needs s3:ListBucketMultipartUploads on the bucket): {}",
                            aws_sdk_s3::error::DisplayErrorContext(&e)
                        ))
                    })?;
                // The prefix also matches longer keys: keep this key's own.
                uploads.extend(
                    out.uploads()
                        .iter()
                        .filter(|u| u.key() == Some(key))
                        .filter_map(|u| {
                            Some(MultipartUpload {
                                upload_id: u.upload_id()?.to_owned(),
                                initiated: u.initiated().and_then(|t| {
                                    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
                                }),
                            })
                        }),
                );
                if out.is_truncated() != Some(true) {
                    return Ok(uploads);
                }
                key_marker = out.next_key_marker().map(str::to_owned);
                id_marker = out.next_upload_id_marker().map(str::to_owned);
            }
            // A partial list could hide the live upload: not an answer.
            Err(StoreError(format!(
                "ListMultipartUploads still truncated after {MAX_UPLOAD_PAGES} pages on one key"
            )))
        })
    }

    fn abort_multipart<'a>(&'a self, key: &'a str, upload_id: &'a str) -> AbortFuture<'a> {
        Box::pin(async move {
            match self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(()),
                Err(e) => Err(StoreError(format!(
                    "AbortMultipartUpload failed: {}",
                    aws_sdk_s3::error::DisplayErrorContext(&e)
                ))),
            }
        })
    }
}

/// Why the worker could not read a handed-off object.
#[derive(Debug, thiserror::Error)]
pub enum PinnedReadError {
    /// The key now holds another object than the one handed off (412 to
    /// `If-Match`, or another size when the hand-off has no ETag): the
    /// job's upload was replaced; do not process it.
    #[error("the object under {key} is no longer the one handed off")]
    Replaced { key: String },
    /// No object under the key (deleted since the hand-off). Without
    /// `s3:ListBucket` S3 answers 403 instead: that is [`Self::Other`].
    #[error("no object under {key}")]
    Missing { key: String },
    #[error("reading {key} failed: {message}")]
    Other { key: String, message: String },
}

/// GETs the object a hand-off names, pinned to its ETag (`If-Match`), so the
/// bytes read are exactly the ones the job advanced with. A hand-off without
/// an ETag is read unpinned and checked against its size.
pub async fn read_handed_off(
    client: &aws_sdk_s3::Client,
    event: &crate::handoff::UploadReceived,
) -> Result<aws_sdk_s3::operation::get_object::GetObjectOutput, PinnedReadError> {
    let key = event.file_key.clone();
    let get = client
        .get_object()
        .bucket(&event.bucket)
        .key(&event.file_key);
    let get = match event.etag.as_deref() {
        Some(etag) => get.if_match(format!("\"{etag}\"")),
        None => get,
    };
    match get.send().await {
        Ok(out)
            if event.etag.is_none()
                && event.size.is_some_and(|s| out.content_length() != Some(s)) =>
        {
            Err(PinnedReadError::Replaced { key })
        }
        Ok(out) => Ok(out),
        Err(e) => Err(match e.raw_response().map(|r| r.status().as_u16()) {
            Some(412) => PinnedReadError::Replaced { key },
            Some(404) => PinnedReadError::Missing { key },
            _ => PinnedReadError::Other {
                key,
                message: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            },
        }),
    }
}
