//! Presigned PUT URLs: Content-Type always signed, Content-Length when the
//! size is declared, `x-amz-checksum-sha256` when a checksum is given, so S3
//! itself refuses a different type, size or body; `If-None-Match: *` when the
//! client opted into overwrite protection, so S3 refuses a second PUT of the
//! key (412). And the requests of a multipart upload of the same key.
//!
//! Signed with `aws-sigv4`, the SDK's own signer, set as the SDK's presigner
//! sets it for S3, on the URL the SDK would build: the bucket's base URL is
//! resolved once by the SDK (see [`endpoint`]), each key is appended as the
//! SDK encodes it. The unit tests compare every URL with the SDK's.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod endpoint;
mod query;
#[cfg(test)]
mod tests;

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::presigning::PresigningConfig;
use chrono::{DateTime, Utc};
use endpoint::Endpoint;
use tokio::sync::OnceCell;

#[derive(Debug, Clone)]
pub struct PresignedPut {
    /// The HTTP method the request must use.
    pub method: String,
    pub url: String,
    pub expires_at: DateTime<Utc>,
    /// Headers the client must send with the PUT (they are signed).
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PresignError {
    #[error("credentials unavailable: {0}")]
    Credentials(String),
    #[error("credentials expire too soon to sign a URL")]
    ExpiringCredentials,
    #[error("presigning failed: {0}")]
    Sign(String),
}

#[derive(Clone)]
pub struct Presigner {
    pub client: aws_sdk_s3::Client,
    pub bucket: String,
    pub ttl: Duration,
    /// Sign the URLs, and are read for their expiry: a URL signed with
    /// temporary credentials dies with them. `None`: nothing is signed.
    pub credentials: Option<SharedCredentialsProvider>,
    /// The bucket's base URL and signing scope, once resolved (shared by
    /// clones).
    endpoint: Arc<OnceCell<Endpoint>>,
}

/// What a PUT URL signs besides the bucket.
#[derive(Debug, Clone, Copy)]
pub struct PutRequest<'a> {
    pub key: &'a str,
    pub content_type: &'a str,
    pub content_length: Option<i64>,
    pub checksum_sha256: Option<&'a str>,
    /// Sign `If-None-Match: *`: S3 refuses (412) a PUT when the key exists.
    pub if_none_match: bool,
}

/// When a URL signed now is valid: from `start` (whole seconds) for `ttl`,
/// the URL TTL or less when the credentials expire sooner. Known before
/// signing, so the job row can record the expiry before the URL exists.
#[derive(Debug, Clone)]
pub struct UrlWindow {
    start: SystemTime,
    ttl: Duration,
    /// The credentials that sign the URL; their expiry bounds the window.
    credentials: Credentials,
}

impl UrlWindow {
    /// The honest expiry of a URL signed for this window.
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.start + self.ttl)
    }
}

/// How a signed header is named in `upload_headers`.
fn display_name(h: &str) -> String {
    match h {
        "content-type" => "Content-Type".into(),
        "content-length" => "Content-Length".into(),
        "if-none-match" => "If-None-Match".into(),
        other => other.to_owned(),
    }
}

impl Presigner {
    /// Signs URLs for `bucket` with `client`'s endpoint settings, valid
    /// `ttl`, with `credentials` (without them nothing can be signed). The bucket's
    /// URL is resolved at the first signature and kept: change neither
    /// `client` nor `bucket` after that.
    pub fn new(
        client: aws_sdk_s3::Client,
        bucket: String,
        ttl: Duration,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Self {
        Self {
            client,
            bucket,
            ttl,
            credentials,
            endpoint: Arc::default(),
        }
    }

    /// The window a URL signed now gets: the TTL from now, shortened to the
    /// credentials' expiry.
    pub async fn window(&self) -> Result<UrlWindow, PresignError> {
        // SigV4 dates have whole seconds; so does the honest expiry.
        let now_secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| PresignError::Sign(e.to_string()))?
            .as_secs();
        let start = UNIX_EPOCH + Duration::from_secs(now_secs);
        let mut ttl = self.ttl;
        let provider = self.credentials.as_ref().ok_or_else(|| {
            PresignError::Credentials("no credentials provider configured".into())
        })?;
        let creds = provider
            .provide_credentials()
            .await
            .map_err(|e| PresignError::Credentials(e.to_string()))?;
        if let Some(expiry) = creds.expiry() {
            let left = expiry.duration_since(start).unwrap_or(Duration::ZERO);
            ttl = ttl.min(Duration::from_secs(left.as_secs()));
        }
        if ttl < Duration::from_secs(1) {
            return Err(PresignError::ExpiringCredentials);
        }
        Ok(UrlWindow {
            start,
            ttl,
            credentials: creds,
        })
    }

    /// Signs `put` (PutObject) for `window`.
    pub async fn sign_put(
        &self,
        put: &PutRequest<'_>,
        window: &UrlWindow,
    ) -> Result<PresignedPut, PresignError> {
        let mut headers = Vec::with_capacity(4);
        headers.push(("content-type", put.content_type.to_owned()));
        if let Some(len) = put.content_length {
            headers.push(("content-length", len.to_string()));
        }
        if let Some(sum) = put.checksum_sha256 {
            headers.push(("x-amz-checksum-sha256", sum.to_owned()));
        }
        if put.if_none_match {
            headers.push(("if-none-match", "*".to_owned()));
        }
        let query = [("x-id", "PutObject")];
        self.sign("PUT", put.key, &query, headers, window).await
    }

    /// Signs one request of a multipart upload for `window`.
    pub async fn sign_multipart(
        &self,
        op: &MultipartRequest<'_>,
        window: &UrlWindow,
    ) -> Result<PresignedPut, PresignError> {
        let part;
        let (method, query, headers) = match *op {
            MultipartRequest::UploadPart {
                upload_id,
                part_number,
                ..
            } => {
                part = part_number.to_string();
                let query = vec![
                    ("x-id", "UploadPart"),
                    ("partNumber", part.as_str()),
                    ("uploadId", upload_id),
                ];
                ("PUT", query, Vec::new())
            }
            MultipartRequest::Create { content_type, .. } => (
                "POST",
                vec![("uploads", "")],
                vec![("content-type", content_type.to_owned())],
            ),
            MultipartRequest::ListParts { upload_id, .. } => {
                ("GET", vec![("uploadId", upload_id)], Vec::new())
            }
            MultipartRequest::Complete {
                upload_id,
                object_size,
                ..
            } => {
                let mut headers = vec![("if-none-match", "*".to_owned())];
                if let Some(size) = object_size {
                    headers.push(("x-amz-mp-object-size", size.to_string()));
                }
                ("POST", vec![("uploadId", upload_id)], headers)
            }
            MultipartRequest::Abort { upload_id, .. } => {
                ("DELETE", vec![("uploadId", upload_id)], Vec::new())
            }
        };
        self.sign(method, op.key(), &query, headers, window).await
    }

    /// Signs `method` on `key` with its sub-resource `query` and the
    /// `headers` the client will send.
    async fn sign(
        &self,
        method: &'static str,
        key: &str,
        query: &[(&str, &str)],
        headers: Vec<(&'static str, String)>,
        window: &UrlWindow,
    ) -> Result<PresignedPut, PresignError> {
        let endpoint = self.endpoint().await?;
        let mut url = endpoint.object_url(key)?;
        for (k, v) in query {
            endpoint::push_query(&mut url, k, v);
        }
        let scope = query::Scope {
            credentials: &window.credentials,
            region: &endpoint.region,
            service: &endpoint.service,
            start: window.start,
            ttl: window.ttl,
        };
        let url = query::presign(method, url, &headers, &scope)?;
        Ok(PresignedPut {
            method: method.to_owned(),
            url,
            expires_at: window.expires_at(),
            headers: headers
                .into_iter()
                .map(|(k, v)| (display_name(k), v))
                .collect(),
        })
    }

    /// The bucket's base URL and signing scope, from one GetObject the SDK
    /// presigns (its endpoint resolution), the first time a URL is signed.
    async fn endpoint(&self) -> Result<&Endpoint, PresignError> {
        self.endpoint
            .get_or_try_init(|| async {
                let cfg = PresigningConfig::expires_in(Duration::from_secs(60))
                    .map_err(|e| PresignError::Sign(e.to_string()))?;
                let probe = self
                    .client
                    .get_object()
                    .bucket(&self.bucket)
                    .key(endpoint::PROBE_KEY)
                    .presigned(cfg)
                    .await
                    .map_err(sign_error)?;
                Endpoint::from_probe(probe.uri())
            })
            .await
    }
}

/// One request of a multipart upload on a job's key.
#[derive(Debug, Clone, Copy)]
pub enum MultipartRequest<'a> {
    /// CreateMultipartUpload; Content-Type signed, so the object gets the
    /// job's type.
    Create { key: &'a str, content_type: &'a str },
    /// UploadPart `part_number` (1..=10000).
    UploadPart {
        key: &'a str,
        upload_id: &'a str,
        part_number: i32,
    },
    /// ListParts (resuming: which parts S3 already has).
    ListParts { key: &'a str, upload_id: &'a str },
    /// CompleteMultipartUpload with `If-None-Match: *` signed: S3 refuses
    /// (412) to complete over an object already at the key; with the
    /// declared size as `x-amz-mp-object-size`, S3 refuses (400) an object
    /// of another size.
    Complete {
        key: &'a str,
        upload_id: &'a str,
        object_size: Option<i64>,
    },
    /// AbortMultipartUpload.
    Abort { key: &'a str, upload_id: &'a str },
}

impl MultipartRequest<'_> {
    fn key(&self) -> &str {
        match *self {
            Self::Create { key, .. }
            | Self::UploadPart { key, .. }
            | Self::ListParts { key, .. }
            | Self::Complete { key, .. }
            | Self::Abort { key, .. } => key,
        }
    }
}

fn sign_error<E: std::error::Error + 'static>(e: aws_sdk_s3::error::SdkError<E>) -> PresignError {
    PresignError::Sign(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
}
