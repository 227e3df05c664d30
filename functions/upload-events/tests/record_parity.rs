//! The trimmed S3 record (`S3Record`) reads what `aws_lambda_events`'
//! `S3EventRecord` reads for the fields the function uses, and refuses a
//! record exactly when it does, as long as the fields it skips are well
//! formed: every combination of absent, null, valid and mistyped values of
//! the six fields read, and every record of the sample events.
#![allow(clippy::too_many_lines)] // tests read top to bottom

use aws_lambda_events::event::s3::S3EventRecord;
use serde_json::{Map, Value, json};
use upload_events::S3Record;

/// The fields the function reads, as both types give them.
type Read = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
);

fn ours(v: &Value) -> Result<Read, String> {
    let r: S3Record = serde_json::from_str(&v.to_string()).map_err(|e| e.to_string())?;
    let o = r.s3.object;
    Ok((
        r.event_name,
        r.s3.bucket.name,
        o.key,
        o.size,
        o.e_tag,
        o.sequencer,
    ))
}

fn theirs(v: &Value) -> Result<Read, String> {
    let r: S3EventRecord = serde_json::from_str(&v.to_string()).map_err(|e| e.to_string())?;
    let o = r.s3.object;
    Ok((
        r.event_name,
        r.s3.bucket.name,
        o.key,
        o.size,
        o.e_tag,
        o.sequencer,
    ))
}

fn assert_same(record: &Value) {
    match (ours(record), theirs(record)) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{record}"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("{record}: ours {a:?}, aws_lambda_events {b:?}"),
    }
}

/// `None`: the field is absent.
fn set(map: &mut Map<String, Value>, name: &str, value: Option<&Value>) {
    if let Some(v) = value {
        map.insert(name.to_owned(), v.clone());
    }
}

#[test]
fn every_combination_of_the_fields_read_parses_alike() {
    let names = [
        None,
        Some(json!(null)),
        Some(json!("ObjectCreated:Put")),
        Some(json!(5)),
    ];
    let buckets = [
        None,
        Some(json!({})),
        Some(json!({"name": null})),
        Some(json!({"name": "eq-uploads", "arn": "arn:aws:s3:::eq-uploads"})),
        Some(json!({"name": 3})),
        Some(json!("eq-uploads")),
    ];
    let keys = [
        None,
        Some(json!(null)),
        Some(json!("tenant/a+b%21.wav")),
        Some(json!(7)),
    ];
    let sizes = [
        None,
        Some(json!(null)),
        Some(json!(0)),
        Some(json!(524_288_000)),
        Some(json!(-1)),
        Some(json!("12")),
        Some(json!(1.5)),
    ];
    let etags = [
        None,
        Some(json!(null)),
        Some(json!("d41d8cd9-2")),
        Some(json!(true)),
    ];
    let sequencers = [
        None,
        Some(json!(null)),
        Some(json!("0055AED6DCD90281E5")),
        Some(json!(55)),
    ];
    let mut n = 0;
    for name in &names {
        for bucket in &buckets {
            for key in &keys {
                for size in &sizes {
                    for etag in &etags {
                        for seq in &sequencers {
                            let mut object = Map::new();
                            set(&mut object, "key", key.as_ref());
                            set(&mut object, "size", size.as_ref());
                            set(&mut object, "eTag", etag.as_ref());
                            set(&mut object, "sequencer", seq.as_ref());
                            object.insert("versionId".into(), json!("v1"));
                            let mut s3 = Map::new();
                            s3.insert("s3SchemaVersion".into(), json!("1.0"));
                            set(&mut s3, "bucket", bucket.as_ref());
                            s3.insert("object".into(), Value::Object(object));
                            let mut record = well_formed_rest();
                            set(&mut record, "eventName", name.as_ref());
                            record.insert("s3".into(), Value::Object(s3));
                            assert_same(&Value::Object(record));
                            n += 1;
                        }
                    }
                }
            }
        }
    }
    assert_eq!(n, 4 * 6 * 4 * 7 * 4 * 4);
}

#[test]
fn records_without_their_containers_are_refused_alike() {
    let full = json!({"bucket": {"name": "b"}, "object": {"key": "k", "size": 1}});
    for s3 in [
        None,
        Some(json!(null)),
        Some(json!("s3")),
        Some(json!({"bucket": {"name": "b"}})),
        Some(json!({"object": {"key": "k"}})),
        Some(json!({"bucket": {"name": "b"}, "object": null})),
        Some(json!({"bucket": {"name": "b"}, "object": []})),
        Some(full),
    ] {
        let mut record = well_formed_rest();
        record.insert("eventName".into(), json!("ObjectCreated:Put"));
        set(&mut record, "s3", s3.as_ref());
        assert_same(&Value::Object(record));
    }
    for not_a_record in [json!(17), json!("x"), json!([]), json!(null)] {
        assert_same(&not_a_record);
    }
}

#[test]
fn the_sample_events_read_alike() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events");
    let mut n = 0;
    for dir in [dir.clone(), dir.join("local")] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let records = v
                .get("Records")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for r in records.iter().filter(|r| r.get("s3").is_some()) {
                assert!(ours(r).is_ok(), "{}: {r}", path.display());
                assert_same(r);
                n += 1;
            }
        }
    }
    assert!(n >= 3, "sample S3 records found: {n}");
}

/// The fields of a record the function skips, as S3 sends them.
fn well_formed_rest() -> Map<String, Value> {
    let Value::Object(m) = json!({
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "eu-west-1",
        "eventTime": "2026-11-27T19:04:11.503Z",
        "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
        "requestParameters": {"sourceIPAddress": "203.0.113.9"},
        "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"}
    }) else {
        unreachable!()
    };
    m
}
