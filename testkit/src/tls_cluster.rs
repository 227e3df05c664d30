//! A throwaway PostgreSQL that speaks TLS as Neon does, for measuring the
//! functions' cold start with the TLS handshake in it.
//!
//! * `ssl=on` with a server certificate for `localhost` (and `127.0.0.1`,
//!   `::1`) signed by a test CA generated at start (rcgen, ECDSA P-256); the
//!   CA's PEM is written next to it for `DATABASE_EXTRA_ROOT_CERT`.
//! * TCP connections are accepted only over TLS (`hostssl` lines, no `host`
//!   lines): a client that did not negotiate TLS cannot get in, so every
//!   figure measured against [`TlsCluster::url`] includes the handshake.
//! * The admin connection (creating databases, migrations) goes through the
//!   Unix socket, which needs no TLS.
//!
//! The cluster is stopped and its directory removed on drop.

use std::path::{Path, PathBuf};

use upload_migrate as migrate;

use crate::pg_cluster::{Cluster, ClusterError, Options, chown, free_port, unprivileged_user};

/// A running TLS-only cluster.
pub struct TlsCluster {
    cluster: Cluster,
    /// The test CA's certificate (PEM): the extra root the clients trust.
    pub ca_pem: PathBuf,
}

fn step(step: &'static str) -> impl Fn(String) -> ClusterError {
    move |detail| ClusterError::Step { step, detail }
}

/// The test CA's certificate and the server's certificate and key, in PEM.
fn certificates() -> Result<(String, String, String), String> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose,
    };
    let e = |e: rcgen::Error| e.to_string();
    let ca_key = KeyPair::generate().map_err(e)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "upload-jobs throwaway test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).map_err(e)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().map_err(e)?;
    let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
    let mut server = CertificateParams::new(names).map_err(e)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let cert = server.signed_by(&key, &issuer).map_err(e)?;
    Ok((ca_cert.pem(), cert.pem(), key.serialize_pem()))
}

/// Writes `contents` to `path`; `private`: mode 0600. Owned by the server's
/// user (PostgreSQL refuses a key file others can read or it does not own).
fn write(path: &Path, contents: &str, private: bool) -> Result<(), ClusterError> {
    use std::os::unix::fs::PermissionsExt;
    let shown = |e: std::io::Error| format!("{}: {e}", path.display());
    std::fs::write(path, contents).map_err(|e| step("writing the TLS files")(shown(e)))?;
    let mode = if private { 0o600 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| step("writing the TLS files")(shown(e)))?;
    if let Some(ids) = unprivileged_user() {
        chown(path, ids);
    }
    Ok(())
}

impl TlsCluster {
    /// Generates the CA and the server certificate and starts the cluster
    /// in a fresh temporary directory on a free port (`initdb` included:
    /// about a second).
    pub fn start() -> Result<TlsCluster, ClusterError> {
        let dir = std::env::temp_dir().join(format!(
            "{}{}-tls-{}",
            crate::STALE_PREFIX,
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let tls = dir.join("tls");
        std::fs::create_dir_all(&tls).map_err(|e| {
            step("creating the cluster directory")(format!("{}: {e}", tls.display()))
        })?;
        let (ca, cert, key) = certificates().map_err(step("generating the certificates"))?;
        let ca_pem = tls.join("ca.pem");
        write(&ca_pem, &ca, false)?;
        write(&tls.join("server.crt"), &cert, false)?;
        write(&tls.join("server.key"), &key, true)?;
        write(
            &tls.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n",
            false,
        )?;
        let options = Options {
            listen_addresses: Some("localhost".into()),
            settings: vec![
                "ssl=on".into(),
                format!("ssl_cert_file={}", tls.join("server.crt").display()),
                format!("ssl_key_file={}", tls.join("server.key").display()),
                format!("hba_file={}", tls.join("pg_hba.conf").display()),
            ],
        };
        let cluster = match Cluster::start_with(&dir, free_port(), true, &options) {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        Ok(TlsCluster { cluster, ca_pem })
    }

    pub fn port(&self) -> u16 {
        self.cluster.port
    }

    /// What a function is given: host `localhost`, `sslmode=verify-full`
    /// (with `DATABASE_EXTRA_ROOT_CERT` = [`TlsCluster::ca_pem`]).
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres@localhost:{}/{database}?sslmode=verify-full",
            self.cluster.port
        )
    }

    /// The admin connection string: the Unix socket, no TLS.
    fn socket_url(&self, database: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={database}",
            self.cluster.dir.display(),
            self.cluster.port
        )
    }

    /// Creates a fresh database with every migration applied; returns its name.
    pub async fn create_database(&self) -> Result<String, migrate::MigrateError> {
        let name = format!("tls_{}", uuid::Uuid::new_v4().simple());
        let admin = migrate::connect_url(&self.socket_url("postgres")).await?;
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .map_err(|e| migrate::MigrateError::Io(e.to_string()))?;
        let client = migrate::connect_url(&self.socket_url(&name)).await?;
        let migrations = migrate::load_dir(&crate::migrations_dir())?;
        migrate::up(&client, &migrations).await?;
        Ok(name)
    }
}

impl Drop for TlsCluster {
    fn drop(&mut self) {
        self.cluster.stop();
    }
}
