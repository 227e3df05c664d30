//! Query-string SigV4 for the S3 requests the SDK cannot presign
//! (CreateMultipartUpload, ListParts, CompleteMultipartUpload,
//! AbortMultipartUpload), with `aws-sigv4`, the SDK's own signer, set as the
//! SDK sets it for S3: single percent-encoding, no path normalisation, an
//! unsigned payload, the session token signed in.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;

use super::PresignError;

/// An S3 request to sign: its method, URL (with its sub-resource query,
/// e.g. `?uploads=` or `?uploadId=…`) and the headers the client will send.
pub struct Unsigned<'a> {
    pub method: &'a str,
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
}

/// Signs `req` into its URL's query string, valid from `start` for `ttl`.
pub fn presign(
    req: &Unsigned<'_>,
    credentials: &Credentials,
    region: &str,
    start: SystemTime,
    ttl: std::time::Duration,
) -> Result<String, PresignError> {
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(ttl);
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let identity = credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(start)
        .settings(settings)
        .build()
        .map_err(|e| PresignError::Sign(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        req.method,
        req.url.as_str(),
        req.headers.iter().map(|(k, v)| (*k, v.as_str())),
        SignableBody::UnsignedPayload,
    )
    .map_err(|e| PresignError::Sign(e.to_string()))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| PresignError::Sign(e.to_string()))?
        .into_parts();
    let mut url = url::Url::parse(&req.url).map_err(|e| PresignError::Sign(e.to_string()))?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in instructions.params() {
            q.append_pair(k, v);
        }
    }
    Ok(url.into())
}
