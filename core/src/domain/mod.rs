//! Domain types. Parse, don't validate: once a value of these types exists it
//! is valid everywhere.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod key;

pub use key::{FileKey, KeyError, MAX_KEY_BYTES, MAX_SAFE_NAME_BYTES, SafeFileName};

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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct EnumError {
    pub what: &'static str,
    pub value: String,
}

/// `Display` and `FromStr` for an enum stored as text, from its `ALL` and
/// `as_str`.
macro_rules! text_enum {
    ($name:ident, $what:literal) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = EnumError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| EnumError {
                        what: $what,
                        value: s.to_owned(),
                    })
            }
        }
    };
}

text_enum!(JobStatus, "job status");
text_enum!(JobType, "job type");

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
