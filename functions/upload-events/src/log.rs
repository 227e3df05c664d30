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

/// The job's correlation fields, `None` for an unknown key.
type JobFields<'a> = (
    Option<String>,
    Option<String>,
    Option<&'a str>,
    Option<String>,
);

fn job_fields(result: &AdvanceResult) -> JobFields<'_> {
    match &result.job {
        Some(t) => (
            Some(t.job_id.to_string()),
            Some(t.tenant_id.to_string()),
            t.trace_id.as_deref(),
            Some(t.interaction_id.to_string()),
        ),
        None => (None, None, None, None),
    }
}

/// One line about a known job: the fields every such line carries, in this
/// order.
macro_rules! job_line {
    ($f:expr, $level:ident, $event:literal, [$($before:tt)*], [$($after:tt)*], $message:literal) => {{
        let (source, object, (job_id, tenant_id, trace_id, interaction_id)) = $f;
        let (key, sequencer) = (object.key(), object.sequencer.as_deref());
        tracing::$level!(
            event = $event, source, $($before)* job_id, tenant_id, trace_id,
            interaction_id, key, sequencer, $($after)* $message
        )
    }};
}

fn outcome(source: &str, object: &UploadedObject, result: &AdvanceResult) {
    let f = (source, object, job_fields(result));
    let etag = object.etag.as_deref();
    match &result.outcome {
        AdvanceOutcome::Advanced => job_line!(
            f,
            info,
            "advanced",
            [],
            [etag, status = "processing",],
            "job advanced to processing"
        ),
        AdvanceOutcome::Rejected { code } => job_line!(
            f,
            warn,
            "rejected",
            [code = code.as_str(),],
            [status = "failed",],
            "upload rejected"
        ),
        AdvanceOutcome::Replaced => job_line!(
            f,
            warn,
            "replaced",
            [code = "OBJECT_REPLACED",],
            [etag, status = "failed",],
            "a different object replaced the one the job advanced with; job failed"
        ),
        AdvanceOutcome::OtherObject { status } => job_line!(
            f,
            warn,
            "other_object",
            [],
            [etag, status = status.as_str(),],
            "another object than the job's (older, or the job is finished); nothing changed"
        ),
        AdvanceOutcome::AlreadyPast { status } => job_line!(
            f,
            info,
            "duplicate",
            [],
            [status = status.as_str(),],
            "job already past queued; nothing changed"
        ),
        AdvanceOutcome::Concurrent | AdvanceOutcome::DuplicateInBatch => job_line!(
            f,
            info,
            "duplicate",
            [],
            [],
            "handled by a concurrent or earlier record; nothing changed"
        ),
        AdvanceOutcome::UnknownKey => unknown_key(source, object),
    }
}

fn unknown_key(source: &str, object: &UploadedObject) {
    let (key, sequencer) = (object.key(), object.sequencer.as_deref());
    tracing::warn!(
        event = "unknown_key",
        source,
        key,
        sequencer,
        "no job for this key; skipped"
    );
}
