//! The events function's metrics (CloudWatch EMF lines, namespace
//! `UploadJobs`, dimension `FunctionName`): one line per notification batch
//! and one per reaper run, plus `Rejected` per `Code` (rolled up into the
//! total under `FunctionName` alone).

use std::collections::BTreeMap;

use upload_core::metrics::{Metrics, Unit};
use upload_core::repo::{AdvanceOutcome, AdvanceResult};

use crate::handoff::HandoffReport;
use crate::reaper::ReapReport;

fn count(n: usize) -> f64 {
    n as f64
}

/// The outcomes of one batch `advance_batch` judged, and its hand-offs.
/// `Duplicate` is every record that changed nothing (redelivered, handled
/// by an earlier or concurrent record, another object than the job's).
pub(crate) fn batch(metrics: &Metrics, results: &[AdvanceResult], handoff: &HandoffReport) {
    let (mut advanced, mut duplicate, mut replaced, mut unknown) = (0, 0, 0, 0);
    let mut rejected: BTreeMap<&str, usize> = BTreeMap::new();
    for r in results {
        match &r.outcome {
            AdvanceOutcome::Advanced => advanced += 1,
            AdvanceOutcome::Rejected { code } => *rejected.entry(code.as_str()).or_default() += 1,
            AdvanceOutcome::Replaced => replaced += 1,
            AdvanceOutcome::UnknownKey => unknown += 1,
            AdvanceOutcome::AlreadyPast { .. }
            | AdvanceOutcome::OtherObject { .. }
            | AdvanceOutcome::Concurrent
            | AdvanceOutcome::DuplicateInBatch => duplicate += 1,
        }
    }
    metrics.emit(
        &[],
        &[
            ("Advanced", count(advanced), Unit::Count),
            ("Duplicate", count(duplicate), Unit::Count),
            ("Replaced", count(replaced), Unit::Count),
            ("UnknownKey", count(unknown), Unit::Count),
            ("HandoffsPublished", count(handoff.published()), Unit::Count),
            ("HandoffFailures", count(handoff.failed), Unit::Count),
        ],
    );
    for (code, n) in rejected {
        metrics.emit_rolled_up(&[("Code", code)], &[("Rejected", count(n), Unit::Count)]);
    }
}

/// One reaper run.
pub(crate) fn reaper(metrics: &Metrics, r: &ReapReport) {
    metrics.emit(
        &[],
        &[
            ("ReaperClaimed", count(r.claimed), Unit::Count),
            ("Recovered", count(r.recovered), Unit::Count),
            ("Expired", count(r.expired), Unit::Count),
            ("TimedOut", count(r.timed_out), Unit::Count),
            ("HeadErrors", count(r.head_errors), Unit::Count),
            (
                "MultipartInProgress",
                count(r.multipart_in_progress),
                Unit::Count,
            ),
            (
                "HandoffsPublished",
                count(r.handoffs_published),
                Unit::Count,
            ),
            ("HandoffFailures", count(r.handoff_failures), Unit::Count),
        ],
    );
}
