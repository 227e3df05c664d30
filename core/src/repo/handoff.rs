//! The hand-offs no event will retry: jobs that advanced through a HEAD (the
//! reaper's recovery, `POST /upload/complete`) carry no event sequencer, and
//! `handed_off_at` records that their "Upload Received" was put.

use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{decode, parse_enum};
use crate::db::{Db, DbError};
use crate::domain::{JobId, TenantId};
use crate::handoff::UploadReceived;

const PENDING: &str = "
SELECT id, tenant_id, job_type::text AS job_type, file_key, file_name, mime_type,
       account_id, interaction_id, trace_id, object_etag, object_size
FROM upload_jobs
WHERE status = 'processing' AND handed_off_at IS NULL
  AND object_sequencer IS NULL AND object_etag IS NOT NULL
  AND started_at < now() - make_interval(secs => $1)
ORDER BY started_at
LIMIT $2";

/// Processing jobs that advanced through a HEAD more than `after_secs` ago
/// (their own S3 event, which would have published and recorded its
/// sequencer, has not come) and whose hand-off is not recorded: the
/// events to put, oldest first. Jobs from before migration 003 (no recorded
/// object) are never included.
pub async fn pending_handoffs(
    db: &Db,
    bucket: &str,
    after_secs: f64,
    limit: i64,
) -> Result<Vec<UploadReceived>, DbError> {
    let rows = db
        .query(
            PENDING,
            &[(&after_secs, Type::FLOAT8), (&limit, Type::INT8)],
        )
        .await?;
    rows.iter()
        .map(|r| {
            Ok(UploadReceived {
                job_id: JobId(decode(r.try_get("id"))?),
                tenant_id: TenantId(decode(r.try_get("tenant_id"))?),
                job_type: parse_enum(decode(r.try_get("job_type"))?)?,
                file_key: decode(r.try_get("file_key"))?,
                bucket: bucket.to_owned(),
                size: decode(r.try_get("object_size"))?,
                etag: decode(r.try_get("object_etag"))?,
                sequencer: None,
                mime_type: decode(r.try_get("mime_type"))?,
                file_name: decode(r.try_get("file_name"))?,
                interaction_id: decode(r.try_get("interaction_id"))?,
                trace_id: decode(r.try_get("trace_id"))?,
                account_id: decode(r.try_get("account_id"))?,
            })
        })
        .collect()
}

/// Records that the hand-off of `jobs` was put; returns how many rows
/// changed (a job already recorded is left alone).
pub async fn mark_handed_off(db: &Db, jobs: &[JobId]) -> Result<u64, DbError> {
    if jobs.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = jobs.iter().map(|j| j.0).collect();
    let rows = db
        .query(
            "UPDATE upload_jobs SET handed_off_at = now()
             WHERE id = ANY($1) AND handed_off_at IS NULL RETURNING id",
            &[(&ids, Type::UUID_ARRAY)],
        )
        .await?;
    Ok(rows.len() as u64)
}
