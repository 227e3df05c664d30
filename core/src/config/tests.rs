//! Settings from a map: defaults, every refusal naming its variable, redaction.

use super::*;
use std::collections::HashMap;

fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

const BASE: &[(&str, &str)] = &[
    (
        "DATABASE_URL",
        "postgres://app:hunter2-secret@127.0.0.1:5432/jobs",
    ),
    ("UPLOAD_BUCKET", "eq-uploads-dev"),
    ("AWS_REGION", "us-east-1"),
];

#[test]
fn defaults_follow_the_contract() {
    let c = load(BASE).unwrap();
    assert_eq!(c.upload_url_ttl, Duration::from_secs(300));
    assert_eq!(c.max_upload_bytes, 500 * 1024 * 1024);
    assert_eq!(c.processing_timeout, Duration::from_secs(30 * 60));
    assert_eq!(c.db.pool_max, 2);
    assert!(!c.allow_legacy_header_auth);
    assert!(c.jwt.is_none());
    assert!(c.s3_endpoint_url.is_none());
}

#[test]
fn missing_and_invalid_settings_name_the_variable() {
    let e = load(&BASE[1..]).unwrap_err();
    assert_eq!(e.var, "DATABASE_URL");
    assert!(e.to_string().contains("DATABASE_URL is not set"));

    for (var, bad) in [
        ("UPLOAD_URL_TTL_SECONDS", "0"),
        ("UPLOAD_URL_TTL_SECONDS", "abc"),
        ("MAX_UPLOAD_BYTES", "-5"),
        ("DB_POOL_MAX", "0"),
        ("ALLOW_LEGACY_HEADER_AUTH", "maybe"),
        ("INTERNAL_JWT_SECRET", "too-short"),
        ("UPLOAD_BUCKET", "Not_A_Bucket"),
        ("S3_ENDPOINT_URL", "localhost:9000"),
        (
            "DATABASE_URL",
            "postgres://u@db.example.com/x?sslmode=disable",
        ),
    ] {
        let mut pairs = BASE.to_vec();
        pairs.retain(|(k, _)| *k != var);
        pairs.push((var, bad));
        let e = load(&pairs).unwrap_err();
        assert_eq!(e.var, var, "{bad} should be refused: {e}");
    }
}

#[test]
fn with_several_bad_settings_the_first_in_order_is_named() {
    let e = load(&[
        (
            "DATABASE_URL",
            "postgres://u@db.example.com/x?sslmode=disable",
        ),
        ("UPLOAD_BUCKET", "Not_A_Bucket"),
        ("AWS_REGION", "us-east-1"),
        ("DB_POOL_MAX", "0"),
    ])
    .unwrap_err();
    assert_eq!(e.var, "DATABASE_URL");
    let e = load(&[
        ("DATABASE_URL", "postgres://u@127.0.0.1/x"),
        ("UPLOAD_BUCKET", "eq-uploads-dev"),
        ("AWS_REGION", "us-east-1"),
        ("DB_POOL_MAX", "0"),
        ("S3_ENDPOINT_URL", "localhost:9000"),
    ])
    .unwrap_err();
    assert_eq!(e.var, "S3_ENDPOINT_URL");
}

#[test]
fn debug_never_prints_secrets() {
    let mut pairs = BASE.to_vec();
    pairs.push((
        "INTERNAL_JWT_SECRET",
        "0123456789abcdef0123456789abcdef-jwt",
    ));
    let c = load(&pairs).unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("hunter2-secret"), "{dbg}");
    assert!(
        !dbg.contains("0123456789abcdef0123456789abcdef-jwt"),
        "{dbg}"
    );
    assert!(dbg.contains("REDACTED"));
    assert_eq!(c.jwt.as_ref().unwrap().issuer, "eq-frontend");
    assert_eq!(c.jwt.as_ref().unwrap().audience, "eq-backend");
}

#[test]
fn redact_url_handles_both_forms() {
    assert_eq!(
        redact_url("postgres://u:pw@h/db"),
        "postgres://u:REDACTED@h/db"
    );
    assert_eq!(
        redact_url("host=h password=pw dbname=x"),
        "host=h password=REDACTED dbname=x"
    );
}

#[test]
fn the_handoff_bus_is_a_name_or_an_arn_and_unset_means_no_handoff() {
    assert_eq!(load(BASE).unwrap().handoff_event_bus, None);
    for ok in [
        "default",
        "uploads-dev.bus_1",
        "arn:aws:events:eu-west-1:123456789012:event-bus/uploads",
    ] {
        let mut pairs = BASE.to_vec();
        pairs.push(("HANDOFF_EVENT_BUS", ok));
        assert_eq!(load(&pairs).unwrap().handoff_event_bus.as_deref(), Some(ok));
    }
    for bad in [
        "has space",
        "arn:aws:s3:::bucket",
        "arn:aws:events:eu-west-1:123456789012:event-bus/",
    ] {
        let mut pairs = BASE.to_vec();
        pairs.push(("HANDOFF_EVENT_BUS", bad));
        let e = load(&pairs).unwrap_err();
        assert_eq!(e.var, "HANDOFF_EVENT_BUS", "{bad}");
    }
}
