//! TLS to a "remote" Postgres: the server certificate is verified and SNI is
//! sent. A fake server answers the SSLRequest and completes a rustls
//! handshake with a certificate from a private CA.

mod common;

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use upload_core::db::DbSettings;
use upload_core::{Db, DbError, JobId, TenantId, repo};

/// Starts the fake server; returns its port, the CA's certificate and the SNI names seen.
async fn fake_tls_postgres() -> (
    u16,
    rustls::pki_types::CertificateDer<'static>,
    Arc<Mutex<Vec<String>>>,
) {
    let (config, cert_der, _) = common::self_signed_localhost();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sni = Arc::new(Mutex::new(Vec::new()));
    let seen = sni.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut req = [0u8; 8];
                if sock.read_exact(&mut req).await.is_err() {
                    return;
                }
                // SSLRequest: length 8, code 80877103.
                assert_eq!(&req[4..], &80877103u32.to_be_bytes());
                sock.write_all(b"S").await.unwrap();
                if let Ok(mut tls) = acceptor.accept(sock).await {
                    if let Some(name) = tls.get_ref().1.server_name() {
                        seen.lock().unwrap().push(name.to_owned());
                    }
                    // Not a real server: end the session after the handshake.
                    let mut buf = [0u8; 512];
                    let _ = tls.read(&mut buf).await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    (port, cert_der, sni)
}

fn unavailable_text(e: DbError) -> String {
    match e {
        DbError::Unavailable(s) => s,
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_and_a_trusted_one_passes_the_handshake() {
    let (port, ca, sni) = fake_tls_postgres().await;
    let url = format!("postgres://app:pw@localhost:{port}/neondb?sslmode=require");

    // Web PKI roots only: the private certificate is refused.
    let db = Db::new(DbSettings::new(&url).unwrap());
    let e = repo::get_job(&db, TenantId(uuid::Uuid::new_v4()), JobId::new_random())
        .await
        .unwrap_err();
    let text = unavailable_text(e);
    assert!(
        text.to_lowercase().contains("certificate") || text.contains("UnknownIssuer"),
        "{text}"
    );

    // Trusting that CA: the handshake succeeds (the fake server then hangs
    // up, so the error is about the closed session, not the certificate).
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca).unwrap();
    let db = Db::with_roots(DbSettings::new(&url).unwrap(), roots);
    let e = repo::get_job(&db, TenantId(uuid::Uuid::new_v4()), JobId::new_random())
        .await
        .unwrap_err();
    let text = unavailable_text(e);
    assert!(!text.to_lowercase().contains("certificate"), "{text}");
    // SNI carried the host name.
    assert!(sni.lock().unwrap().iter().any(|n| n == "localhost"));
}
