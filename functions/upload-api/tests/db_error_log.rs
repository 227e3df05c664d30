//! A database error is logged with its SQLSTATE and the server's message,
//! never the statement's parameters, and answered with a plain 500.
//!
//! Alone in its test binary: it captures logs with a thread-local
//! subscriber, and tracing's per-callsite interest cache is shared by every
//! thread of the process, so tests logging in parallel could hide lines
//! from it.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::{Value, json};

/// Collects what the subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn a_database_error_is_logged_with_its_sqlstate_and_message() {
    let app = TestApp::new().await;
    app.t
        .client()
        .await
        .batch_execute("DROP TABLE upload_jobs")
        .await
        .unwrap();
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(logs.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let mut body = init_body();
    body["metadata"] = json!({"secret-ish": "parameter-value-123"});
    let r = Request::builder()
        .method("POST")
        .uri("/upload/init")
        .header("authorization", format!("Bearer {}", good_token(TENANT)))
        .body(Body::from(body.to_string()))
        .unwrap();
    let (st, _, b) = app.call(r).await;
    drop(guard);
    assert_eq!(st, StatusCode::INTERNAL_SERVER_ERROR, "{b}");
    assert_eq!(b["code"], "INTERNAL");
    assert!(
        !b.to_string().contains("42P01"),
        "never in the response: {b}"
    );

    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line: Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == "database error")
        .unwrap_or_else(|| panic!("no database error line in:\n{text}"));
    assert_eq!(line["fields"]["sqlstate"], "42P01", "{line}");
    let error = line["fields"]["error"].as_str().unwrap();
    assert!(error.contains("SQLSTATE 42P01"), "{error}");
    assert!(
        error.contains(r#"relation "upload_jobs" does not exist"#),
        "{error}"
    );
    assert!(
        !text.contains("parameter-value-123"),
        "no parameters: {text}"
    );
}
