//! The TLS cluster: `sslmode=verify-full` to `localhost` with the test CA as
//! the extra root connects over TLS; the web PKI roots alone refuse the
//! certificate; plain TCP has no way in.

use upload_core::Db;
use upload_core::db::{DbSettings, ExtraRoots};
use upload_testkit::pg_cluster::ClusterError;
use upload_testkit::tls_cluster::TlsCluster;

#[tokio::test]
async fn verify_full_with_the_test_ca_is_tls_and_nothing_else_gets_in() {
    let c = match TlsCluster::start() {
        Ok(c) => c,
        Err(ClusterError::NoBinaries) => {
            eprintln!("skipped: no PostgreSQL binaries");
            return;
        }
        Err(e) => panic!("TLS cluster: {e}"),
    };
    let name = c.create_database().await.unwrap();

    let mut s = DbSettings::new(c.url(&name)).unwrap();
    s.extra_roots = Some(ExtraRoots::read(&c.ca_pem).unwrap());
    let rows = Db::new(s)
        .query(
            "SELECT ssl, (SELECT count(*) FROM upload_jobs) FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    assert!(rows[0].get::<_, bool>(0), "the connection is TLS");
    assert_eq!(rows[0].get::<_, i64>(1), 0, "migrations applied");

    let web_pki_only = Db::new(DbSettings::new(c.url(&name)).unwrap());
    let e = web_pki_only.query("SELECT 1", &[]).await.unwrap_err();
    assert!(e.to_string().contains("certificate"), "{e}");

    let plain = format!(
        "postgres://postgres@localhost:{}/{name}?sslmode=disable",
        c.port()
    );
    let e = Db::new(DbSettings::new(plain).unwrap())
        .query("SELECT 1", &[])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("pg_hba.conf"), "{e}");
}
