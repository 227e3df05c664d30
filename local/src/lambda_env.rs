//! `{data-dir}/lambda.env`: the environment that points the real Lambda
//! binaries at this stack, for `cargo lambda watch --env-file
//! .local-stack/lambda.env` (README, "Trying payloads"). Written each time
//! the stack is ready: the database's and EventBridge's ports change with
//! every start.

use std::path::{Path, PathBuf};

use crate::s3server;

/// The stack's endpoints, as the functions' variables need them.
pub struct LambdaEnv<'a> {
    /// The unredacted URL: the functions connect with it.
    pub database_url: &'a str,
    pub bucket: &'a str,
    pub s3_url: &'a str,
    pub region: &'a str,
    /// The local `PutEvents` endpoint.
    pub eventbridge_url: &'a str,
    /// The bus the local events handler puts hand-offs on.
    pub bus: &'a str,
}

/// Optional settings passed on as the stack has them, so the functions under
/// `cargo lambda watch` behave as the stack's own (e.g.
/// `UPLOAD_URL_TTL_SECONDS=30 cargo run --bin local-stack`).
const PASSED_ON: &[&str] = &[
    "UPLOAD_URL_TTL_SECONDS",
    "MAX_UPLOAD_BYTES",
    "PROCESSING_TIMEOUT_MINUTES",
    "INTERNAL_JWT_SECRET",
    "INTERNAL_JWT_ISSUER",
    "INTERNAL_JWT_AUDIENCE",
    "REAPER_GRACE_SECONDS",
    "REAPER_MIN_UPLOAD_BYTES_PER_SECOND",
    "REAPER_BATCH_SIZE",
    "MULTIPART_ABORT_AFTER_DAYS",
    "DB_POOL_MAX",
    "DB_CONNECT_TIMEOUT_MS",
    "DB_STATEMENT_TIMEOUT_MS",
    "DB_MAX_IDLE_SECONDS",
];

/// Writes `{dir}/lambda.env` for the stack's `config` and endpoints; a
/// failure is a warning (the stack works without it).
pub(crate) fn write_for(
    dir: &Path,
    database_url: &str,
    s3_url: &str,
    config: &upload_core::Config,
    eventbridge_url: &str,
) {
    let env = LambdaEnv {
        database_url,
        bucket: &config.upload_bucket,
        s3_url,
        region: &config.aws_region,
        eventbridge_url,
        bus: config.handoff_event_bus.as_deref().unwrap_or("default"),
    };
    if let Err(e) = env.write(dir) {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot write lambda.env");
    }
}

impl LambdaEnv<'_> {
    /// `KEY=VALUE` lines (no quoting: cargo-lambda's `--env-file` takes the
    /// value verbatim), `lookup` giving the optional settings.
    pub fn render(&self, lookup: impl Fn(&str) -> Option<String>) -> String {
        let mut out = String::from(
            "# Written by local-stack when ready; rewritten at every start (ports change).\n\
             # For: cargo lambda watch --invoke-port 9001 --env-file <this file> (README, \"Trying payloads\")\n",
        );
        let fixed = [
            ("DATABASE_URL", self.database_url),
            ("UPLOAD_BUCKET", self.bucket),
            ("AWS_REGION", self.region),
            ("S3_ENDPOINT_URL", self.s3_url),
            ("AWS_ACCESS_KEY_ID", s3server::ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", s3server::SECRET_KEY),
            ("ALLOW_LEGACY_HEADER_AUTH", "true"),
            ("HANDOFF_EVENT_BUS", self.bus),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE", self.eventbridge_url),
        ];
        for (k, v) in fixed {
            out.push_str(&format!("{k}={v}\n"));
        }
        for k in PASSED_ON {
            if let Some(v) = lookup(k).filter(|v| !v.is_empty() && !v.contains('\n')) {
                out.push_str(&format!("{k}={v}\n"));
            }
        }
        out
    }

    /// Writes `{dir}/lambda.env` (mode 0600: it may hold a password).
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join("lambda.env");
        let tmp = dir.join("lambda.env.tmp");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(self.render(|k| std::env::var(k).ok()).as_bytes())?;
        drop(f);
        std::fs::rename(&tmp, &path)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_names_every_required_setting_and_what_the_stack_was_given() {
        let env = LambdaEnv {
            database_url: "postgres://postgres@127.0.0.1:5433/upload_jobs",
            bucket: "local-uploads",
            s3_url: "http://127.0.0.1:9000",
            region: "us-east-1",
            eventbridge_url: "http://127.0.0.1:41234",
            bus: "default",
        };
        let text = env.render(|k| (k == "UPLOAD_URL_TTL_SECONDS").then(|| "30".to_owned()));
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "DATABASE_URL=postgres://postgres@127.0.0.1:5433/upload_jobs",
                "UPLOAD_BUCKET=local-uploads",
                "AWS_REGION=us-east-1",
                "S3_ENDPOINT_URL=http://127.0.0.1:9000",
                "AWS_ACCESS_KEY_ID=local-access-key",
                "AWS_SECRET_ACCESS_KEY=local-secret-key",
                "ALLOW_LEGACY_HEADER_AUTH=true",
                "HANDOFF_EVENT_BUS=default",
                "AWS_ENDPOINT_URL_EVENTBRIDGE=http://127.0.0.1:41234",
                "UPLOAD_URL_TTL_SECONDS=30",
            ]
        );
        let config = upload_core::Config::from_lookup(|k| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                .map(str::to_owned)
        })
        .expect("the functions' configuration");
        assert!(config.allow_legacy_header_auth);
        assert_eq!(config.handoff_event_bus.as_deref(), Some("default"));
    }
}
