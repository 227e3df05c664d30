//! Presigned PUT URLs: Content-Type always signed, Content-Length when the
//! size is declared, `x-amz-checksum-sha256` when a checksum is given, so S3
//! itself refuses a different type, size or body; `If-None-Match: *` when the
//! client opted into overwrite protection, so S3 refuses a second PUT of the
//! key (412).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_s3::presigning::PresigningConfig;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct PresignedPut {
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
#[derive(Debug, Clone, Copy)]
pub struct UrlWindow {
    start: SystemTime,
    ttl: Duration,
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
        if let Some(provider) = &self.credentials {
            let creds = provider
                .provide_credentials()
                .await
                .map_err(|e| PresignError::Credentials(e.to_string()))?;
            if let Some(expiry) = creds.expiry() {
                let left = expiry.duration_since(start).unwrap_or(Duration::ZERO);
                ttl = ttl.min(Duration::from_secs(left.as_secs()));
            }
        }
        if ttl < Duration::from_secs(1) {
            return Err(PresignError::ExpiringCredentials);
        }
        Ok(UrlWindow { start, ttl })
    }

    /// Signs `put` for `window`.
    pub async fn sign_put(
        &self,
        put: &PutRequest<'_>,
        window: &UrlWindow,
    ) -> Result<PresignedPut, PresignError> {
        let cfg = PresigningConfig::builder()
            .start_time(window.start)
            .expires_in(window.ttl)
            .build()
            .map_err(|e| PresignError::Sign(e.to_string()))?;
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
        let presigned = req.presigned(cfg).await.map_err(|e| {
            PresignError::Sign(aws_sdk_s3::error::DisplayErrorContext(&e).to_string())
        })?;
        let headers = presigned
            .headers()
            .map(|(k, v)| (display_name(&k.to_ascii_lowercase()), v.to_owned()))
            .collect();
        Ok(PresignedPut {
            url: presigned.uri().to_owned(),
            expires_at: window.expires_at(),
            headers,
        })
    }
}
