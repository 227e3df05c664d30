//! What signing another request for a job's upload needs: the job, read
//! and (while it is queued) its upload window moved to the new URL's expiry,
//! in one statement.

use chrono::{DateTime, Utc};
use tokio_postgres::types::Type;

use super::{JobTrace, decode, parse_enum, trace_from_row};
use crate::db::{Db, DbError};
use crate::domain::{JobId, JobStatus, TenantId};

/// The job a request is signed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignTarget {
    pub trace: JobTrace,
    /// The status the job had when read; `queued` unless it moved on.
    pub status: JobStatus,
    pub file_key: String,
    pub mime_type: Option<String>,
    pub file_size: Option<i64>,
    pub checksum_sha256: Option<String>,
    /// True when the job was queued and its window now covers the new URL;
    /// false when it left `queued` (nothing changed).
    pub extended: bool,
}

/// The read sees the row as the statement started; the UPDATE re-checks
/// `status = 'queued'` on the row as it is now, so a job that advanced
/// meanwhile reports `extended = false`.
const SIGN_TARGET: &str = "
WITH extended AS (
    UPDATE upload_jobs
    SET upload_expires_at = GREATEST(upload_expires_at, $3)
    WHERE tenant_id = $1 AND id = $2 AND status = 'queued'
    RETURNING id)
SELECT j.id, j.tenant_id, j.trace_id, j.interaction_id, j.status::text AS status,
       j.file_key, j.mime_type, j.file_size, j.checksum_sha256,
       EXISTS (SELECT 1 FROM extended) AS extended
FROM upload_jobs j
WHERE j.tenant_id = $1 AND j.id = $2";

/// The tenant's job `id`, with its upload window extended to `expires_at`
/// (never shortened) when it is queued. `None` for an unknown job or
/// another tenant's, exactly alike.
pub async fn sign_target(
    db: &Db,
    tenant: TenantId,
    id: JobId,
    expires_at: DateTime<Utc>,
) -> Result<Option<SignTarget>, DbError> {
    let row = db
        .query_opt(
            SIGN_TARGET,
            &[
                (&tenant.0, Type::UUID),
                (&id.0, Type::UUID),
                (&expires_at, Type::TIMESTAMPTZ),
            ],
        )
        .await?;
    row.map(|r| {
        Ok(SignTarget {
            trace: trace_from_row(&r)?,
            status: parse_enum(decode(r.try_get("status"))?)?,
            file_key: decode(r.try_get("file_key"))?,
            mime_type: decode(r.try_get("mime_type"))?,
            file_size: decode(r.try_get("file_size"))?,
            checksum_sha256: decode(r.try_get("checksum_sha256"))?,
            extended: decode(r.try_get("extended"))?,
        })
    })
    .transpose()
}
