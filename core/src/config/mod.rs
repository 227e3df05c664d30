//! Typed configuration from the environment (docs/contract.md, "Configuration").
//!
//! Loaded once at init. A missing or invalid setting is a [`ConfigError`] that
//! names the variable; the functions log it on one line and stop. Secrets are
//! wrapped so `Debug` never prints them.

use std::time::Duration;

use secrecy::SecretString;

use crate::db::{DbSettings, EXTRA_ROOT_CERT_VAR, ExtraRoots, ParsedUrl};

/// 500 MiB: the contract's "500 MB" default for `MAX_UPLOAD_BYTES`.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 500 * 1024 * 1024;
/// 256 KiB/s (~2 Mbit/s): the slowest upload link the reaper waits for.
pub const DEFAULT_REAPER_MIN_UPLOAD_BYTES_PER_SECOND: u64 = 262_144;
/// S3's presigned-URL ceiling (SigV4 allows at most 7 days).
pub const MAX_URL_TTL_SECONDS: u64 = 7 * 24 * 3600;
/// S3's single-PUT ceiling; a larger `MAX_UPLOAD_BYTES` could never be honoured.
pub const S3_SINGLE_PUT_LIMIT: u64 = 5 * 1024 * 1024 * 1024;

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("invalid configuration: {var} {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

impl ConfigError {
    fn new(var: &'static str, reason: impl Into<String>) -> Self {
        Self {
            var,
            reason: reason.into(),
        }
    }
}

/// Settings of the internal gateway JWT (identity option 1).
#[derive(Clone)]
pub struct JwtSettings {
    pub secret: SecretString,
    pub issuer: String,
    pub audience: String,
}

impl std::fmt::Debug for JwtSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSettings")
            .field("secret", &"[REDACTED]")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

#[derive(Clone)]
pub struct Config {
    /// `DATABASE_URL` (parsed once, TLS decided) and the `DB_*` pool settings.
    pub db: DbSettings,
    pub upload_bucket: String,
    pub aws_region: String,
    pub upload_url_ttl: Duration,
    pub max_upload_bytes: u64,
    pub processing_timeout: Duration,
    /// `None` when `INTERNAL_JWT_SECRET` is unset: bearer tokens are then refused.
    pub jwt: Option<JwtSettings>,
    pub allow_legacy_header_auth: bool,
    pub s3_endpoint_url: Option<String>,
    /// `HANDOFF_EVENT_BUS`: the EventBridge bus (name or ARN) the events
    /// function puts "Upload Received" on; `None`: no hand-off.
    pub handoff_event_bus: Option<String>,
    /// Extra time a queued job gets after its URL expired before the reaper looks at it.
    pub reaper_grace: Duration,
    /// The slowest upload the reaper still waits for, in bytes per second:
    /// a queued job's window also covers its (declared, else maximum) size
    /// at this rate, since S3 checks a URL's expiry only when the PUT starts.
    pub reaper_min_upload_bytes_per_second: u64,
    /// Jobs handled per reaper run and category.
    pub reaper_batch: i64,
    /// `MULTIPART_ABORT_AFTER_DAYS`: the bucket's abort-incomplete-multipart
    /// lifecycle. Until then the reaper leaves a job whose multipart upload
    /// is in progress; afterwards it aborts the upload and expires the job.
    pub multipart_abort_after: Duration,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("db", &self.db)
            .field("upload_bucket", &self.upload_bucket)
            .field("aws_region", &self.aws_region)
            .field("upload_url_ttl", &self.upload_url_ttl)
            .field("max_upload_bytes", &self.max_upload_bytes)
            .field("processing_timeout", &self.processing_timeout)
            .field("jwt", &self.jwt)
            .field("allow_legacy_header_auth", &self.allow_legacy_header_auth)
            .field("s3_endpoint_url", &self.s3_endpoint_url)
            .field("handoff_event_bus", &self.handoff_event_bus)
            .field("reaper_grace", &self.reaper_grace)
            .field(
                "reaper_min_upload_bytes_per_second",
                &self.reaper_min_upload_bytes_per_second,
            )
            .field("reaper_batch", &self.reaper_batch)
            .field("multipart_abort_after", &self.multipart_abort_after)
            .finish()
    }
}

/// The URL with any password replaced, for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("REDACTED"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        // Key/value form: drop any password=... token.
        Err(_) => url
            .split_whitespace()
            .map(|tok| {
                if tok.starts_with("password=") {
                    "password=REDACTED"
                } else {
                    tok
                }
            })
            .collect::<Vec<_>>()
            .join(" "),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// For a function's init: the configuration, or one error log line naming
    /// the setting and exit status 1.
    pub fn from_env_or_exit() -> Self {
        match Self::from_env() {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(setting = e.var, "{e}");
                std::process::exit(1);
            }
        }
    }

    /// Reads settings through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |k: &'static str| get(k).ok_or_else(|| ConfigError::new(k, "is not set"));
        // Checked in this order, so that with several bad settings the one
        // named is the same as it always was.
        let database_url = ParsedUrl::parse(&required("DATABASE_URL")?)
            .map_err(|e| ConfigError::new("DATABASE_URL", e.to_string()))?;
        let upload_bucket = required("UPLOAD_BUCKET")?;
        if !valid_bucket_name(&upload_bucket) {
            return Err(ConfigError::new(
                "UPLOAD_BUCKET",
                format!("is not a valid S3 bucket name ({upload_bucket:?})"),
            ));
        }
        let aws_region = get("AWS_REGION")
            .or_else(|| get("AWS_DEFAULT_REGION"))
            .ok_or_else(|| ConfigError::new("AWS_REGION", "is not set"))?;
        let ttl = int(&get, "UPLOAD_URL_TTL_SECONDS", 300, 1, MAX_URL_TTL_SECONDS)?;
        let max_upload_bytes = int(
            &get,
            "MAX_UPLOAD_BYTES",
            DEFAULT_MAX_UPLOAD_BYTES,
            1,
            S3_SINGLE_PUT_LIMIT,
        )?;
        let processing_minutes = int(&get, "PROCESSING_TIMEOUT_MINUTES", 30, 1, 7 * 24 * 60)?;
        Ok(Self {
            upload_bucket,
            aws_region,
            upload_url_ttl: Duration::from_secs(ttl),
            max_upload_bytes,
            processing_timeout: Duration::from_secs(processing_minutes * 60),
            jwt: jwt_settings(&get)?,
            allow_legacy_header_auth: boolean(&get, "ALLOW_LEGACY_HEADER_AUTH")?,
            s3_endpoint_url: s3_endpoint(&get)?,
            handoff_event_bus: handoff_bus(&get)?,
            db: db_settings(&get, database_url)?,
            reaper_grace: Duration::from_secs(int(&get, "REAPER_GRACE_SECONDS", 300, 0, 86_400)?),
            reaper_min_upload_bytes_per_second: int(
                &get,
                "REAPER_MIN_UPLOAD_BYTES_PER_SECOND",
                DEFAULT_REAPER_MIN_UPLOAD_BYTES_PER_SECOND,
                1,
                1 << 40,
            )?,
            reaper_batch: int(&get, "REAPER_BATCH_SIZE", 100, 1, 1000)? as i64,
            multipart_abort_after: Duration::from_secs(
                int(&get, "MULTIPART_ABORT_AFTER_DAYS", 1, 1, 365)? * 86_400,
            ),
        })
    }

    /// The database settings the pool is built from; `application_name`
    /// names the connections in `pg_stat_activity`.
    pub fn db_settings(&self, application_name: &str) -> DbSettings {
        DbSettings {
            application_name: Some(application_name.to_owned()),
            ..self.db.clone()
        }
    }
}

/// The pool's settings: `DATABASE_URL`, parsed once at init (a typo stops
/// init with a clear line instead of failing on the first request), and the
/// `DB_*` settings.
fn db_settings(
    get: &impl Fn(&str) -> Option<String>,
    url: ParsedUrl,
) -> Result<DbSettings, ConfigError> {
    let ms = |var, default, min, max| int(get, var, default, min, max).map(Duration::from_millis);
    Ok(DbSettings {
        url,
        pool_max: int(get, "DB_POOL_MAX", DbSettings::DEFAULT_POOL_MAX, 1, 64)? as usize,
        connect_timeout: ms(
            "DB_CONNECT_TIMEOUT_MS",
            DbSettings::DEFAULT_CONNECT_TIMEOUT_MS,
            100,
            60_000,
        )?,
        statement_timeout: ms(
            "DB_STATEMENT_TIMEOUT_MS",
            DbSettings::DEFAULT_STATEMENT_TIMEOUT_MS,
            100,
            600_000,
        )?,
        max_idle: Duration::from_secs(int(
            get,
            "DB_MAX_IDLE_SECONDS",
            DbSettings::DEFAULT_MAX_IDLE_SECONDS,
            1,
            3600,
        )?),
        application_name: None,
        // Test-only (a private CA for a local server): read here, once.
        extra_roots: get(EXTRA_ROOT_CERT_VAR)
            .map(|path| {
                ExtraRoots::read(path).map_err(|e| ConfigError::new(EXTRA_ROOT_CERT_VAR, e))
            })
            .transpose()?,
    })
}

fn jwt_settings(get: &impl Fn(&str) -> Option<String>) -> Result<Option<JwtSettings>, ConfigError> {
    match get("INTERNAL_JWT_SECRET") {
        None => Ok(None),
        Some(secret) if secret.len() < 32 => Err(ConfigError::new(
            "INTERNAL_JWT_SECRET",
            format!("must be at least 32 bytes (got {})", secret.len()),
        )),
        Some(secret) => Ok(Some(JwtSettings {
            secret: SecretString::from(secret),
            issuer: get("INTERNAL_JWT_ISSUER").unwrap_or_else(|| "eq-frontend".into()),
            audience: get("INTERNAL_JWT_AUDIENCE").unwrap_or_else(|| "eq-backend".into()),
        })),
    }
}

fn s3_endpoint(get: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(u) = get("S3_ENDPOINT_URL") else {
        return Ok(None);
    };
    match url::Url::parse(&u) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => Ok(Some(u)),
        _ => Err(ConfigError::new(
            "S3_ENDPOINT_URL",
            format!("must be an http(s) URL (got {u:?})"),
        )),
    }
}

/// `HANDOFF_EVENT_BUS`: an event bus name (`[/.\-_A-Za-z0-9]{1,256}`) or
/// an event bus ARN.
fn handoff_bus(get: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(bus) = get("HANDOFF_EVENT_BUS") else {
        return Ok(None);
    };
    let name_char = |c: char| c.is_ascii_alphanumeric() || "/.-_".contains(c);
    let valid = match bus.strip_prefix("arn:") {
        Some(arn) => {
            arn.len() <= 1600
                && arn.contains(":events:")
                && arn
                    .rsplit_once(":event-bus/")
                    .is_some_and(|(_, name)| !name.is_empty() && name.chars().all(name_char))
        }
        None => bus.len() <= 256 && bus.chars().all(name_char),
    };
    if valid {
        Ok(Some(bus))
    } else {
        Err(ConfigError::new(
            "HANDOFF_EVENT_BUS",
            format!("must be an event bus name or ARN (got {bus:?})"),
        ))
    }
}

/// A boolean setting, `false` when unset.
fn boolean(get: &impl Fn(&str) -> Option<String>, var: &'static str) -> Result<bool, ConfigError> {
    match get(var).as_deref() {
        None => Ok(false),
        Some(v) => parse_bool(v)
            .ok_or_else(|| ConfigError::new(var, format!("must be true or false (got {v:?})"))),
    }
}

fn int(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(raw) => match raw.parse::<u64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(ConfigError::new(
                var,
                format!("must be an integer from {min} to {max} (got {raw:?})"),
            )),
        },
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn valid_bucket_name(b: &str) -> bool {
    (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests;
