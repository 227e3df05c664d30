//! Queued jobs whose object is absent may still be uploading in parts: a
//! multipart upload in progress on the key keeps its job queued until the
//! bucket's abort-incomplete lifecycle would end it; once the job has
//! expired, the reaper aborts such stale uploads itself.

use std::sync::Arc;

use chrono::{DateTime, Days, NaiveTime, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use upload_core::objects::{MultipartUpload, ObjectStore};
use upload_core::repo::StaleQueued;
use upload_core::{JobId, TenantId};

use crate::EventsState;

/// Concurrent ListMultipartUploads requests per run.
const LIST_CONCURRENCY: usize = 8;

/// What the multipart check decided for jobs without an object.
#[derive(Debug, Default)]
pub(crate) struct Uploads {
    /// Jobs that may expire (indexes into the claim), with the uploads on
    /// their key that are past the lifecycle: aborted once the job expired.
    pub expire: Vec<(usize, Vec<String>)>,
    /// Jobs left queued: an upload on their key is in progress.
    pub in_progress: usize,
    /// Jobs left queued because the listing failed.
    pub errors: usize,
}

/// When S3's abort-incomplete lifecycle ends an upload begun at
/// `initiated`: `days` later, rounded up to the next midnight UTC (S3's own
/// rule; the `x-amz-abort-date` it reports is always 00:00 GMT).
pub(crate) fn lifecycle_abort_date(initiated: DateTime<Utc>, days: u64) -> DateTime<Utc> {
    let t = initiated
        .checked_add_days(Days::new(days))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    if t.time() == NaiveTime::MIN {
        return t;
    }
    t.date_naive()
        .checked_add_days(Days::new(1))
        .map_or(DateTime::<Utc>::MAX_UTC, |d| {
            d.and_time(NaiveTime::MIN).and_utc()
        })
}

/// Checks the multipart uploads on the key of each job in `absent` (indexes
/// into `claimed`). Aborts nothing: see [`abort_stale`].
pub(crate) async fn check(
    state: &EventsState,
    claimed: &[StaleQueued],
    absent: Vec<usize>,
) -> Uploads {
    let sem = Arc::new(Semaphore::new(LIST_CONCURRENCY));
    let mut set = JoinSet::new();
    let days = state.config.multipart_abort_after.as_secs() / 86_400;
    for i in absent {
        let objects = state.objects.clone();
        let key = claimed[i].file_key.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let listed = objects.multipart_uploads(&key).await;
            (i, listed.map(|u| split(u, days, Utc::now())))
        });
    }
    let mut out = Uploads::default();
    while let Some(joined) = set.join_next().await {
        let Ok((i, verdict)) = joined else { continue };
        let t = &claimed[i].trace;
        match verdict {
            Ok(Err(live)) => {
                out.in_progress += 1;
                tracing::info!(event = "multipart_in_progress", job_id = %t.job_id, tenant_id = %t.tenant_id, trace_id = t.trace_id, interaction_id = %t.interaction_id, initiated = ?live.initiated, "upload window passed but a multipart upload is in progress; job left queued");
            }
            Ok(Ok(stale)) => out.expire.push((i, stale)),
            Err(e) => {
                out.errors += 1;
                tracing::error!(event = "reaper_multipart_check_failed", job_id = %t.job_id, tenant_id = %t.tenant_id, trace_id = t.trace_id, interaction_id = %t.interaction_id, key = %claimed[i].file_key, error = %e, "cannot list multipart uploads; job left queued for a later run");
            }
        }
    }
    out.expire.sort_unstable_by_key(|(i, _)| *i);
    out
}

/// `Err(upload)`: one is still within the lifecycle (or S3 did not say when
/// it began, which it always does). `Ok(ids)`: all are past it.
fn split(
    uploads: Vec<MultipartUpload>,
    days: u64,
    now: DateTime<Utc>,
) -> Result<Vec<String>, MultipartUpload> {
    let mut stale = Vec::with_capacity(uploads.len());
    for u in uploads {
        match u.initiated {
            Some(t) if lifecycle_abort_date(t, days) <= now => stale.push(u.upload_id),
            _ => return Err(u),
        }
    }
    Ok(stale)
}

/// Aborts the stale uploads of the jobs that did expire (`expired`); a job
/// the expiry spared (a URL signed since the claim) keeps its upload. The
/// lifecycle aborts anything this misses.
pub(crate) async fn abort_stale(
    state: &EventsState,
    claimed: &[StaleQueued],
    candidates: &[(usize, Vec<String>)],
    expired: &[(TenantId, JobId)],
) {
    for (i, ids) in candidates {
        let c = &claimed[*i];
        let t = &c.trace;
        if ids.is_empty() || !expired.contains(&(t.tenant_id, t.job_id)) {
            continue;
        }
        for id in ids {
            if let Err(e) = abort(state.objects.as_ref(), &c.file_key, id).await {
                tracing::warn!(event = "multipart_abort_failed", job_id = %t.job_id, tenant_id = %t.tenant_id, upload_id = %id, error = %e, "abort failed; the bucket's lifecycle will abort it");
            }
        }
        tracing::warn!(event = "multipart_aborted", job_id = %t.job_id, tenant_id = %t.tenant_id, trace_id = t.trace_id, interaction_id = %t.interaction_id, uploads = ids.len(), "multipart upload past the bucket's abort-incomplete lifecycle aborted with its expired job");
    }
}

async fn abort(
    objects: &dyn ObjectStore,
    key: &str,
    id: &str,
) -> Result<(), upload_core::objects::StoreError> {
    objects.abort_multipart(key, id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn the_lifecycle_rounds_up_to_the_next_midnight_utc() {
        let d = |s| lifecycle_abort_date(at(s), 1);
        assert_eq!(d("2026-11-23T00:30:00Z"), at("2026-11-25T00:00:00Z"));
        assert_eq!(d("2026-11-23T23:59:59Z"), at("2026-11-25T00:00:00Z"));
        assert_eq!(d("2026-11-23T00:00:00Z"), at("2026-11-24T00:00:00Z"));
        assert_eq!(
            lifecycle_abort_date(at("2026-11-23T12:00:00Z"), 3),
            at("2026-11-27T00:00:00Z")
        );
    }

    #[test]
    fn an_upload_is_live_until_its_abort_date() {
        let up = |id: &str, t: Option<&str>| MultipartUpload {
            upload_id: id.into(),
            initiated: t.map(at),
        };
        let now = at("2026-11-24T23:00:00Z");
        // Begun Monday 00:30: the lifecycle ends it Wednesday 00:00.
        assert!(split(vec![up("a", Some("2026-11-23T00:30:00Z"))], 1, now).is_err());
        assert_eq!(
            split(vec![up("a", Some("2026-11-22T23:00:00Z"))], 1, now),
            Ok(vec!["a".to_owned()])
        );
        assert!(
            split(
                vec![up("a", Some("2026-11-22T23:00:00Z")), up("b", None)],
                1,
                now
            )
            .is_err()
        );
    }
}
