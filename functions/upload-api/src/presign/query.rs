//! Query-string SigV4 for every S3 request this service signs, with
//! `aws-sigv4`, the SDK's own signer, set as the SDK's S3 presigner sets it:
//! single percent-encoding, no path normalisation, an unsigned payload, the
//! session token signed in; the signature's parameters appended to the URL
//! in the signer's order, encoded as the SDK encodes them.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;

use super::PresignError;
use super::endpoint::push_query;

/// The longest a presigned URL may live (the SDK's `PresigningConfig`
/// refuses more, as S3 does).
const ONE_WEEK: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// What a URL is signed with and for: the credentials, the signing region
/// and service, and its validity from `start` for `ttl`.
pub struct Scope<'a> {
    pub credentials: &'a Credentials,
    pub region: &'a str,
    pub service: &'a str,
    pub start: SystemTime,
    pub ttl: Duration,
}

/// Signs a request into its URL's query string. `url` is already encoded,
/// with the request's own query (`?x-id=PutObject`, `?uploadId=…`);
/// `headers` (lower-case names) are the ones the client will send.
pub fn presign(
    method: &str,
    mut url: String,
    headers: &[(&'static str, String)],
    scope: &Scope<'_>,
) -> Result<String, PresignError> {
    if scope.ttl > ONE_WEEK {
        return Err(PresignError::Sign(
            "a presigned URL can be valid for at most one week".into(),
        ));
    }
    // What the SDK refuses to put in a header (`http::HeaderValue`): the
    // signer would fold it into the canonical value and sign it.
    if let Some((name, _)) = headers
        .iter()
        .find(|(_, v)| !v.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f)))
    {
        return Err(PresignError::Sign(format!(
            "{name} is not a valid header value"
        )));
    }
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(scope.ttl);
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    let identity = scope.credentials.clone().into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(scope.region)
        .name(scope.service)
        .time(scope.start)
        .settings(settings)
        .build()
        .map_err(|e| PresignError::Sign(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        method,
        url.as_str(),
        headers.iter().map(|(k, v)| (*k, v.as_str())),
        SignableBody::UnsignedPayload,
    )
    .map_err(|e| PresignError::Sign(e.to_string()))?;
    let (instructions, _) = sign(signable, &params)
        .map_err(|e| PresignError::Sign(e.to_string()))?
        .into_parts();
    for (k, v) in instructions.params() {
        push_query(&mut url, k, v);
    }
    Ok(url)
}
