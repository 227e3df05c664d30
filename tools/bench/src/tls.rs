//! Cold start with TLS to PostgreSQL, as against Neon: a throwaway cluster
//! with `ssl=on` and TCP over TLS only (`upload_testkit::tls_cluster`), its
//! certificate for `localhost` signed by a test CA made at run time; the
//! functions connect with `sslmode=verify-full` to host `localhost` and
//! trust that CA through `DATABASE_EXTRA_ROOT_CERT`. The API (spawn → first
//! `/upload/init` answer) and bench-probe (spawn → first INSERT) alternate,
//! for each build given, against the same cluster.

use std::path::Path;

use upload_testkit::tls_cluster::TlsCluster;

use crate::fixtures::{base_env, init_request};
use crate::lambda::cold_pair;
use crate::report::{Row, row};

pub const COLD_TARGET: &str = "≤ 1.5× probe and ≤ 15 ms";
const WHAT: &str = "cold start upload-api over TLS";

fn what(label: &str) -> String {
    format!(
        "{WHAT}, {label} (spawn → first /upload/init response; verify-full to localhost, test CA)"
    )
}

/// One row per build: `(directory of the binaries, label)`.
pub async fn tls_rows(builds: &[(&Path, &str)], runs: usize) -> Vec<Row> {
    let unmeasured = |why: String| -> Vec<Row> {
        builds
            .iter()
            .map(|(_, label)| Row::not_measured(&what(label), COLD_TARGET, &why))
            .collect()
    };
    let cluster = match TlsCluster::start() {
        Ok(c) => c,
        Err(e) => return unmeasured(format!("no TLS PostgreSQL could be started: {e}")),
    };
    let name = match cluster.create_database().await {
        Ok(n) => n,
        Err(e) => return unmeasured(format!("TLS PostgreSQL: creating the database: {e}")),
    };
    let mut env = base_env(&cluster.url(&name));
    env.push((
        upload_core::db::EXTRA_ROOT_CERT_VAR.to_owned(),
        cluster.ca_pem.display().to_string(),
    ));
    let mut rows = Vec::new();
    for (dir, label) in builds {
        let api = dir.join("upload-api");
        let probe = dir.join("bench-probe");
        let (ours, floor) = cold_pair(&api, &probe, &env, init_request, runs).await;
        rows.push(row(&what(label), ours, COLD_TARGET, "").with_floor(floor));
    }
    rows
}

/// The AWS_LC_SYS_NO_JITTER_ENTROPY decision (.cargo/config.toml sets it;
/// bench.sh's comparison build does not), read off the TLS cold start
/// of upload-api (plaintext beside it): `(default build, comparison build)`
/// medians in ms; `None` when the TLS pair was not measured.
pub fn jitter_line(
    tls: (Option<f64>, Option<f64>),
    plain: (Option<f64>, Option<f64>),
    compare_label: &str,
) -> Option<String> {
    let change = |(a, b): (Option<f64>, Option<f64>)| {
        let (a, b) = (a?, b?);
        Some(format!(
            "{a:.2} ms → {b:.2} ms ({:+.2} ms, {:+.0} %)",
            b - a,
            (b - a) / a * 100.0
        ))
    };
    let tls = change(tls)?;
    let plain = change(plain).unwrap_or_else(|| "not measured".into());
    Some(format!(
        "AWS_LC_SYS_NO_JITTER_ENTROPY, decided on the TLS figure: median cold start of upload-api over TLS, default build → {compare_label}: {tls}. Plaintext, for comparison only: {plain}. The default build sets AWS_LC_SYS_NO_JITTER_ENTROPY=1 (.cargo/config.toml): a positive change (the comparison slower) confirms it."
    ))
}
