//! Presigned PUT URLs: Content-Type always signed, Content-Length when the
//! size is declared, `x-amz-checksum-sha256` when a checksum is given, so S3
//! itself refuses a different type, size or body; `If-None-Match: *` when the
//! client opted into overwrite protection, so S3 refuses a second PUT of the
//! key (412). And the requests of a multipart upload of the same key.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

mod query;

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};
use chrono::{DateTime, Utc};

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
    /// Read for their expiry: a URL signed with temporary credentials dies
    /// with them.
    pub credentials: Option<SharedCredentialsProvider>,
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
    /// The credentials whose expiry bounds the window, when read.
    credentials: Option<Credentials>,
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
        let mut credentials = None;
        if let Some(provider) = &self.credentials {
            let creds = provider
                .provide_credentials()
                .await
                .map_err(|e| PresignError::Credentials(e.to_string()))?;
            if let Some(expiry) = creds.expiry() {
                let left = expiry.duration_since(start).unwrap_or(Duration::ZERO);
                ttl = ttl.min(Duration::from_secs(left.as_secs()));
            }
            credentials = Some(creds);
        }
        if ttl < Duration::from_secs(1) {
            return Err(PresignError::ExpiringCredentials);
        }
        Ok(UrlWindow {
            start,
            ttl,
            credentials,
        })
    }

    /// Signs `put` for `window`.
    pub async fn sign_put(
        &self,
        put: &PutRequest<'_>,
        window: &UrlWindow,
    ) -> Result<PresignedPut, PresignError> {
        let cfg = config(window)?;
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(put.key)
            .content_type(put.content_type);
        if let Some(len) = put.content_length {
            req = req.content_length(len);
        }
        if let Some(sum) = put.checksum_sha256 {
            req = req.checksum_sha256(sum);
        }
        if put.if_none_match {
            req = req.if_none_match("*");
        }
        let presigned = req.presigned(cfg).await.map_err(sign_error)?;
        Ok(finish(&presigned, window))
    }

    /// Signs one request of a multipart upload (or a fresh single PUT) for
    /// `window`.
    pub async fn sign_multipart(
        &self,
        op: &MultipartRequest<'_>,
        window: &UrlWindow,
    ) -> Result<PresignedPut, PresignError> {
        let (method, query, headers) = match *op {
            MultipartRequest::UploadPart {
                key,
                upload_id,
                part_number,
            } => return self.sign_part(key, upload_id, part_number, window).await,
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
        let mut url = self.object_url(op.key(), window).await?;
        url.query_pairs_mut().extend_pairs(query);
        let credentials = Self::signing_credentials(window)?;
        let req = query::Unsigned {
            method,
            url: url.into(),
            headers,
        };
        let signed = query::presign(
            &req,
            &credentials,
            &self.region()?,
            window.start,
            window.ttl,
        )?;
        Ok(PresignedPut {
            method: method.to_owned(),
            url: signed,
            expires_at: window.expires_at(),
            headers: req
                .headers
                .iter()
                .map(|(k, v)| (display_name(k), v.clone()))
                .collect(),
        })
    }

    /// UploadPart, which the SDK presigns itself.
    async fn sign_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: i32,
        window: &UrlWindow,
    ) -> Result<PresignedPut, PresignError> {
        let presigned = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .presigned(config(window)?)
            .await
            .map_err(sign_error)?;
        Ok(finish(&presigned, window))
    }

    /// The object's URL as the SDK addresses it (endpoint, path or virtual
    /// host style, the key's encoding), without a query: taken from a
    /// presigned GetObject, which sends nothing.
    async fn object_url(&self, key: &str, window: &UrlWindow) -> Result<url::Url, PresignError> {
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config(window)?)
            .await
            .map_err(sign_error)?;
        let mut url =
            url::Url::parse(presigned.uri()).map_err(|e| PresignError::Sign(e.to_string()))?;
        url.set_query(None);
        Ok(url)
    }

    /// The credentials read for the window.
    fn signing_credentials(window: &UrlWindow) -> Result<Credentials, PresignError> {
        window
            .credentials
            .clone()
            .ok_or_else(|| PresignError::Credentials("no credentials provider configured".into()))
    }

    fn region(&self) -> Result<String, PresignError> {
        self.client
            .config()
            .region()
            .map(|r| r.to_string())
            .ok_or_else(|| PresignError::Sign("no region configured".into()))
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

fn config(window: &UrlWindow) -> Result<PresigningConfig, PresignError> {
    PresigningConfig::builder()
        .start_time(window.start)
        .expires_in(window.ttl)
        .build()
        .map_err(|e| PresignError::Sign(e.to_string()))
}

fn sign_error<E: std::error::Error + 'static>(e: aws_sdk_s3::error::SdkError<E>) -> PresignError {
    PresignError::Sign(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
}

/// The URL, its method, honest expiry and the headers the client must send.
fn finish(presigned: &PresignedRequest, window: &UrlWindow) -> PresignedPut {
    let headers = presigned
        .headers()
        .map(|(k, v)| (display_name(&k.to_ascii_lowercase()), v.to_owned()))
        .collect();
    PresignedPut {
        method: presigned.method().to_owned(),
        url: presigned.uri().to_owned(),
        expires_at: window.expires_at(),
        headers,
    }
}
