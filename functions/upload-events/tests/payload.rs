//! The payload's shape picks the handler, records parse one by one, and S3
//! records decode into the objects the database batch gets. No database.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{Value, json};
use upload_core::db::DbSettings;
use upload_core::{Config, Db, FileKey, JobId, SafeFileName, TenantId};
use upload_events::{EventsState, ObjectCreated, Payload, S3Notification, decode_s3_key, handle};
use upload_testkit::refused_addr;

const BUCKET: &str = "eq-uploads-test";

/// Deserialized from JSON text, as the Lambda runtime does.
fn payload(v: Value) -> Payload {
    serde_json::from_str(&v.to_string()).unwrap()
}

/// A sample payload from `events/`.
fn fixture(name: &str) -> Payload {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn s3(v: Value) -> S3Notification {
    match payload(v) {
        Payload::S3(n) => n,
        other => panic!("not an S3 notification: {other:?}"),
    }
}

fn unrecognized_keys(v: Value) -> Vec<String> {
    match payload(v.clone()) {
        Payload::Unrecognized(u) => u.top_level_keys,
        other => panic!("{v} is recognized: {other:?}"),
    }
}

fn key(n: u128) -> FileKey {
    let tenant = TenantId::parse("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f").unwrap();
    let job = JobId(uuid::Uuid::from_u128(n));
    FileKey::build(tenant, job, SafeFileName::new("a b+c.wav"))
}

/// An S3 record as S3 sends it (key form-encoded).
fn record(name: &str, bucket: &str, key: &str, size: i64) -> Value {
    let enc: String = url::form_urlencoded::byte_serialize(key.as_bytes())
        .collect::<String>()
        .replace("%2F", "/");
    json!({"eventVersion": "2.1", "eventSource": "aws:s3", "eventTime": "2026-11-27T19:04:11.503Z",
           "eventName": name, "userIdentity": {"principalId": "A"}, "requestParameters": {},
           "s3": {"bucket": {"name": bucket}, "object": {"key": enc, "size": size, "sequencer": format!("00{size}")}}})
}

fn created(k: &FileKey, size: i64) -> Value {
    record("ObjectCreated:Put", BUCKET, k.as_str(), size)
}

#[test]
fn keys_are_decoded_as_s3_encodes_them() {
    assert_eq!(decode_s3_key("a+b%2Bc").unwrap(), "a b+c");
    assert_eq!(
        decode_s3_key("R%C3%A9union+%C3%A9quipe%2Bnotes+%281%29.wav").unwrap(),
        "Réunion équipe+notes (1).wav"
    );
    assert_eq!(decode_s3_key("100%25+%26+%232").unwrap(), "100% & #2");
    assert!(decode_s3_key("%FF%FE").is_none());
    assert!(matches!(fixture("s3-put.json"), Payload::S3(_)));
    assert!(matches!(fixture("sqs-s3.json"), Payload::Sqs(_)));
    assert!(matches!(
        fixture("s3-test-event.json"),
        Payload::S3TestEvent(_)
    ));
    assert!(matches!(fixture("scheduled.json"), Payload::Scheduled(_)));
    assert!(matches!(
        payload(json!({"hello": 1})),
        Payload::Unrecognized(_)
    ));
}

#[test]
fn records_belong_to_s3_or_sqs_by_the_first_records_source() {
    assert!(s3(json!({"Records": []})).records.is_empty());
    assert_eq!(
        s3(json!({"Records": [{"eventName": "x"}]})).records.len(),
        1
    );
    let sqs = |v: Value| matches!(payload(v), Payload::Sqs(_));
    assert!(sqs(json!({"Records": [{"eventSource": "aws:sqs"}]})));
    // `EventSource` counts only when `eventSource` is absent; a source that is
    // not a string counts as none.
    assert!(sqs(json!({"Records": [{"EventSource": "aws:sqs"}]})));
    s3(json!({"Records": [{"eventSource": null, "EventSource": "aws:sqs"}]}));
    s3(json!({"Records": [{"eventSource": 7}]}));
    // Only the first record decides.
    s3(json!({"Records": [{"eventSource": "aws:s3"}, {"eventSource": "aws:sqs"}]}));
    assert!(sqs(
        json!({"Records": [{"eventSource": "aws:sqs"}, {"eventSource": "aws:s3"}]})
    ));
    // A first record that is not an object has no source.
    let n = s3(json!({"Records": ["x", []]}));
    assert_eq!(
        n.records[0].as_ref().unwrap_err(),
        "invalid type: string \"x\", expected struct S3Record"
    );
    // Another source: unrecognized, whatever else the payload says.
    for other in [
        json!({"Records": [{"EventSource": "aws:sns"}]}),
        json!({"Records": [{"eventSource": "aws:sns"}], "Event": "s3:TestEvent"}),
        json!({"Records": [{"eventSource": "aws:sns"}], "detail-type": "Scheduled Event"}),
    ] {
        assert!(unrecognized_keys(other).contains(&"Records".to_owned()));
    }
    // `Records` that is not an array does not make an S3 or SQS payload.
    assert!(matches!(
        payload(json!({"Records": {}, "Event": "s3:TestEvent"})),
        Payload::S3TestEvent(_)
    ));
    assert!(matches!(
        payload(json!({"Records": null, "detail-type": "Scheduled Event"})),
        Payload::Scheduled(_)
    ));
}

#[test]
fn anything_else_is_unrecognized_with_its_top_level_keys() {
    assert_eq!(
        unrecognized_keys(json!({"b": 1, "a": {"Records": []}})),
        ["a", "b"]
    );
    for other in [
        json!({"Event": "s3:ObjectCreated:Put"}),
        json!({"Event": 1}),
        json!({"detail-type": "Object Created", "source": "aws.s3"}),
        json!({"Records": 3}),
    ] {
        assert!(!unrecognized_keys(other).is_empty());
    }
    // Not an object, even one a struct could be read from field by field.
    for not_an_object in [
        json!("s3:TestEvent"),
        json!(42),
        json!(null),
        json!([]),
        json!([[]]),
        json!([["s3:TestEvent"]]),
        json!(["Scheduled Event"]),
    ] {
        assert!(unrecognized_keys(not_an_object).is_empty());
    }
}

#[test]
fn a_record_that_does_not_parse_spoils_nothing() {
    let (a, b) = (key(1), key(2));
    let mut no_s3 = created(&a, 5);
    no_s3.as_object_mut().unwrap().remove("s3");
    let mut text_size = created(&b, 5);
    text_size["s3"]["object"]["size"] = json!("5");
    let n = s3(json!({"Records": [no_s3.clone(), created(&a, 5), 17, text_size, created(&b, 6)]}));
    let errors: Vec<&String> = n.records.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(
        errors,
        [
            "missing field `s3`",
            "invalid type: integer `17`, expected struct S3Record",
            "invalid type: string \"5\", expected i64"
        ]
    );
    let objects = n.objects_created(BUCKET, None);
    assert_eq!(objects.len(), 2);
    assert_eq!(
        (objects[0].object.key(), objects[1].object.key()),
        (a.as_str(), b.as_str())
    );
    // The first record too.
    assert_eq!(s3(json!({"Records": [no_s3]})).records.len(), 1);

    let batch = payload(json!({"Records": [
        {"eventSource": "aws:sqs", "messageId": 5},
        {"eventSource": "aws:sqs", "messageId": "m-2", "body": "{}"},
    ]}));
    let Payload::Sqs(batch) = batch else {
        panic!("{batch:?}")
    };
    assert_eq!(
        batch.messages[0].as_ref().unwrap_err(),
        "invalid type: integer `5`, expected a string"
    );
    assert_eq!(
        batch.messages[1].as_ref().unwrap().message_id.as_deref(),
        Some("m-2")
    );
}

#[test]
fn records_decode_into_the_objects_the_batch_gets() {
    let (a, b) = (key(1), key(2));
    let n = s3(json!({"Records": [
        created(&a, 500),
        record("ObjectRemoved:Delete", BUCKET, a.as_str(), 0),
        record("ObjectCreated:Put", "elsewhere", a.as_str(), 1),
        {"eventTime": "2026-11-27T19:04:11.503Z", "eventName": "ObjectCreated:Put",
         "userIdentity": {}, "requestParameters": {}, "s3": {"bucket": {"name": BUCKET}, "object": {}}},
        record("ObjectCreated:Put", BUCKET, "%FF%FE", 1),
        record("ObjectCreated:Put", BUCKET, "uploads/elsewhere/x.wav", 1),
        created(&b, 0),
    ]}));
    let objects = n.objects_created(BUCKET, Some("m-1"));
    let summary: Vec<_> = objects
        .iter()
        .map(|ObjectCreated { object, message_id }| {
            (
                object.key(),
                object.size,
                object.sequencer.as_deref(),
                message_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (a.as_str(), Some(500), Some("00500"), Some("m-1")),
            (b.as_str(), Some(0), Some("000"), Some("m-1")),
        ]
    );
    assert_eq!(a.name().as_str(), "a b+c.wav");
}

#[tokio::test]
async fn only_sqs_messages_with_objects_fail_with_the_database() {
    let url = format!("postgres://postgres@{}/x", refused_addr());
    let env: HashMap<&str, String> = [
        ("DATABASE_URL", url.clone()),
        ("UPLOAD_BUCKET", BUCKET.to_owned()),
        ("AWS_REGION", "us-east-1".to_owned()),
    ]
    .into_iter()
    .collect();
    let mut settings = DbSettings::new(&url).unwrap();
    settings.connect_timeout = std::time::Duration::from_millis(300);
    let state = EventsState {
        config: Config::from_lookup(|k| env.get(k).cloned()).unwrap(),
        db: Db::new(settings),
        objects: Arc::new(upload_testkit::MemoryObjects::default()),
        handoff: None,
        metrics: upload_core::metrics::Metrics::off(),
    };
    let message =
        |id: &str, body: Value| json!({"eventSource": "aws:sqs", "messageId": id, "body": body});
    let notification = |records: Vec<Value>| json!({"Records": records}).to_string();
    let out = handle(
        &state,
        payload(json!({"Records": [
            message("m-1", json!(notification(vec![created(&key(1), 5), created(&key(2), 5)]))),
            message("m-2", json!(json!({"Event": "s3:TestEvent"}).to_string())),
            message("m-3", json!(json!({"detail-type": "Scheduled Event"}).to_string())),
            message("m-4", json!("not json")),
            message("m-5", Value::Null),
            message("m-6", json!(json!({"Records": [{"eventSource": "aws:sqs"}]}).to_string())),
            message("m-7", json!(notification(vec![record("ObjectRemoved:Delete", BUCKET, key(3).as_str(), 0)]))),
            message("m-8", json!(notification(vec![]))),
            {"eventSource": "aws:sqs", "messageId": 9},
            message("m-10", json!(notification(vec![json!(1), created(&key(4), 5)]))),
        ]})),
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        json!({"batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-10"}]})
    );
}
