//! The SDK clients' HTTPS client against AWS (`upload_core::aws`) verifies
//! server certificates against the Amazon Trust Services roots only. The
//! test's server certificate is made trusted by the platform store
//! (`SSL_CERT_FILE`, read by the SDK's default client): the default client
//! completes the handshake, ours refuses it (`UnknownCA`) and the request
//! never reaches the server.
#![cfg(feature = "s3")]

mod common;

use std::sync::{Arc, Mutex};

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
use aws_types::SdkConfig;
use aws_types::region::Region;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// An HTTPS server for `localhost` with a self-signed certificate; returns
/// its port, the certificate (PEM) and each handshake's outcome as the
/// server saw it.
async fn https_server() -> (u16, String, Arc<Mutex<Vec<String>>>) {
    let (config, _, pem) = common::self_signed_localhost();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let seen = outcomes.clone();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let outcome = match acceptor.accept(sock).await {
                Ok(_) => "handshake completed".to_owned(),
                Err(e) => e.to_string(),
            };
            seen.lock().unwrap().push(outcome);
        }
    });
    (port, pem, outcomes)
}

/// One HEAD through an S3 client with `http` (None: the SDK's default
/// client) to the server; the error chain.
async fn head(
    port: u16,
    http: Option<aws_smithy_runtime_api::client::http::SharedHttpClient>,
) -> String {
    let mut sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            None,
            None,
            "test",
        )));
    if let Some(http) = http {
        sdk = sdk.http_client(http);
    }
    let config = aws_sdk_s3::config::Builder::from(&sdk.build())
        .endpoint_url(format!("https://localhost:{port}"))
        .force_path_style(true)
        .build();
    let err = aws_sdk_s3::Client::from_conf(config)
        .head_object()
        .bucket("eq-uploads-test")
        .key("k")
        .send()
        .await
        .expect_err("the server speaks no HTTP");
    format!("{}", aws_sdk_s3::error::DisplayErrorContext(&err))
}

#[tokio::test]
async fn a_certificate_the_platform_trusts_but_amazon_trust_services_does_not_is_refused() {
    let (port, pem, outcomes) = https_server().await;
    let file = std::env::temp_dir().join(format!("aws-https-{port}.pem"));
    std::fs::write(&file, pem).unwrap();
    // Before any client loads the platform store (once per process; this
    // binary has this one test).
    unsafe { std::env::set_var("SSL_CERT_FILE", &file) };
    unsafe { std::env::set_var("SSL_CERT_DIR", std::env::temp_dir().join("aws-https-none")) };

    let default = head(port, None).await;
    assert!(!default.contains("UnknownIssuer"), "{default}");
    assert_eq!(
        outcomes
            .lock()
            .unwrap()
            .drain(..)
            .collect::<Vec<_>>()
            .first()
            .map(String::as_str),
        Some("handshake completed"),
        "the platform store (SSL_CERT_FILE) trusts the server: {default}"
    );

    let ours = head(port, Some(upload_core::aws::amazon_trust_services_client())).await;
    assert!(
        ours.contains("UnknownIssuer") || ours.contains("invalid peer certificate"),
        "{ours}"
    );
    let seen = outcomes.lock().unwrap().clone();
    assert!(!seen.is_empty(), "the client connected");
    assert!(
        seen.iter().all(|o| o.contains("UnknownCA")),
        "every handshake refused by the client: {seen:?}"
    );
    let _ = std::fs::remove_file(file);
}
