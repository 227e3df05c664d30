//! Equivalence with the SDK's presigner: the same request, signed at a fixed
//! time with fixed credentials (with and without a session token), by the
//! SDK (`put_object().presigned()`, `upload_part().presigned()`) and by
//! [`Presigner`]: the same method, URL (byte for byte, so the same canonical
//! request and signature), headers and expiry.
//!
//! One thing is left out on purpose, so these tests assume it absent: in a
//! Lambda (`AWS_LAMBDA_FUNCTION_NAME` and `_X_AMZN_TRACE_ID` set) the SDK's
//! recursion-detection interceptor adds an unsigned `x-amzn-trace-id` to the
//! presigned request's headers. It is not signed, S3 needs no such header,
//! and a browser sending it would fail the bucket's CORS preflight.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::presigning::{PresignedRequest, PresigningConfig};

use super::*;

/// Keys that exercise the encoding: spaces, `+`, `%`, `~`, `!*'()`,
/// unicode, every other ASCII punctuation, slashes in odd places.
const KEYS: &[&str] = &[
    "tenant/3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f/uploads/8a0f5a4e/take 1.wav",
    "Réunion équipe+notes (1).wav",
    "a+b%20c%2F~d",
    "!*'()",
    "日本語/ファイル 🎵.wav",
    "sp ace/tab\there/nl\nthere",
    "punct/\"#$&,:;<=>?@[\\]^`{|}",
    "a//b/./c/../d",
    "/leading",
    "trailing/",
    "-._~0189AZaz",
];

/// Endpoint settings as `upload_core::s3::client_from_sdk_config` makes
/// them: (region, `S3_ENDPOINT_URL`, bucket).
const ENDPOINTS: &[(&str, Option<&str>, &str)] = &[
    ("us-east-1", None, "eq-uploads-prod"),
    ("eu-west-1", None, "eq-uploads-prod"),
    // Not DNS-compatible: the SDK falls back to path style in AWS.
    ("us-east-1", None, "eq.uploads.prod"),
    ("us-east-1", Some("http://127.0.0.1:9000"), "local-uploads"),
    (
        "eu-central-1",
        Some("https://s3.example.com:8443/base/"),
        "b",
    ),
];

fn credentials(token: bool) -> Credentials {
    Credentials::new(
        "ASIAEXAMPLEKEYID",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        token.then(|| "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+/=".to_owned()),
        Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000)),
        "test",
    )
}

fn presigner(region: &str, endpoint: Option<&str>, bucket: &str, creds: &Credentials) -> Presigner {
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new(region.to_owned()))
        .credentials_provider(SharedCredentialsProvider::new(creds.clone()))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let mut b = aws_sdk_s3::config::Builder::from(&sdk)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(url) = endpoint {
        b = b.endpoint_url(url).force_path_style(true);
    }
    let client = aws_sdk_s3::Client::from_conf(b.build());
    let provider = SharedCredentialsProvider::new(creds.clone());
    Presigner::new(
        client,
        bucket.into(),
        Duration::from_secs(300),
        Some(provider),
    )
}

fn window(creds: &Credentials) -> UrlWindow {
    UrlWindow {
        start: UNIX_EPOCH + Duration::from_secs(1_790_000_123),
        ttl: Duration::from_secs(300),
        credentials: creds.clone(),
    }
}

fn config(window: &UrlWindow) -> PresigningConfig {
    PresigningConfig::builder()
        .start_time(window.start)
        .expires_in(window.ttl)
        .build()
        .unwrap()
}

/// What the SDK-presigned request gives the client (as the service
/// answered before it signed with `aws-sigv4` itself).
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

async fn sdk_put(p: &Presigner, put: &PutRequest<'_>, w: &UrlWindow) -> PresignedPut {
    sdk_try_put(p, put, w).await.expect("the SDK presigns it")
}

/// The SDK's PUT URL, `None` when the SDK refuses the request.
async fn sdk_try_put(p: &Presigner, put: &PutRequest<'_>, w: &UrlWindow) -> Option<PresignedPut> {
    let mut req = p
        .client
        .put_object()
        .bucket(&p.bucket)
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
    let presigned = req.presigned(config(w)).await.ok()?;
    Some(finish(&presigned, w))
}

async fn sdk_part(
    p: &Presigner,
    key: &str,
    upload_id: &str,
    part: i32,
    w: &UrlWindow,
) -> PresignedPut {
    let req = p
        .client
        .upload_part()
        .bucket(&p.bucket)
        .key(key)
        .upload_id(upload_id)
        .part_number(part);
    finish(&req.presigned(config(w)).await.unwrap(), w)
}

fn assert_same(ours: &PresignedPut, sdk: &PresignedPut, what: &str) {
    assert_eq!(ours.method, sdk.method, "{what}");
    assert_eq!(ours.url, sdk.url, "{what}");
    assert_eq!(ours.headers, sdk.headers, "{what}");
    assert_eq!(ours.expires_at, sdk.expires_at, "{what}");
}

/// Every PutRequest header combination.
fn puts(key: &str) -> Vec<PutRequest<'_>> {
    let mut out = Vec::new();
    for content_length in [None, Some(0), Some(48_213_504)] {
        for checksum_sha256 in [None, Some("n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=")] {
            for if_none_match in [false, true] {
                out.push(PutRequest {
                    key,
                    content_type: "audio/wav",
                    content_length,
                    checksum_sha256,
                    if_none_match,
                });
            }
        }
    }
    out
}

#[tokio::test]
async fn put_urls_equal_the_sdk_presigners() {
    let mut compared = 0;
    for token in [true, false] {
        let creds = credentials(token);
        let w = window(&creds);
        for &(region, endpoint, bucket) in ENDPOINTS {
            let p = presigner(region, endpoint, bucket, &creds);
            for key in KEYS {
                for put in puts(key) {
                    let what = format!("{region} {endpoint:?} {bucket} token={token} {put:?}");
                    let ours = p.sign_put(&put, &w).await.unwrap();
                    assert_same(&ours, &sdk_put(&p, &put, &w).await, &what);
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, 2 * ENDPOINTS.len() * KEYS.len() * 12);
}

#[tokio::test]
async fn upload_part_urls_equal_the_sdk_presigners() {
    for token in [true, false] {
        let creds = credentials(token);
        let w = window(&creds);
        for &(region, endpoint, bucket) in ENDPOINTS {
            let p = presigner(region, endpoint, bucket, &creds);
            for key in KEYS {
                for upload_id in ["2~Zx.y_z-0AbC", "a b+c/d=e%f*"] {
                    for part_number in [1, 42, 10_000] {
                        let op = MultipartRequest::UploadPart {
                            key,
                            upload_id,
                            part_number,
                        };
                        let ours = p.sign_multipart(&op, &w).await.unwrap();
                        let sdk = sdk_part(&p, key, upload_id, part_number, &w).await;
                        assert_same(&ours, &sdk, &format!("{region} {endpoint:?} {op:?}"));
                    }
                }
            }
        }
    }
}

#[tokio::test]
async fn odd_header_values_are_signed_or_refused_as_the_sdk_does() {
    let creds = credentials(true);
    let w = window(&creds);
    let p = presigner("us-east-1", None, "eq-uploads-prod", &creds);
    let types = [
        "audio/wav; codecs=\"1\"",
        "  audio/x-wav \t ",
        "audio/wav;  a=b\tc",
        "audió/wav",
        "audio/wav\r\nx-evil: 1",
        "audio/wav\u{7f}",
    ];
    for content_type in types {
        let put = PutRequest {
            content_type,
            ..puts("k.wav")[11]
        };
        let ours = p.sign_put(&put, &w).await;
        let sdk = sdk_try_put(&p, &put, &w).await;
        match (ours, sdk) {
            (Ok(ours), Some(sdk)) => assert_same(&ours, &sdk, content_type),
            (Err(_), None) => {}
            (ours, sdk) => panic!("{content_type:?}: ours {ours:?}, the SDK's {sdk:?}"),
        }
    }
}

#[tokio::test]
async fn keys_are_encoded_as_the_sdk_encodes_them() {
    let creds = credentials(true);
    let w = window(&creds);
    for &(region, endpoint, bucket) in ENDPOINTS {
        let p = presigner(region, endpoint, bucket, &creds);
        for key in KEYS {
            let sdk = p
                .client
                .get_object()
                .bucket(bucket)
                .key(*key)
                .presigned(config(&w))
                .await
                .unwrap();
            let (sdk_url, _) = sdk.uri().split_once('?').unwrap();
            let ours = p.endpoint().await.unwrap().object_url(key).unwrap();
            assert_eq!(ours, sdk_url, "{key:?}");
        }
    }
    let p = presigner("us-east-1", None, "eq-uploads-prod", &creds);
    let e = p.endpoint().await.unwrap();
    assert_eq!(
        e.object_url("a b+c%d~e!*'()é/f").unwrap(),
        "https://eq-uploads-prod.s3.us-east-1.amazonaws.com/a%20b%2Bc%25d~e%21%2A%27%28%29%C3%A9/f"
    );
}

#[tokio::test]
async fn the_url_carries_the_token_region_and_expiry() {
    let creds = credentials(true);
    let w = window(&creds);
    let p = presigner("eu-west-1", None, "eq-uploads-prod", &creds);
    let put = puts("k/v.wav")[11];
    let signed = p.sign_put(&put, &w).await.unwrap();
    let url = &signed.url;
    assert!(
        url.starts_with(
            "https://eq-uploads-prod.s3.eu-west-1.amazonaws.com/k/v.wav?x-id=PutObject&"
        )
    );
    assert!(url.contains("%2Feu-west-1%2Fs3%2Faws4_request"), "{url}");
    assert!(url.contains("&X-Amz-Expires=300&"), "{url}");
    assert!(
        url.contains("&X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr%2F%2F"),
        "{url}"
    );
    assert!(url.contains(
        "&X-Amz-SignedHeaders=content-length%3Bcontent-type%3Bhost%3Bif-none-match%3Bx-amz-checksum-sha256&"
    ), "{url}");
    assert_eq!(signed.expires_at.timestamp(), 1_790_000_123 + 300);
    assert_eq!(signed.headers.len(), 4);
}

#[tokio::test]
async fn the_window_is_bounded_by_the_credentials() {
    let creds = Credentials::new(
        "AKID",
        "secret",
        Some("token".into()),
        Some(SystemTime::now() + Duration::from_secs(90)),
        "sts",
    );
    let p = presigner("us-east-1", None, "b", &creds);
    let w = p.window().await.unwrap();
    assert!((88..=90).contains(&w.ttl.as_secs()), "{w:?}");
    let mut long = w.clone();
    long.ttl = Duration::from_secs(7 * 24 * 3600 + 1);
    let put = puts("k")[0];
    assert!(p.sign_put(&put, &long).await.is_err());
    assert!(
        p.sign_put(&PutRequest { key: "", ..put }, &w)
            .await
            .is_err()
    );
}
