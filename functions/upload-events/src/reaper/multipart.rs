//! Queued jobs whose object is absent may still be uploading in parts: a
//! multipart upload in progress on the key keeps its job queued until the
//! bucket's abort-incomplete lifecycle would end it; then the reaper aborts
//! the upload itself and the job expires.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use upload_core::objects::{MultipartUpload, ObjectStore};
use upload_core::repo::StaleQueued;

use crate::EventsState;

/// Concurrent ListMultipartUploads requests per run.
const LIST_CONCURRENCY: usize = 8;

/// What the multipart check decided for jobs without an object.
#[derive(Debug, Default)]
pub(crate) struct Uploads {
    /// Jobs to expire: no upload in progress, or only uploads past the
    /// lifecycle (aborted by now, or left to the lifecycle if the abort
    /// failed).
    pub expire: Vec<usize>,
    /// Jobs left queued: an upload on their key is in progress.
    pub in_progress: usize,
    /// Jobs left queued because the listing failed.
    pub errors: usize,
}

/// Checks the multipart uploads on the key of each job in `absent` (indexes
/// into `claimed`).
pub(crate) async fn check(
    state: &EventsState,
    claimed: &[StaleQueued],
    absent: Vec<usize>,
) -> Uploads {
    let sem = Arc::new(Semaphore::new(LIST_CONCURRENCY));
    let mut set = JoinSet::new();
    let cutoff = Utc::now()
        - chrono::Duration::from_std(state.config.multipart_abort_after)
            .unwrap_or(chrono::Duration::days(1));
    for i in absent {
        let objects = state.objects.clone();
        let key = claimed[i].file_key.clone();
        let sem = sem.clone();
        set.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (i, settle(objects.as_ref(), &key, cutoff).await)
        });
    }
    let mut out = Uploads::default();
    while let Some(joined) = set.join_next().await {
        let Ok((i, verdict)) = joined else { continue };
        let c = &claimed[i];
        let t = &c.trace;
        match verdict {
            Ok(Verdict::Expire { aborted }) => {
                if aborted > 0 {
                    tracing::warn!(event = "multipart_aborted", job_id = %t.job_id, tenant_id = %t.tenant_id, trace_id = t.trace_id, interaction_id = %t.interaction_id, uploads = aborted, "multipart upload older than the bucket's abort-incomplete lifecycle aborted");
                }
                out.expire.push(i);
            }
            Ok(Verdict::InProgress { since }) => {
                out.in_progress += 1;
                tracing::info!(event = "multipart_in_progress", job_id = %t.job_id, tenant_id = %t.tenant_id, trace_id = t.trace_id, interaction_id = %t.interaction_id, initiated = ?since, "upload window passed but a multipart upload is in progress; job left queued");
            }
            Err(e) => {
                out.errors += 1;
                tracing::error!(event = "reaper_multipart_check_failed", job_id = %t.job_id, tenant_id = %t.tenant_id, trace_id = t.trace_id, interaction_id = %t.interaction_id, key = %c.file_key, error = %e, "cannot list multipart uploads; job left queued for a later run");
            }
        }
    }
    out.expire.sort_unstable();
    out
}

enum Verdict {
    Expire { aborted: usize },
    InProgress { since: Option<DateTime<Utc>> },
}

/// One key: in progress when an upload began after `cutoff` (or S3 did not
/// say when); otherwise its uploads are aborted and the job may expire.
async fn settle(
    objects: &dyn ObjectStore,
    key: &str,
    cutoff: DateTime<Utc>,
) -> Result<Verdict, upload_core::objects::StoreError> {
    let uploads = objects.multipart_uploads(key).await?;
    if let Some(live) = uploads.iter().find(|u| in_progress(u, cutoff)) {
        return Ok(Verdict::InProgress {
            since: live.initiated,
        });
    }
    let mut aborted = 0;
    for u in &uploads {
        // The lifecycle aborts it anyway; a failure here only delays that.
        match objects.abort_multipart(key, &u.upload_id).await {
            Ok(()) => aborted += 1,
            Err(e) => {
                tracing::warn!(event = "multipart_abort_failed", key, upload_id = %u.upload_id, error = %e, "abort failed; the bucket's lifecycle will abort it");
            }
        }
    }
    Ok(Verdict::Expire { aborted })
}

fn in_progress(u: &MultipartUpload, cutoff: DateTime<Utc>) -> bool {
    u.initiated.is_none_or(|t| t > cutoff)
}
