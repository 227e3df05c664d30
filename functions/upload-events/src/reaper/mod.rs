//! The scheduled reaper: queued jobs past their upload window (last URL's
//! expiry + grace + size at the slowest supported upload rate) are checked
//! against S3 (object present: advanced as its event would have; absent
//! with a multipart upload in progress on the key: left queued until the
//! bucket's abort-incomplete lifecycle, then aborted; absent otherwise:
//! failed/UPLOAD_EXPIRED, after re-checking the window; HEAD or listing
//! failed: left for a later run, logged as an error and counted); hand-offs no event will
//! retry (jobs that advanced through a HEAD) are put until recorded;
//! processing jobs older than the processing timeout are failed/
//! PROCESSING_TIMEOUT. Bounded per run;
//! overlapping runs never handle the same job (claims are leases), and each
//! run takes the jobs least recently tried first, so failing HEADs cannot
//! starve the rest.

use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use upload_core::repo::{self, AdvanceOutcome, StaleQueued, UploadWindow, UploadedObject};
use upload_core::{Config, JobId, TenantId};

use crate::handoff::{self, HandoffReport};
use crate::{EventsError, EventsState, log};

mod multipart;

/// What one reaper run did.
#[derive(Debug)]
pub(crate) struct ReapReport {
    pub claimed: usize,
    pub recovered: usize,
    pub expired: usize,
    pub timed_out: usize,
    /// HEADs and ListMultipartUploads that failed (their jobs stay queued).
    pub head_errors: usize,
    /// Jobs past their window left queued: a multipart upload is in
    /// progress on their key.
    pub multipart_in_progress: usize,
    /// Hand-offs of recovered jobs put on the bus, and those that failed
    /// (logged as errors: no event will retry them).
    pub handoffs_published: usize,
    pub handoff_failures: usize,
}

/// How long a reaper run holds its claim on a queued job.
const CLAIM_LEASE_SECS: f64 = 240.0;
/// How long a job that advanced through a HEAD waits for its own S3 event
/// (which publishes its hand-off) before the reaper publishes it.
const HANDOFF_REPAIR_AFTER_SECS: f64 = 60.0;
/// Concurrent HEAD requests per run.
const HEAD_CONCURRENCY: usize = 8;

/// One reaper run.
pub(crate) async fn reap(state: &EventsState) -> Result<ReapReport, EventsError> {
    let cfg = &state.config;
    let window = upload_window(cfg);
    let claimed =
        repo::claim_stale_queued(&state.db, &window, CLAIM_LEASE_SECS, cfg.reaper_batch).await?;
    let heads = head_all(state, &claimed).await;
    let (recovered, mut handoff) = recover(state, &heads.present).await?;
    let uploads = multipart::check(state, &claimed, heads.absent).await;
    let absent: Vec<_> = uploads
        .expire
        .iter()
        .map(|(i, _)| (claimed[*i].trace.tenant_id, claimed[*i].trace.job_id))
        .collect();
    let expired = expire(state, &window, &absent).await?;
    multipart::abort_stale(state, &claimed, &uploads.expire, &expired).await;
    let expired = expired.len();
    let timed_out = time_out(state).await?;
    // Last, and best-effort: what it does not finish, the next run does.
    let repaired = repair_handoffs(state).await;
    handoff.absorb(repaired);
    let report = ReapReport {
        claimed: claimed.len(),
        recovered,
        expired,
        timed_out,
        head_errors: heads.errors + uploads.errors,
        multipart_in_progress: uploads.in_progress,
        handoffs_published: handoff.published(),
        handoff_failures: handoff.failed,
    };
    tracing::info!(
        event = "reaper_run",
        claimed = report.claimed,
        recovered = report.recovered,
        expired = report.expired,
        timed_out = report.timed_out,
        head_errors = report.head_errors,
        multipart_in_progress = report.multipart_in_progress,
        handoffs_published = report.handoffs_published,
        handoff_failures = report.handoff_failures,
        "reaper finished"
    );
    Ok(report)
}

/// The configured upload window.
pub(crate) fn upload_window(cfg: &Config) -> UploadWindow {
    UploadWindow {
        url_ttl_secs: cfg.upload_url_ttl.as_secs_f64(),
        grace_secs: cfg.reaper_grace.as_secs_f64(),
        max_upload_bytes: i64::try_from(cfg.max_upload_bytes).unwrap_or(i64::MAX),
        min_bytes_per_second: cfg.reaper_min_upload_bytes_per_second as f64,
    }
}

/// What HEAD said about the claimed jobs' objects.
struct Heads {
    /// Objects that exist, in claim order.
    present: Vec<UploadedObject>,
    /// Jobs whose object does not exist (indexes into the claim).
    absent: Vec<usize>,
    /// HEADs that failed; their jobs stay queued for a later run.
    errors: usize,
}

/// HEADs each claimed object, a few at a time.
async fn head_all(state: &EventsState, claimed: &[StaleQueued]) -> Heads {
    let sem = Arc::new(Semaphore::new(HEAD_CONCURRENCY));
    let mut set = JoinSet::new();
    for (i, c) in claimed.iter().enumerate() {
        let objects = state.objects.clone();
        let key = c.file_key.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (i, objects.head(&key).await)
        });
    }
    let mut present = Vec::new();
    let mut absent = Vec::new();
    let mut errors = 0;
    while let Some(joined) = set.join_next().await {
        let Ok((i, head)) = joined else { continue };
        let c = &claimed[i];
        match head {
            Ok(Some(info)) => present.push((
                i,
                UploadedObject::of_job(&c.trace, &c.file_key, Some(info.size))
                    .with_etag(info.etag.as_deref()),
            )),
            Ok(None) => absent.push(i),
            Err(e) => {
                // Left queued; the lease expires and a later run retries it
                // after the jobs it has not tried. A 403 here means the role
                // lacks s3:ListBucket (S3 then hides "not found" behind it).
                errors += 1;
                tracing::error!(event = "reaper_head_failed", job_id = %c.trace.job_id, tenant_id = %c.trace.tenant_id, trace_id = c.trace.trace_id, interaction_id = %c.trace.interaction_id, key = %c.file_key, error = %e, "HEAD failed; job left queued for a later run");
            }
        }
    }
    present.sort_by_key(|(i, _)| *i);
    absent.sort_unstable();
    Heads {
        present: present.into_iter().map(|(_, object)| object).collect(),
        absent,
        errors,
    }
}

/// Advances the jobs whose object arrived without its event, exactly as the
/// event would have, and hands them off; returns how many moved.
async fn recover(
    state: &EventsState,
    present: &[UploadedObject],
) -> Result<(usize, HandoffReport), EventsError> {
    let results = repo::advance_batch(&state.db, present, state.config.max_upload_bytes).await?;
    log::outcomes("reaper", present, &results);
    let bucket = &state.config.upload_bucket;
    let publisher = state.handoff.as_deref();
    let handoff = handoff::hand_off(publisher, bucket, "reaper", present, &results).await;
    // No event will retry these: what was put is recorded, the rest is
    // repaired by a later run.
    record_handoffs(state, &handoff.published_jobs).await;
    let moved = results
        .iter()
        .filter(|r| {
            matches!(
                r.outcome,
                AdvanceOutcome::Advanced | AdvanceOutcome::Rejected { .. }
            )
        })
        .count();
    Ok((moved, handoff))
}

/// Publishes the hand-offs no event will retry: jobs that advanced through
/// a HEAD (`POST /upload/complete`, an earlier recovery) a while ago, whose
/// hand-off is not recorded. Best-effort: a database failure is logged and
/// left for the next run, after this run's expiries and time-outs are done.
async fn repair_handoffs(state: &EventsState) -> HandoffReport {
    let Some(publisher) = state.handoff.as_deref() else {
        return HandoffReport::default();
    };
    let (bucket, batch) = (&state.config.upload_bucket, state.config.reaper_batch);
    let pending = match repo::pending_handoffs(&state.db, bucket, HANDOFF_REPAIR_AFTER_SECS, batch)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(event = "handoff_repair_failed", error = %e, "cannot read the hand-offs to repair; the next run tries again");
            return HandoffReport::default();
        }
    };
    let records = vec![Vec::new(); pending.len()];
    let report = handoff::put_and_log(publisher, "reaper_repair", &pending, records).await;
    record_handoffs(state, &report.published_jobs).await;
    report
}

/// Records the hand-offs put for jobs no event will retry; on a database
/// failure they are put again by a later run (at least once).
async fn record_handoffs(state: &EventsState, jobs: &[JobId]) {
    if let Err(e) = repo::mark_handed_off(&state.db, jobs).await {
        tracing::error!(event = "handoff_record_failed", jobs = jobs.len(), error = %e, "hand-offs put but not recorded; a later run puts them again");
    }
}

/// Fails the jobs whose object never arrived; returns those it moved.
async fn expire(
    state: &EventsState,
    window: &UploadWindow,
    absent: &[(TenantId, JobId)],
) -> Result<Vec<(TenantId, JobId)>, EventsError> {
    let expired = repo::expire_queued(&state.db, window, absent).await?;
    for t in &expired {
        tracing::warn!(event = "expired", code = "UPLOAD_EXPIRED", job_id = %t.job_id, tenant_id = %t.tenant_id, trace_id = t.trace_id, interaction_id = %t.interaction_id, status = "failed", "no upload arrived; job failed");
    }
    Ok(expired.iter().map(|t| (t.tenant_id, t.job_id)).collect())
}

/// Fails the jobs processing for too long; returns how many.
async fn time_out(state: &EventsState) -> Result<usize, EventsError> {
    let cfg = &state.config;
    let timed_out = repo::timeout_processing(
        &state.db,
        cfg.processing_timeout.as_secs_f64(),
        cfg.reaper_batch,
    )
    .await?;
    for t in &timed_out {
        tracing::warn!(event = "timed_out", code = "PROCESSING_TIMEOUT", job_id = %t.job_id, tenant_id = %t.tenant_id, trace_id = t.trace_id, interaction_id = %t.interaction_id, status = "failed", "processing took too long; job failed");
    }
    Ok(timed_out.len())
}
