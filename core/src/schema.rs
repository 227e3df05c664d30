//! The `upload_jobs` table as this service reads it, written once: the
//! repository's SELECT lists and `migrate verify` are both built from
//! [`JOB_COLUMNS`] and the enums' own label lists.

use std::sync::LazyLock;

use crate::domain::{JobStatus, JobType};

/// One column this service relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    /// Postgres' `udt_name` (`int8`, `timestamptz`, the enum's name...).
    pub udt: &'static str,
    pub not_null: bool,
}

const fn col(name: &'static str, udt: &'static str, not_null: bool) -> Column {
    Column {
        name,
        udt,
        not_null,
    }
}

/// Every column of `upload_jobs` this service reads, in row order. Extra
/// columns other services added (`pg_user_id`, ...) are never named.
pub const JOB_COLUMNS: [Column; 20] = [
    col("id", "uuid", true),
    col("tenant_id", "uuid", true),
    col("user_id", "text", true),
    col("job_type", JOB_TYPE_ENUM, true),
    col("status", JOB_STATUS_ENUM, true),
    col("file_key", "text", true),
    col("file_name", "text", false),
    col("mime_type", "text", false),
    col("file_size", "int8", false),
    col("interaction_id", "uuid", true),
    col("trace_id", "text", false),
    col("account_id", "text", false),
    col("error_message", "text", false),
    col("error_code", "text", false),
    col("result_summary", "text", false),
    col("metadata_json", "text", false),
    col("created_at", "timestamptz", true),
    col("updated_at", "timestamptz", true),
    col("started_at", "timestamptz", false),
    col("completed_at", "timestamptz", false),
];

/// Columns added after the seed schema that this service writes and reads in
/// its own statements (never in the job row it returns): migration 002 (the
/// Python service's three, which production already has) and 003. All
/// nullable, so rows from before them stay valid.
pub const ADDED_COLUMNS: [Column; 9] = [
    col("pg_user_id", "text", false),
    col("user_name", "text", false),
    col("participants_json", "text", false),
    col("checksum_sha256", "text", false),
    col("upload_expires_at", "timestamptz", false),
    col("object_etag", "text", false),
    col("object_size", "int8", false),
    col("object_sequencer", "text", false),
    col("handed_off_at", "timestamptz", false),
];

pub const JOB_STATUS_ENUM: &str = "jobstatus";
pub const JOB_TYPE_ENUM: &str = "jobtype";

/// The enum types and their labels, in declaration order.
pub fn enum_types() -> [(&'static str, Vec<&'static str>); 2] {
    [
        (
            JOB_STATUS_ENUM,
            JobStatus::ALL.iter().map(JobStatus::as_str).collect(),
        ),
        (
            JOB_TYPE_ENUM,
            JobType::ALL.iter().map(JobType::as_str).collect(),
        ),
    ]
}

/// `id, tenant_id, ..., job_type::text AS job_type, ...`: every column, enums
/// read as text so no type-lookup round trip is ever needed.
pub fn job_select_list() -> &'static str {
    static LIST: LazyLock<String> = LazyLock::new(|| {
        JOB_COLUMNS
            .iter()
            .map(|c| match c.udt {
                JOB_STATUS_ENUM | JOB_TYPE_ENUM => format!("{0}::text AS {0}", c.name),
                _ => c.name.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    });
    &LIST
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_list_names_every_column_once_with_enums_as_text() {
        let list = job_select_list();
        assert!(list.starts_with("id, tenant_id, user_id, job_type::text AS job_type"));
        assert_eq!(list.split(", ").count(), JOB_COLUMNS.len());
        assert!(list.contains("status::text AS status"));
    }
}
