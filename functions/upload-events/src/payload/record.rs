//! One S3 notification record, read for exactly what the function uses:
//! the event name, the bucket and the object (key, size, ETag, sequencer).
//!
//! `aws_lambda_events`' `S3EventRecord` reads every field of the record
//! (the time parsed with chrono, the request and response elements into maps,
//! the identities); this reads those four and skips the rest unparsed, which
//! halves the time to decode a 100-record event. A record is still refused
//! (logged and skipped, the others kept) when it is not an object, has no
//! `s3` object with a `bucket` object and an `object` object (an array is
//! not taken for any of them), or one of the fields read has the wrong type;
//! fields the function does not read are not checked.

use serde::Deserialize;

/// An S3 event record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct S3Record {
    /// `ObjectCreated:Put`, `ObjectCreated:CompleteMultipartUpload`, ...
    #[serde(rename = "eventName", default)]
    pub event_name: Option<String>,
    #[serde(deserialize_with = "super::object")]
    pub s3: S3Entity,
}

/// The record's `s3` member.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct S3Entity {
    #[serde(deserialize_with = "super::object")]
    pub bucket: S3Bucket,
    #[serde(deserialize_with = "super::object")]
    pub object: S3Object,
}

/// The bucket the object is in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct S3Bucket {
    #[serde(default)]
    pub name: Option<String>,
}

/// The object, as the event describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct S3Object {
    /// URL-encoded as S3 sends it (`+` for a space).
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub size: Option<i64>,
    #[serde(rename = "eTag", default)]
    pub e_tag: Option<String>,
    #[serde(default)]
    pub sequencer: Option<String>,
}
