//! One log line per object the database batch judged, with the job's
//! correlation fields (`job_id`, `tenant_id`, `trace_id`, `interaction_id`),
//! the object's `key` and `sequencer`, and where it came from (`source`:
//! `s3`, `sqs` or `reaper`).

use upload_core::repo::{AdvanceOutcome, AdvanceResult, UploadedObject};

/// Logs each object's outcome; `results` are `advance_batch`'s for `objects`
/// (one per object, in order).
pub(crate) fn outcomes<O: AsRef<UploadedObject>>(
    source: &str,
    objects: &[O],
    results: &[AdvanceResult],
) {
    for (object, result) in objects.iter().zip(results) {
        outcome(source, object.as_ref(), result);
    }
}

fn outcome(source: &str, object: &UploadedObject, result: &AdvanceResult) {
    let (job_id, tenant_id, trace_id, interaction_id) = match &result.job {
        Some(t) => (
            Some(t.job_id.to_string()),
            Some(t.tenant_id.to_string()),
            t.trace_id.as_deref(),
            Some(t.interaction_id.to_string()),
        ),
        None => (None, None, None, None),
    };
    let key = object.key();
    let sequencer = object.sequencer.as_deref();
    // The fields every line about a known job carries, in this order.
    macro_rules! job_line {
        ($level:ident, $event:literal, [$($before:tt)*], [$($after:tt)*], $message:literal) => {
            tracing::$level!(
                event = $event, source, $($before)* job_id, tenant_id, trace_id,
                interaction_id, key, sequencer, $($after)* $message
            )
        };
    }
    match &result.outcome {
        AdvanceOutcome::Advanced => job_line!(
            info,
            "advanced",
            [],
            [status = "processing",],
            "job advanced to processing"
        ),
        AdvanceOutcome::Rejected { code } => job_line!(
            warn,
            "rejected",
            [code = code.as_str(),],
            [status = "failed",],
            "upload rejected"
        ),
        AdvanceOutcome::AlreadyPast { status } => job_line!(
            info,
            "duplicate",
            [],
            [status = status.as_str(),],
            "job already past queued; nothing changed"
        ),
        AdvanceOutcome::Concurrent | AdvanceOutcome::DuplicateInBatch => job_line!(
            info,
            "duplicate",
            [],
            [],
            "handled by a concurrent or earlier record; nothing changed"
        ),
        AdvanceOutcome::UnknownKey => tracing::warn!(
            event = "unknown_key",
            source,
            key,
            sequencer,
            "no job for this key; skipped"
        ),
    }
}
