//! [`ObjectCreated`]: one uploaded object, from the S3 record that reported
//! it to the database batch, its outcome's log line and, when an SQS message
//! carried it, `batchItemFailures`.

use upload_core::FileKey;
use upload_core::repo::UploadedObject;

use crate::payload::{S3Notification, S3Record};

/// An object S3 reported created under a key of the upload layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectCreated {
    /// Its key (decoded and parsed), size and event sequencer.
    pub object: UploadedObject,
    /// The SQS message that carried it; `None` for a direct S3 event.
    pub message_id: Option<String>,
}

impl AsRef<UploadedObject> for ObjectCreated {
    fn as_ref(&self) -> &UploadedObject {
        &self.object
    }
}

impl S3Notification {
    /// The objects this notification reports created in `bucket`, carried by
    /// the SQS message `message_id` if any. Records that can never be
    /// processed are logged and dropped: retrying could not help.
    pub fn objects_created(self, bucket: &str, message_id: Option<&str>) -> Vec<ObjectCreated> {
        self.records
            .into_iter()
            .filter_map(|record| match record {
                Ok(record) => Some(ObjectCreated {
                    object: uploaded_object(record, bucket)?,
                    message_id: message_id.map(str::to_owned),
                }),
                Err(error) => {
                    tracing::warn!(event = "malformed_record", error = %error, "skipped an S3 record that does not parse");
                    None
                }
            })
            .collect()
    }
}

/// Decodes an S3 event key: `+` is a space, `%XX` are UTF-8 bytes.
pub fn decode_s3_key(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// The object an ObjectCreated record for `bucket` names; `None` (logged)
/// for any other record.
fn uploaded_object(record: S3Record, bucket: &str) -> Option<UploadedObject> {
    let name = record.event_name.as_deref().unwrap_or("");
    if !name.starts_with("ObjectCreated:") {
        tracing::info!(
            event = "ignored_event",
            event_name = name,
            "not an ObjectCreated record; skipped"
        );
        return None;
    }
    let record_bucket = record.s3.bucket.name.as_deref().unwrap_or("");
    if record_bucket != bucket {
        tracing::warn!(
            event = "foreign_bucket",
            bucket = record_bucket,
            "record for another bucket; skipped"
        );
        return None;
    }
    let object = record.s3.object;
    let key = file_key(object.key.as_deref())?;
    Some(UploadedObject::at(&key, object.size, object.sequencer).with_etag(object.e_tag.as_deref()))
}

/// Decodes and parses a record's key; `None` (logged) when it is missing or
/// outside the upload layout.
fn file_key(raw_key: Option<&str>) -> Option<FileKey> {
    let Some(raw_key) = raw_key else {
        tracing::warn!(
            event = "malformed_record",
            "record without an object key; skipped"
        );
        return None;
    };
    let Some(key) = decode_s3_key(raw_key) else {
        tracing::warn!(
            event = "foreign_key",
            raw_key,
            "key is not valid percent-encoded UTF-8; skipped"
        );
        return None;
    };
    match FileKey::parse(&key) {
        Ok(key) => Some(key),
        Err(e) => {
            tracing::warn!(event = "foreign_key", key = %key, reason = %e, "key outside the upload layout; skipped");
            None
        }
    }
}
