//! TLS to the database (Neon): rustls with aws-lc-rs.

use std::sync::Arc;

use tokio_postgres_rustls::MakeRustlsConnect;

use super::TlsPolicy;

/// The rustls connector: web PKI roots compiled into the binary, so nothing is
/// read from the file system at cold start. With TLS disabled the root store
/// stays empty (it is never used).
pub fn tls_connector(policy: TlsPolicy) -> MakeRustlsConnect {
    let mut roots = rustls::RootCertStore::empty();
    if policy == TlsPolicy::Verified {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    tls_connector_with_roots(roots)
}

/// The connector with an explicit root store (tests use a private CA).
pub fn tls_connector_with_roots(roots: rustls::RootCertStore) -> MakeRustlsConnect {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    MakeRustlsConnect::new(config)
}
