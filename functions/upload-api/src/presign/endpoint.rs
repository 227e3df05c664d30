//! Where a key's requests go, resolved once: the SDK presigns a GetObject
//! of [`PROBE_KEY`], which runs its endpoint resolution (endpoint URL, path
//! or virtual-host style, FIPS, dual-stack, …); its URL without the key is
//! the bucket's base URL, and its credential scope gives the signing region
//! and service. Each key is then appended as the SDK encodes it.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use super::PresignError;

/// The key the SDK presigns once to show where the bucket is.
pub(super) const PROBE_KEY: &str = "k";

/// What the SDK percent-encodes in a query key or value
/// (`aws_smithy_http::query::fmt_string`, its `BASE_SET`): every byte but
/// the RFC 3986 unreserved characters (`A-Z a-z 0-9 - . _ ~`); non-ASCII
/// as its UTF-8 bytes, hex in upper case.
pub(super) const QUERY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What the SDK percent-encodes in an S3 key, a greedy label (`/{Key+}`,
/// `aws_smithy_http::label::fmt_string(…, Greedy)`): the same, `/` kept.
const KEY_SET: &AsciiSet = &QUERY_SET.remove(b'/');

/// The bucket's base URL and the scope URLs for it are signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoint {
    /// The URL of the key `""`: scheme, authority and, path-style, the
    /// bucket; it ends with `/`.
    base: String,
    /// The signing region (the endpoint's, e.g. `us-east-1` for
    /// `aws-global`).
    pub region: String,
    /// The signing name (`s3`).
    pub service: String,
}

impl Endpoint {
    /// From the SDK's presigned GetObject URL of [`PROBE_KEY`].
    pub fn from_probe(uri: &str) -> Result<Self, PresignError> {
        let bad =
            |what: &str| PresignError::Sign(format!("unexpected presigned probe URL: {what}"));
        let (path, query) = uri.split_once('?').ok_or_else(|| bad("no query"))?;
        let base = path
            .strip_suffix(PROBE_KEY)
            .filter(|b| b.ends_with('/'))
            .ok_or_else(|| bad("no key at the end of the path"))?;
        let credential = query
            .split('&')
            .find_map(|p| p.strip_prefix("X-Amz-Credential="))
            .ok_or_else(|| bad("no X-Amz-Credential"))?;
        let credential = percent_decode_str(credential)
            .decode_utf8()
            .map_err(|_| bad("X-Amz-Credential is not UTF-8"))?;
        // <access key>/<date>/<region>/<service>/aws4_request
        let mut scope = credential.rsplit('/');
        let (Some("aws4_request"), Some(service), Some(region), Some(_date), Some(_)) = (
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
            scope.next(),
        ) else {
            return Err(bad("X-Amz-Credential is not a SigV4 scope"));
        };
        Ok(Self {
            base: base.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
        })
    }

    /// The object's URL, without a query, exactly as the SDK builds it:
    /// the base URL, then the key percent-encoded with `/` kept. An empty
    /// key is refused, as the SDK refuses it.
    pub fn object_url(&self, key: &str) -> Result<String, PresignError> {
        if key.is_empty() {
            return Err(PresignError::Sign("the object key is empty".into()));
        }
        let mut url = String::with_capacity(self.base.len() + key.len() * 3 + 512);
        url.push_str(&self.base);
        url.extend(utf8_percent_encode(key, KEY_SET));
        Ok(url)
    }
}

/// Appends `k=v` to `url`'s query, both encoded as the SDK encodes query
/// parameters; `?` first when the URL has no query yet.
pub(super) fn push_query(url: &mut String, k: &str, v: &str) {
    match url.find('?') {
        None => url.push('?'),
        Some(i) if i + 1 == url.len() => {}
        Some(_) => url.push('&'),
    }
    url.extend(utf8_percent_encode(k, QUERY_SET));
    url.push('=');
    url.extend(utf8_percent_encode(v, QUERY_SET));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_gives_base_url_and_scope() {
        let e = Endpoint::from_probe(
            "https://b.s3.eu-west-1.amazonaws.com/k?x-id=GetObject&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=AKID%2F20260101%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z",
        )
        .unwrap();
        assert_eq!(e.region, "eu-west-1");
        assert_eq!(e.service, "s3");
        assert_eq!(
            e.object_url("a b/c+d").unwrap(),
            "https://b.s3.eu-west-1.amazonaws.com/a%20b/c%2Bd"
        );
        assert!(e.object_url("").is_err());
        for bad in [
            "https://b.s3.amazonaws.com/k",
            "https://b.s3.amazonaws.com/x?X-Amz-Credential=A%2Fd%2Fr%2Fs3%2Faws4_request",
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=A%2Fr%2Fs3",
        ] {
            assert!(Endpoint::from_probe(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_pairs_are_appended_as_the_sdk_writes_them() {
        let mut url = "http://h/b/k".to_owned();
        push_query(&mut url, "x-id", "PutObject");
        push_query(&mut url, "uploadId", "a b+c/d=~*");
        assert_eq!(
            url,
            "http://h/b/k?x-id=PutObject&uploadId=a%20b%2Bc%2Fd%3D~%2A"
        );
        let mut url = "http://h/b/k?".to_owned();
        push_query(&mut url, "uploads", "");
        assert_eq!(url, "http://h/b/k?uploads=");
    }
}
