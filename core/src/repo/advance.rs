//! queued → processing for uploaded objects, many in one statement (S3
//! events, `/upload/complete`, the reaper's recovery).

use tokio_postgres::Row;
use tokio_postgres::types::Type;
use uuid::Uuid;

use super::{JobTrace, decode, parse_enum};
use crate::db::{Db, DbError};
use crate::domain::{FileKey, JobId, JobStatus, JobType, TenantId};

/// An object that arrived under a job's key, as an S3 event (or a HEAD)
/// describes it, with the job it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedObject {
    job: JobId,
    tenant: TenantId,
    key: String,
    /// The object's size; `None` skips the size checks.
    pub size: Option<i64>,
    /// S3's event sequencer, when an event told it.
    pub sequencer: Option<String>,
    /// The object's ETag (without quotes), when the event or HEAD told it.
    pub etag: Option<String>,
}

impl UploadedObject {
    /// An object under a parsed key: the key names its tenant and job.
    pub fn at(key: &FileKey, size: Option<i64>, sequencer: Option<String>) -> Self {
        Self {
            job: key.job(),
            tenant: key.tenant(),
            key: key.as_str().to_owned(),
            size,
            sequencer,
            etag: None,
        }
    }

    /// The same object, with the ETag S3 reported (quotes removed: HEAD
    /// quotes it, events do not).
    pub fn with_etag(mut self, etag: Option<&str>) -> Self {
        self.etag = etag
            .map(|e| e.trim_matches('"'))
            .filter(|e| !e.is_empty())
            .map(str::to_owned);
        self
    }

    /// The object under a job's stored key (the reaper's HEAD): the row
    /// names the tenant and job, whatever the key's layout (rows the Python
    /// service wrote before the cut-over included).
    pub fn of_job(job: &JobTrace, key: &str, size: Option<i64>) -> Self {
        Self {
            job: job.job_id,
            tenant: job.tenant_id,
            key: key.to_owned(),
            size,
            sequencer: None,
            etag: None,
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }
}

impl AsRef<UploadedObject> for UploadedObject {
    fn as_ref(&self) -> &UploadedObject {
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdvanceOutcome {
    /// queued → processing, by this call.
    Advanced,
    /// queued → failed by this call: the object was refused (`EMPTY_UPLOAD`,
    /// `FILE_TOO_LARGE`, `SIZE_MISMATCH`).
    Rejected { code: String },
    /// processing → failed/`OBJECT_REPLACED` by this call: a different,
    /// newer object arrived under the key after the job advanced.
    Replaced,
    /// The job is past `queued` with another object recorded, and this record
    /// cannot replace it (the job is terminal, or this object is older than
    /// the recorded one): nothing changed.
    OtherObject { status: JobStatus },
    /// The job was already past `queued` (duplicate, late or out-of-order
    /// event): nothing changed.
    AlreadyPast { status: JobStatus },
    /// Another statement moved the job while this one ran: nothing changed here.
    Concurrent,
    /// The same object key appeared earlier in this batch; handled there.
    DuplicateInBatch,
    /// No job has this id with this tenant and key.
    UnknownKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvanceResult {
    pub outcome: AdvanceOutcome,
    /// `None` for [`AdvanceOutcome::UnknownKey`].
    pub job: Option<JobTrace>,
    /// The job's status after this statement, as far as it can tell.
    pub status: Option<JobStatus>,
    /// What the hand-off tells the worker about the job; `None` for
    /// [`AdvanceOutcome::UnknownKey`].
    pub details: Option<JobDetails>,
}

/// The job's columns the hand-off carries besides its correlation fields,
/// read by the same statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobDetails {
    pub job_type: JobType,
    pub file_name: Option<String>,
    pub mime_type: Option<String>,
    pub account_id: Option<String>,
    /// Whether the job had its object's identity recorded before this
    /// statement (false for jobs still `queued`, and for jobs that advanced
    /// before migration 003 or under the Python service).
    pub object_recorded: bool,
}

/// Each object finds its job by primary key (the id in the key) and must
/// match the job's tenant and key too. Per key, the batch's newest object
/// (highest sequencer; S3 compares them as zero-left-padded hex) decides.
///
/// Three steps, one round trip, two primary-key lookups per object:
/// `decided` reads each key's job as the statement's snapshot sees it and
/// picks what to do with it; `moved`, ONE update, does it, re-checking the
/// action's condition on the row it locks (a job another statement moved
/// meanwhile is left alone and reported `Concurrent`); the final select
/// answers every input object in order from the snapshot and what moved.
/// The actions:
/// * `advance`: a queued job → processing (or failed, when the object is
///   refused), recording the object's identity;
/// * `replace`: a processing job whose recorded object is replaced by a
///   different, newer one (no sequencer on either side counts as newer: HEAD
///   sees the current object) is stopped: the bytes it advanced with are gone;
/// * `sequence`: a job that advanced through a HEAD (`POST /upload/complete`,
///   the reaper) learns its object's sequencer from the event of that same
///   object, so a later late event of an older object can be told apart from
///   a newer one.
const ADVANCE_BATCH: &str = "
WITH input AS (
    SELECT t.id, t.tenant_id, t.file_key, t.size, t.etag, t.sequencer, t.ord,
           lpad(upper(t.sequencer), 64, '0') COLLATE \"C\" AS seq_order
    FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int8[], $6::text[], $7::text[])
         WITH ORDINALITY AS t(id, tenant_id, file_key, size, etag, sequencer, ord)
),
decided AS (
    SELECT f.id, f.tenant_id, f.file_key, f.ord, f.size, f.etag, f.sequencer, f.seq_order,
           j.id AS job_id, j.tenant_id AS job_tenant, j.trace_id, j.interaction_id,
           j.status::text AS seen_status, j.job_type::text AS job_type,
           j.file_name, j.mime_type, j.account_id, j.file_size AS declared,
           j.object_etag AS cur_etag, j.object_size AS cur_size,
           CASE
               WHEN j.status::text = 'queued' THEN 'advance'
               WHEN j.status::text = 'processing'
                    AND f.etag IS NOT NULL AND j.object_etag IS NOT NULL
                    AND (f.etag <> j.object_etag OR f.size <> j.object_size)
                    AND (f.sequencer IS NULL OR j.object_sequencer IS NULL
                         OR f.seq_order > lpad(upper(j.object_sequencer), 64, '0') COLLATE \"C\")
                   THEN 'replace'
               WHEN j.status::text <> 'queued'
                    AND j.object_sequencer IS NULL AND f.sequencer IS NOT NULL
                    AND j.object_etag = f.etag AND j.object_size = f.size
                   THEN 'sequence'
           END AS action,
           CASE
               WHEN f.size IS NULL THEN NULL
               WHEN f.size = 0 THEN 'EMPTY_UPLOAD'
               WHEN f.size > $5 THEN 'FILE_TOO_LARGE'
               WHEN j.file_size IS NOT NULL AND f.size <> j.file_size THEN 'SIZE_MISMATCH'
           END AS reject_code
    FROM (
        SELECT DISTINCT ON (id, tenant_id, file_key) *
        FROM input
        ORDER BY id, tenant_id, file_key, seq_order DESC NULLS LAST, ord
    ) f
    -- Only the primary key may drive the plan: written this way tenant, key
    -- and status are filters no other index can serve, so the plan stays on
    -- the primary key even before the table has statistics.
    LEFT JOIN upload_jobs j ON j.id = f.id
        AND j.tenant_id IS NOT DISTINCT FROM f.tenant_id
        AND j.file_key IS NOT DISTINCT FROM f.file_key
),
moved AS (
    UPDATE upload_jobs j SET
        status = CASE
            WHEN d.action = 'advance' AND d.reject_code IS NULL THEN 'processing'::jobstatus
            WHEN d.action = 'sequence' THEN j.status
            ELSE 'failed'::jobstatus
        END,
        started_at = CASE WHEN d.action = 'advance' AND d.reject_code IS NULL
                          THEN now() ELSE j.started_at END,
        completed_at = CASE WHEN d.action = 'replace'
                                 OR (d.action = 'advance' AND d.reject_code IS NOT NULL)
                            THEN now() ELSE j.completed_at END,
        error_code = CASE d.action WHEN 'advance' THEN d.reject_code
                                   WHEN 'replace' THEN 'OBJECT_REPLACED'
                                   ELSE j.error_code END,
        error_message = CASE d.action
            WHEN 'advance' THEN CASE d.reject_code
                WHEN 'EMPTY_UPLOAD' THEN 'The uploaded file is empty (0 bytes).'
                WHEN 'FILE_TOO_LARGE' THEN format('The uploaded file is %s bytes, more than the %s-byte limit.', d.size, $5)
                WHEN 'SIZE_MISMATCH' THEN format('The uploaded file is %s bytes, but %s bytes were declared at init.', d.size, d.declared)
            END
            WHEN 'replace' THEN 'A different file was uploaded under this job''s key after processing started.'
            ELSE j.error_message
        END,
        object_etag = CASE WHEN d.action = 'advance' THEN d.etag ELSE j.object_etag END,
        object_size = CASE WHEN d.action = 'advance' THEN d.size ELSE j.object_size END,
        object_sequencer = CASE WHEN d.action = 'replace' THEN j.object_sequencer
                                ELSE d.sequencer END,
        updated_at = CASE WHEN d.action = 'sequence' THEN j.updated_at ELSE now() END
    FROM decided d
    WHERE j.id = d.job_id
      AND CASE d.action
          WHEN 'advance' THEN j.status::text = 'queued'
          WHEN 'replace' THEN j.status::text = 'processing'
               AND j.object_etag IS NOT DISTINCT FROM d.cur_etag
               AND j.object_size IS NOT DISTINCT FROM d.cur_size
               -- The recorded object may have learned its sequencer meanwhile
               -- (its own event, in another invocation): still newer?
               AND (d.sequencer IS NULL OR j.object_sequencer IS NULL
                    OR d.seq_order > lpad(upper(j.object_sequencer), 64, '0') COLLATE \"C\")
          WHEN 'sequence' THEN j.status::text <> 'queued' AND j.object_sequencer IS NULL
               AND j.object_etag = d.etag AND j.object_size = d.size
          ELSE false
      END
    RETURNING d.ord, d.action, j.status::text AS status, j.error_code
)
SELECT i.ord,
       d.job_id, d.job_tenant AS tenant_id, d.trace_id, d.interaction_id,
       d.seen_status, d.job_type, d.file_name, d.mime_type, d.account_id,
       (d.cur_etag IS NOT NULL) AS object_recorded,
       CASE WHEN m.action = 'advance' THEN m.status END AS new_status,
       CASE WHEN m.action = 'advance' THEN m.error_code END AS new_error_code,
       (i.ord <> d.ord) AS dup_in_batch,
       COALESCE(m.action = 'replace', false) AS replaced,
       COALESCE(d.cur_etag IS NOT NULL AND i.etag IS NOT NULL
                AND (i.etag <> d.cur_etag OR i.size <> d.cur_size), false) AS other_object
FROM input i
JOIN decided d ON d.id = i.id AND d.tenant_id = i.tenant_id AND d.file_key = i.file_key
LEFT JOIN moved m ON m.ord = i.ord
ORDER BY i.ord";

/// The batch's statement, for plan checks (tests, benchmarks). Its
/// parameters: ids, tenants, keys, sizes (arrays of one element per
/// object), the size limit, ETags and sequencers (arrays).
pub fn advance_batch_statement() -> &'static str {
    ADVANCE_BATCH
}

/// Advances every `queued` job named by `objects` to `processing` (or fails
/// it when the object is empty, too large or not the declared size),
/// recording the object's identity (ETag, size, sequencer), in ONE
/// statement; a `processing` job whose object was replaced by a different,
/// newer one fails with `OBJECT_REPLACED`. Returns one result per object, in
/// order. Terminal jobs are never touched; two racing calls move a job once.
pub async fn advance_batch<O: AsRef<UploadedObject>>(
    db: &Db,
    objects: &[O],
    max_upload_bytes: u64,
) -> Result<Vec<AdvanceResult>, DbError> {
    if objects.is_empty() {
        return Ok(Vec::new());
    }
    let objects = || objects.iter().map(AsRef::as_ref);
    let ids: Vec<Uuid> = objects().map(|o| o.job.0).collect();
    let tenants: Vec<Uuid> = objects().map(|o| o.tenant.0).collect();
    let keys: Vec<&str> = objects().map(|o| o.key.as_str()).collect();
    let sizes: Vec<Option<i64>> = objects().map(|o| o.size).collect();
    let etags: Vec<Option<&str>> = objects().map(|o| o.etag.as_deref()).collect();
    let sequencers: Vec<Option<&str>> = objects().map(|o| o.sequencer.as_deref()).collect();
    let max = i64::try_from(max_upload_bytes).unwrap_or(i64::MAX);
    let rows = db
        .query(
            ADVANCE_BATCH,
            &[
                (&ids, Type::UUID_ARRAY),
                (&tenants, Type::UUID_ARRAY),
                (&keys, Type::TEXT_ARRAY),
                (&sizes, Type::INT8_ARRAY),
                (&max, Type::INT8),
                (&etags, Type::TEXT_ARRAY),
                (&sequencers, Type::TEXT_ARRAY),
            ],
        )
        .await?;
    if rows.len() != ids.len() {
        return Err(DbError::Decode(format!(
            "advance returned {} rows for {} objects",
            rows.len(),
            ids.len()
        )));
    }
    rows.iter().map(advance_result).collect()
}

fn advance_result(row: &Row) -> Result<AdvanceResult, DbError> {
    let job_id: Option<Uuid> = decode(row.try_get("job_id"))?;
    let Some(job_id) = job_id else {
        return Ok(AdvanceResult {
            outcome: AdvanceOutcome::UnknownKey,
            job: None,
            status: None,
            details: None,
        });
    };
    let job = JobTrace {
        job_id: JobId(job_id),
        tenant_id: TenantId(decode(row.try_get("tenant_id"))?),
        trace_id: decode(row.try_get("trace_id"))?,
        interaction_id: decode(row.try_get("interaction_id"))?,
    };
    let details = JobDetails {
        job_type: parse_enum(decode(row.try_get("job_type"))?)?,
        file_name: decode(row.try_get("file_name"))?,
        mime_type: decode(row.try_get("mime_type"))?,
        account_id: decode(row.try_get("account_id"))?,
        object_recorded: decode(row.try_get("object_recorded"))?,
    };
    let seen: JobStatus = parse_enum(decode(row.try_get("seen_status"))?)?;
    let new_status: Option<String> = decode(row.try_get("new_status"))?;
    let dup: bool = decode(row.try_get("dup_in_batch"))?;
    let replaced: bool = decode(row.try_get("replaced"))?;
    let other_object: bool = decode(row.try_get("other_object"))?;
    let (outcome, status) = match new_status {
        Some(s) => {
            let s: JobStatus = parse_enum(s)?;
            if s == JobStatus::Processing {
                (AdvanceOutcome::Advanced, Some(s))
            } else {
                let code: Option<String> = decode(row.try_get("new_error_code"))?;
                (
                    AdvanceOutcome::Rejected {
                        code: code.unwrap_or_default(),
                    },
                    Some(s),
                )
            }
        }
        None if replaced => (AdvanceOutcome::Replaced, Some(JobStatus::Failed)),
        None if dup => (AdvanceOutcome::DuplicateInBatch, None),
        None if seen == JobStatus::Queued => (AdvanceOutcome::Concurrent, None),
        None if other_object => (AdvanceOutcome::OtherObject { status: seen }, Some(seen)),
        None => (AdvanceOutcome::AlreadyPast { status: seen }, Some(seen)),
    };
    Ok(AdvanceResult {
        outcome,
        job: Some(job),
        status,
        details: Some(details),
    })
}
