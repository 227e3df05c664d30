//! A database error says what the server said: its SQLSTATE and message,
//! never the statement's parameters.

mod common;

use common::*;
use upload_core::repo;
use upload_core::{DbError, TenantId};
use upload_testkit::TestDb;
use uuid::Uuid;

#[tokio::test]
async fn a_server_error_names_its_sqlstate_and_message() {
    let t = TestDb::new().await;
    let tenant = TenantId(Uuid::new_v4());
    let mut job = new_job(tenant, "a.wav", Some(1));
    job.account_id = Some("param-value-987".into());

    // U+0000 in a text parameter: the server refuses it (22021).
    job.file_name = "a\u{0}b.wav".into();
    let err = repo::create_queued_job(&t.db, &job).await.unwrap_err();
    assert!(matches!(err, DbError::Query(_)), "{err:?}");
    assert_eq!(err.sqlstate(), Some("22021"));
    let text = err.to_string();
    assert!(
        text.starts_with("database error: SQLSTATE 22021: invalid byte sequence"),
        "{text}"
    );
    assert!(!text.contains("param-value-987"), "{text}");
    assert!(!err.is_transient());

    // A missing table (42P01).
    t.client()
        .await
        .batch_execute("DROP TABLE upload_jobs")
        .await
        .unwrap();
    job.file_name = "a.wav".into();
    let err = repo::create_queued_job(&t.db, &job).await.unwrap_err();
    assert_eq!(err.sqlstate(), Some("42P01"));
    assert_eq!(
        err.to_string(),
        r#"database error: SQLSTATE 42P01: relation "upload_jobs" does not exist"#
    );
    // Not a server error: no SQLSTATE.
    assert_eq!(DbError::Decode("x".into()).sqlstate(), None);
}
