//! Domain types. Parse, don't validate: once a value of these types exists it
//! is valid everywhere.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_newtype {
    ($name:ident, $what:literal) => {
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// Accepts any textual UUID form (hyphenated, simple, any case).
            pub fn parse(s: &str) -> Result<Self, IdError> {
                Uuid::parse_str(s.trim())
                    .map($name)
                    .map_err(|_| IdError { what: $what })
            }
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                $name(u)
            }
        }
    };
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is not a valid UUID")]
pub struct IdError {
    pub what: &'static str,
}

uuid_newtype!(JobId, "job id");
uuid_newtype!(TenantId, "tenant id");

impl JobId {
    /// A fresh random job id.
    pub fn new_random() -> Self {
        JobId(Uuid::new_v4())
    }

    /// The job id of an idempotent init: the same (tenant, key) always gives
    /// the same id, so the primary key itself enforces "one row per key".
    pub fn from_idempotency_key(tenant: TenantId, key: &str) -> Self {
        // Namespace for upload-job idempotency keys (a fixed random UUID).
        const NS: Uuid = Uuid::from_u128(0x6f0c_8a52_1d3b_4e7a_9c41_5b2e_7d90_a3f1);
        let mut name = Vec::with_capacity(16 + key.len());
        name.extend_from_slice(tenant.0.as_bytes());
        name.extend_from_slice(key.as_bytes());
        JobId(Uuid::new_v5(&NS, &name))
    }
}

/// `jobstatus` in Postgres. Sent and read as text (`$1::text::jobstatus`,
/// `status::text`) so no type-lookup round trip is ever needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Processing,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub const ALL: [JobStatus; 4] = [
        JobStatus::Queued,
        JobStatus::Processing,
        JobStatus::Succeeded,
        JobStatus::Failed,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Processing => "processing",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }

    pub fn is_terminal(&self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed)
    }

    /// The state machine: queued → processing → succeeded | failed, and
    /// queued → failed. Nothing else, in particular nothing out of a terminal
    /// state and nothing backwards.
    pub fn can_transition_to(&self, to: JobStatus) -> bool {
        matches!(
            (self, to),
            (JobStatus::Queued, JobStatus::Processing)
                | (JobStatus::Queued, JobStatus::Failed)
                | (JobStatus::Processing, JobStatus::Succeeded)
                | (JobStatus::Processing, JobStatus::Failed)
        )
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct EnumError {
    pub what: &'static str,
    pub value: String,
}

impl FromStr for JobStatus {
    type Err = EnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobStatus::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| EnumError {
                what: "job status",
                value: s.to_owned(),
            })
    }
}

/// `jobtype` in Postgres.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum JobType {
    #[default]
    AudioTranscription,
    TextProcessing,
}

impl JobType {
    pub const ALL: [JobType; 2] = [JobType::AudioTranscription, JobType::TextProcessing];

    pub fn as_str(&self) -> &'static str {
        match self {
            JobType::AudioTranscription => "audio_transcription",
            JobType::TextProcessing => "text_processing",
        }
    }
}

impl fmt::Display for JobType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobType {
    type Err = EnumError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobType::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| EnumError {
                what: "job type",
                value: s.to_owned(),
            })
    }
}

/// The longest safe file name, in UTF-8 bytes (a common file-system limit;
/// keeps every key far below S3's 1024 bytes).
pub const MAX_SAFE_NAME_BYTES: usize = 255;
/// Longest extension kept when a name is shortened.
const MAX_EXT_BYTES: usize = 16;
/// The name used when nothing usable is left.
const FALLBACK_NAME: &str = "upload";

/// A file name that is safe as the last segment of an object key: no path
/// separators, no control or bidi-override characters, no leading dot or
/// space, at most [`MAX_SAFE_NAME_BYTES`] bytes with the extension kept, never
/// empty. Sanitising is idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SafeFileName(String);

impl SafeFileName {
    pub fn new(raw: &str) -> Self {
        // Browsers (and old IE's "C:\fakepath\x.wav") may send a path: keep
        // the last segment.
        let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
        let cleaned: String = base.chars().filter(|c| !is_unsafe_char(*c)).collect();
        let trimmed = cleaned
            .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
            .trim_end();
        let bounded = truncate_keeping_extension(trimmed, MAX_SAFE_NAME_BYTES);
        // Truncation may expose trailing white space.
        let bounded = bounded.trim_end();
        if bounded.is_empty() {
            SafeFileName(FALLBACK_NAME.to_owned())
        } else {
            SafeFileName(bounded.to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SafeFileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || c == '/'
        || c == '\\'
        // zero-width and bidirectional formatting characters (spoofing)
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let ext = name
        .rfind('.')
        .filter(|&i| i > 0)
        .map(|i| &name[i..])
        .filter(|e| e.len() <= MAX_EXT_BYTES && e[1..].chars().all(|c| c.is_alphanumeric()));
    match ext {
        Some(ext) => {
            let stem = &name[..name.len() - ext.len()];
            let keep = floor_char_boundary(stem, max - ext.len());
            let stem = stem[..keep].trim_end();
            format!("{stem}{ext}")
        }
        None => name[..floor_char_boundary(name, max)].to_owned(),
    }
}

/// An object key in the one layout the service uses:
/// `tenant/{tenant_id}/uploads/{job_id}/{safe_name}`. Built and parsed only here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey {
    tenant: TenantId,
    job: JobId,
    name: SafeFileName,
    key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key is not under tenant/{{tenant_id}}/uploads/{{job_id}}/")]
    Layout,
    #[error("key has an invalid {0}")]
    BadId(&'static str),
    #[error("key's file name is not in its safe form")]
    UnsafeName,
    #[error("key is longer than 1024 bytes")]
    TooLong,
}

/// S3's key length limit.
pub const MAX_KEY_BYTES: usize = 1024;

impl FileKey {
    pub fn build(tenant: TenantId, job: JobId, name: SafeFileName) -> Self {
        let key = format!("tenant/{}/uploads/{}/{}", tenant, job, name.as_str());
        debug_assert!(key.len() <= MAX_KEY_BYTES);
        FileKey {
            tenant,
            job,
            name,
            key,
        }
    }

    /// Parses a (URL-decoded) key. Only keys this service could have built are
    /// accepted: canonical lower-case UUIDs and a file name already in its
    /// safe form.
    pub fn parse(key: &str) -> Result<Self, KeyError> {
        if key.len() > MAX_KEY_BYTES {
            return Err(KeyError::TooLong);
        }
        let rest = key.strip_prefix("tenant/").ok_or(KeyError::Layout)?;
        let (tenant, rest) = rest.split_once('/').ok_or(KeyError::Layout)?;
        let rest = rest.strip_prefix("uploads/").ok_or(KeyError::Layout)?;
        let (job, name) = rest.split_once('/').ok_or(KeyError::Layout)?;
        let tenant = canonical_uuid(tenant).ok_or(KeyError::BadId("tenant id"))?;
        let job = canonical_uuid(job).ok_or(KeyError::BadId("job id"))?;
        if name.is_empty() || name.contains('/') {
            return Err(KeyError::Layout);
        }
        let safe = SafeFileName::new(name);
        if safe.as_str() != name {
            return Err(KeyError::UnsafeName);
        }
        Ok(FileKey {
            tenant: TenantId(tenant),
            job: JobId(job),
            name: safe,
            key: key.to_owned(),
        })
    }

    /// The prefix every key of a tenant starts with.
    pub fn tenant_prefix(tenant: TenantId) -> String {
        format!("tenant/{tenant}/")
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }
    pub fn job(&self) -> JobId {
        self.job
    }
    pub fn name(&self) -> &SafeFileName {
        &self.name
    }
    pub fn as_str(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

fn canonical_uuid(s: &str) -> Option<Uuid> {
    let u = Uuid::parse_str(s).ok()?;
    (u.hyphenated().to_string() == s).then_some(u)
}

/// One `upload_jobs` row (every column this service knows; extra columns added
/// by other services are never selected).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UploadJob {
    pub id: JobId,
    pub tenant_id: TenantId,
    pub user_id: String,
    pub job_type: JobType,
    pub status: JobStatus,
    pub file_key: String,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    pub file_size: Option<i64>,
    pub interaction_id: Uuid,
    pub trace_id: Option<String>,
    pub account_id: Option<String>,
    pub error_message: Option<String>,
    pub error_code: Option<String>,
    pub result_summary: Option<String>,
    pub metadata_json: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_the_state_machine() {
        use JobStatus::*;
        let allowed = [
            (Queued, Processing),
            (Queued, Failed),
            (Processing, Succeeded),
            (Processing, Failed),
        ];
        for from in JobStatus::ALL {
            for to in JobStatus::ALL {
                assert_eq!(
                    from.can_transition_to(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn sanitiser_examples() {
        let cases = [
            (
                "Réunion équipe+notes (1).wav",
                "Réunion équipe+notes (1).wav",
            ),
            ("../../etc/passwd", "passwd"),
            ("C:\\fakepath\\take 1.wav", "take 1.wav"),
            (".hidden.wav", "hidden.wav"),
            ("  . .x", "x"),
            ("a\u{0}b\nc\u{7f}.wav", "abc.wav"),
            ("evil\u{202E}vaw.exe", "evilvaw.exe"),
            ("", "upload"),
            ("...", "upload"),
            ("dir/", "upload"),
            ("100% a&b #1.mp3", "100% a&b #1.mp3"),
        ];
        for (raw, want) in cases {
            assert_eq!(SafeFileName::new(raw).as_str(), want, "{raw:?}");
        }
    }

    #[test]
    fn long_names_keep_their_extension() {
        let long = format!("{}.flac", "é".repeat(300));
        let safe = SafeFileName::new(&long);
        assert!(safe.as_str().len() <= MAX_SAFE_NAME_BYTES);
        assert!(safe.as_str().ends_with(".flac"));
        let no_ext = "x".repeat(400);
        assert_eq!(
            SafeFileName::new(&no_ext).as_str().len(),
            MAX_SAFE_NAME_BYTES
        );
    }

    #[test]
    fn key_layout_round_trips_and_rejects_foreign_keys() {
        let t = TenantId(Uuid::new_v4());
        let j = JobId(Uuid::new_v4());
        let k = FileKey::build(t, j, SafeFileName::new("a b+c.wav"));
        assert_eq!(k.as_str(), format!("tenant/{t}/uploads/{j}/a b+c.wav"));
        assert!(k.as_str().starts_with(&FileKey::tenant_prefix(t)));
        let p = FileKey::parse(k.as_str()).unwrap();
        assert_eq!(p, k);

        let bad = [
            "other/x",
            "tenant/not-a-uuid/uploads/00000000-0000-0000-0000-000000000000/a.wav",
            &format!("tenant/{t}/uploads/{j}/"),
            &format!("tenant/{t}/uploads/{j}/sub/a.wav"),
            &format!("tenant/{t}/other/{j}/a.wav"),
            &format!("tenant/{}/uploads/{j}/a.wav", t.0.simple()),
            &format!("tenant/{}/uploads/{j}/a.wav", t.to_string().to_uppercase()),
            &format!("tenant/{t}/uploads/{j}/.a.wav"),
        ];
        for key in bad {
            assert!(FileKey::parse(key).is_err(), "{key}");
        }
    }

    #[test]
    fn idempotency_ids_are_deterministic_and_tenant_scoped() {
        let t1 = TenantId(Uuid::new_v4());
        let t2 = TenantId(Uuid::new_v4());
        assert_eq!(
            JobId::from_idempotency_key(t1, "k-1"),
            JobId::from_idempotency_key(t1, "k-1")
        );
        assert_ne!(
            JobId::from_idempotency_key(t1, "k-1"),
            JobId::from_idempotency_key(t2, "k-1")
        );
        assert_ne!(
            JobId::from_idempotency_key(t1, "k-1"),
            JobId::from_idempotency_key(t1, "k-2")
        );
    }
}
