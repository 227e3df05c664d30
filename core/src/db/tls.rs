//! TLS to the database (Neon): rustls with aws-lc-rs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::TlsPolicy;

/// The test-only setting naming a PEM file of extra trusted roots.
pub const EXTRA_ROOT_CERT_VAR: &str = "DATABASE_EXTRA_ROOT_CERT";

/// Certificates trusted in addition to the built-in web PKI roots. Test-only
/// (`DATABASE_EXTRA_ROOT_CERT`): a local PostgreSQL whose certificate comes
/// from a private CA, as the benchmarks' TLS cluster has. Read once at init,
/// only when the setting is present; never set in a deployment.
#[derive(Clone)]
pub struct ExtraRoots {
    path: PathBuf,
    certs: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for ExtraRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtraRoots")
            .field("path", &self.path)
            .field("certificates", &self.certs.len())
            .finish()
    }
}

impl ExtraRoots {
    /// Reads every certificate of a PEM file; each must be usable as a
    /// trust anchor. The error says what is wrong, with the path (the caller
    /// names the setting).
    pub fn read(path: impl AsRef<Path>) -> Result<Self, String> {
        let path = path.as_ref();
        let shown = path.display();
        let pem = std::fs::read(path).map_err(|e| format!("cannot be read ({shown}: {e})"))?;
        let certs = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("is not a valid PEM file ({shown}: {e})"))?;
        if certs.is_empty() {
            return Err(format!("holds no PEM certificate ({shown})"));
        }
        let mut check = rustls::RootCertStore::empty();
        for c in &certs {
            check.add(c.clone()).map_err(|e| {
                format!("holds a certificate that is not a valid root ({shown}: {e})")
            })?;
        }
        Ok(Self {
            path: path.to_owned(),
            certs,
        })
    }

    pub fn certs(&self) -> &[CertificateDer<'static>] {
        &self.certs
    }
}

/// The rustls connector: web PKI roots compiled into the binary, so nothing is
/// read from the file system at cold start. With TLS disabled the root store
/// stays empty (it is never used).
pub fn tls_connector(policy: TlsPolicy) -> MakeRustlsConnect {
    tls_connector_for(policy, None)
}

/// [`tls_connector`] trusting `extra` roots too (test-only setting, read at
/// init; see [`ExtraRoots`]).
pub fn tls_connector_for(policy: TlsPolicy, extra: Option<&ExtraRoots>) -> MakeRustlsConnect {
    let mut roots = rustls::RootCertStore::empty();
    if policy == TlsPolicy::Verified {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(extra) = extra {
            // Checked when read: every certificate is a valid root.
            let (_added, _ignored) = roots.add_parsable_certificates(extra.certs.iter().cloned());
        }
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::{Config, ConfigError};

    fn load(extra: &str) -> Result<Config, ConfigError> {
        let map: HashMap<&str, &str> = [
            (
                "DATABASE_URL",
                "postgres://u@localhost:5432/db?sslmode=verify-full",
            ),
            ("UPLOAD_BUCKET", "eq-uploads-dev"),
            ("AWS_REGION", "us-east-1"),
            (EXTRA_ROOT_CERT_VAR, extra),
        ]
        .into_iter()
        .collect();
        Config::from_lookup(|k| map.get(k).map(|v| v.to_string()))
    }

    fn temp_file(name: &str, contents: &[u8]) -> PathBuf {
        let p = std::env::temp_dir().join(format!("extra-root-{}-{name}", std::process::id()));
        std::fs::write(&p, contents).unwrap();
        p
    }

    #[test]
    fn a_bad_extra_root_is_a_config_error_naming_the_setting() {
        let garbage = temp_file("garbage.pem", b"not a certificate\n");
        let bad_b64 = temp_file(
            "bad.pem",
            b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        );
        let not_a_cert = temp_file(
            "notcert.pem",
            b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
        );
        for (path, says) in [
            ("/nonexistent/ca.pem", "cannot be read"),
            (garbage.to_str().unwrap(), "holds no PEM certificate"),
            (bad_b64.to_str().unwrap(), "is not a valid PEM file"),
            (not_a_cert.to_str().unwrap(), "not a valid root"),
        ] {
            let e = load(path).unwrap_err();
            assert_eq!(e.var, EXTRA_ROOT_CERT_VAR);
            let text = e.to_string();
            assert!(text.contains("DATABASE_EXTRA_ROOT_CERT"), "{text}");
            assert!(text.contains(says) && text.contains(path), "{text}");
        }
        for p in [garbage, bad_b64, not_a_cert] {
            let _ = std::fs::remove_file(p);
        }
    }

    #[test]
    fn a_valid_extra_root_is_read_once_and_trusted_and_unset_reads_nothing() {
        let key = rcgen::KeyPair::generate().unwrap();
        let ca = rcgen::CertificateParams::new(vec!["test-ca".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let path = temp_file("ca.pem", ca.pem().as_bytes());
        let c = load(path.to_str().unwrap()).unwrap();
        let extra = c.db.extra_roots.as_ref().expect("read at init");
        assert_eq!(extra.certs().len(), 1);
        assert!(format!("{c:?}").contains("certificates: 1"));
        // The file is not read again: the pool builds from what was read.
        std::fs::remove_file(&path).unwrap();
        let _db = crate::Db::new(c.db_settings("test"));
        assert!(load("").unwrap().db.extra_roots.is_none());
    }
}
