//! What the function is invoked with, deserialized once (by the Lambda
//! runtime, from the invocation's JSON) into a [`Payload`]. An SQS message
//! body is read the same way.
//!
//! The shape decides, first match wins:
//! * a `Records` array whose first record's source is `aws:sqs`: an SQS batch;
//! * a `Records` array that is empty, or whose first record's source is
//!   `aws:s3` or missing: an S3 notification;
//! * any other `Records` array: unrecognized, whatever else the payload holds;
//! * `"Event": "s3:TestEvent"`: the test event S3 sends when a notification
//!   is configured;
//! * `"detail-type": "Scheduled Event"`: the reaper's schedule;
//! * anything else, JSON that is not an object included: unrecognized.
//!
//! A record's source is its `eventSource`, or `EventSource` when that key is
//! absent; a value that is not a string counts as missing.
//!
//! Records are read one by one: a record that does not parse is kept as its
//! error (logged and skipped later) and does not spoil the others.

use std::fmt;
use std::marker::PhantomData;

use aws_lambda_events::event::sqs::SqsMessage;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

mod record;

pub use record::{S3Bucket, S3Entity, S3Object, S3Record};

/// Every payload the function can be invoked with.
///
/// Untagged: each variant is tried in turn on the payload, which serde
/// buffers once; the variants are built so that at most one of the first
/// four matches, and `Unrecognized` takes anything.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Payload {
    /// S3 ObjectCreated notifications, sent directly by the bucket.
    #[serde(deserialize_with = "object")]
    S3(S3Notification),
    /// An SQS batch whose message bodies are S3 notifications.
    #[serde(deserialize_with = "object")]
    Sqs(SqsBatch),
    /// S3's test event: nothing to do.
    #[serde(deserialize_with = "object")]
    S3TestEvent(S3TestEvent),
    /// The reaper's schedule.
    #[serde(deserialize_with = "object")]
    Scheduled(ScheduledEvent),
    /// Anything else.
    Unrecognized(Unrecognized),
}

/// An S3 event notification: `aws_lambda_events`' `S3Event`, except that one
/// record that does not parse does not fail the others, and that each record
/// is read only for what the function uses ([`S3Record`]).
#[derive(Debug, Clone, Deserialize)]
pub struct S3Notification {
    /// The records in order; `Err` says why a record does not parse.
    #[serde(rename = "Records", deserialize_with = "s3_records")]
    pub records: Vec<Result<S3Record, String>>,
}

/// An SQS batch: `aws_lambda_events`' `SqsEvent`, except that one message
/// that does not parse does not fail the others.
#[derive(Debug, Clone, Deserialize)]
pub struct SqsBatch {
    /// The messages in order; `Err` says why a message does not parse.
    #[serde(rename = "Records", deserialize_with = "sqs_records")]
    pub messages: Vec<Result<SqsMessage, String>>,
}

/// What S3 sends once when a notification is configured (`"Service": "Amazon
/// S3", "Event": "s3:TestEvent", "Bucket": ...`). Only `Event` is checked.
#[derive(Debug, Clone, Deserialize)]
pub struct S3TestEvent {
    #[serde(rename = "Event")]
    _event: TestEventName,
    #[serde(rename = "Records", default, deserialize_with = "not_an_array")]
    _records: (),
}

#[derive(Debug, Clone, Deserialize)]
enum TestEventName {
    #[serde(rename = "s3:TestEvent")]
    S3TestEvent,
}

/// The EventBridge schedule (`"detail-type": "Scheduled Event"`). Only the
/// detail type is checked: nothing else of the event is used (and
/// `EventBridgeEvent` would also demand `source`, `detail` and a valid
/// `time`).
#[derive(Debug, Clone, Deserialize)]
pub struct ScheduledEvent {
    #[serde(rename = "detail-type")]
    _detail_type: ScheduledDetailType,
    #[serde(rename = "Records", default, deserialize_with = "not_an_array")]
    _records: (),
}

#[derive(Debug, Clone, Deserialize)]
enum ScheduledDetailType {
    #[serde(rename = "Scheduled Event")]
    ScheduledEvent,
}

/// A payload of no known shape, kept for its top-level keys (none when it
/// is not an object), which its log line names.
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "Value")]
pub struct Unrecognized {
    pub top_level_keys: Vec<String>,
}

impl From<Value> for Unrecognized {
    fn from(payload: Value) -> Self {
        let top_level_keys = match payload {
            Value::Object(map) => map.into_iter().map(|(k, _)| k).collect(),
            _ => Vec::new(),
        };
        Unrecognized { top_level_keys }
    }
}

/// Reads `T` from a JSON object only (a derived struct would also take an
/// array, field by field).
fn object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    struct ObjectVisitor<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }
    d.deserialize_map(ObjectVisitor(PhantomData))
}

/// Takes any value but an array: a payload with a `Records` array is an S3
/// notification, an SQS batch or unrecognized.
fn not_an_array<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    match Lenient::<Vec<IgnoredAny>>::deserialize(d)?.0 {
        Ok(_) => Err(de::Error::custom("a Records array is not this event")),
        Err(_) => Ok(()),
    }
}

fn s3_records<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Result<S3Record, String>>, D::Error> {
    d.deserialize_seq(RecordsVisitor(Origin::S3, PhantomData))
}

fn sqs_records<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<Result<SqsMessage, String>>, D::Error> {
    d.deserialize_seq(RecordsVisitor(Origin::Sqs, PhantomData))
}

/// Whose `Records` array it is, judged by the first record's source.
#[derive(Debug, Clone, Copy)]
enum Origin {
    S3,
    Sqs,
}

impl Origin {
    /// `first`: the first record's source; `None` when there is no record.
    fn owns(self, first: Option<Option<&str>>) -> bool {
        match self {
            Origin::S3 => matches!(first, None | Some(None | Some("aws:s3"))),
            Origin::Sqs => first == Some(Some("aws:sqs")),
        }
    }
}

/// A `Records` array of `T`, refused unless its first record's source is the
/// origin's.
struct RecordsVisitor<T>(Origin, PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for RecordsVisitor<T> {
    type Value = Vec<Result<T, String>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an array of {:?} records", self.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let origin = self.0;
        let first = seq.next_element::<First<T>>()?.map(First::split);
        let first_source = first.as_ref().map(|(source, _)| source.as_deref());
        if !origin.owns(first_source) {
            return Err(de::Error::custom(format_args!(
                "the first record is not from {origin:?}"
            )));
        }
        let mut records = Vec::with_capacity(seq.size_hint().map_or(1, |rest| rest + 1));
        records.extend(first.map(|(_, record)| record));
        while let Some(Lenient(record)) = seq.next_element()? {
            records.push(record);
        }
        Ok(records)
    }
}

/// The first record, read for its source as well as for itself.
#[derive(Deserialize)]
#[serde(untagged)]
enum First<T> {
    Object(Sourced<T>),
    /// Not an object: it has no source, and the record keeps its own error.
    Other(Lenient<T>),
}

/// Both read the same fields (the source first, without taking them).
#[derive(Deserialize)]
struct Sourced<T> {
    #[serde(flatten)]
    source: SourceOf,
    #[serde(flatten)]
    record: Lenient<T>,
}

impl<T> First<T> {
    fn split(self) -> (Option<String>, Result<T, String>) {
        match self {
            First::Object(Sourced { source, record }) => (source.0, record.0),
            First::Other(record) => (None, record.0),
        }
    }
}

/// A record's source: its `eventSource`, or `EventSource` when that key is
/// absent; `None` unless that value is a string.
struct SourceOf(Option<String>);

impl<'de> Deserialize<'de> for SourceOf {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // As a map, so that a flattened record still sees every field.
        d.deserialize_map(SourceVisitor)
    }
}

struct SourceVisitor;

impl<'de> Visitor<'de> for SourceVisitor {
    type Value = SourceOf;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SourceOf, A::Error> {
        let (mut source, mut alt_source) = (None, None);
        while let Some(key) = map.next_key()? {
            match key {
                SourceKey::Source => source = Some(map.next_value::<Lenient<String>>()?.0),
                SourceKey::AltSource => {
                    alt_source = Some(map.next_value::<Lenient<String>>()?.0);
                }
                SourceKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(SourceOf(source.or(alt_source).and_then(Result::ok)))
    }
}

#[derive(Deserialize)]
enum SourceKey {
    #[serde(rename = "eventSource")]
    Source,
    #[serde(rename = "EventSource")]
    AltSource,
    #[serde(other)]
    Other,
}

/// A record that parsed, or why it did not. Only for buffered input (what an
/// untagged enum's variants read): a failed record leaves nothing half-read.
struct Lenient<T>(Result<T, String>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Lenient(T::deserialize(d).map_err(|e| e.to_string())))
    }
}
