//! The verdict: the database's rows, the stack's JSON log lines and what
//! the clients saw, against what must hold after the faults.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::client::{Call, Record};
use crate::dbfaults::Injected;
use crate::load::Outcome;

/// One `upload_jobs` row.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub file_name: String,
    pub status: String,
    pub error_code: Option<String>,
}

/// What the stack's log says happened.
#[derive(Debug, Default)]
pub struct LogFigures {
    /// `"event":"advanced"` lines per job id.
    pub advanced: HashMap<String, usize>,
    pub recovered_by_reaper: usize,
    /// Injected notification faults by kind (`drop`, `delay`, `duplicate`).
    pub faults: BTreeMap<String, usize>,
    /// Extra deliveries the duplicates made (copies beyond the first).
    pub redeliveries: usize,
    pub delivery_failures: usize,
    pub undeliverable: usize,
    pub expired: usize,
    /// Reaper runs that failed (the database was away).
    pub reaper_failures: usize,
    /// `rejected` and `unknown_key` lines: never expected here.
    pub misjudged: Vec<String>,
}

/// Reads the stack's stdout lines.
pub fn read_log(lines: &[String]) -> LogFigures {
    let mut f = LogFigures::default();
    for line in lines {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
        match v["event"].as_str().unwrap_or_default() {
            "advanced" => {
                *f.advanced.entry(s("job_id")).or_default() += 1;
                if v["source"] == "reaper" {
                    f.recovered_by_reaper += 1;
                }
            }
            "notification_fault" => {
                *f.faults.entry(s("fault")).or_default() += 1;
                f.redeliveries += v["copies"].as_u64().map_or(0, |c| c as usize - 1);
            }
            "delivery_failed" => f.delivery_failures += 1,
            "notification_undeliverable" => f.undeliverable += 1,
            "expired" => f.expired += 1,
            "rejected" | "unknown_key" => f.misjudged.push(line.clone()),
            _ if v["message"] == "reaper run failed" => f.reaper_failures += 1,
            _ => {}
        }
    }
    f
}

/// The figures of the summary line and every violation found.
#[derive(Debug, Default)]
pub struct Verdict {
    pub uploads: usize,
    pub abandoned: usize,
    pub orphans: usize,
    pub lost: usize,
    pub double_advanced: usize,
    /// Uploaded jobs that ended `processing` without a hand-off event.
    pub unhanded: usize,
    pub unlogged_advances: usize,
    pub duplicate_rows: usize,
    pub non_503_5xx: usize,
    pub s503s: usize,
    pub outside_outage_503s: usize,
    pub hangs: usize,
    pub violations: Vec<String>,
}

/// Checks the final state of every job against what its client did.
pub fn jobs(outcomes: &[Outcome], rows: &[Row], log: &LogFigures, v: &mut Verdict) {
    let by_id: HashMap<&str, &Row> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut known = HashSet::new();
    for o in outcomes {
        let Some(id) = o.job_id.as_deref() else {
            continue;
        };
        known.insert(id);
        let row = by_id.get(id);
        let state = row.map(|r| (r.status.as_str(), r.error_code.as_deref()));
        if o.uploaded {
            v.uploads += 1;
            if state != Some(("processing", None)) {
                v.lost += 1;
                v.violations.push(format!(
                    "uploaded job {id} (slot {}) ended {state:?}",
                    o.slot
                ));
            }
            if log.advanced.get(id).copied().unwrap_or(0) == 0 {
                v.unlogged_advances += 1;
            }
        } else if o.abandoned {
            v.abandoned += 1;
            if state != Some(("failed", Some("UPLOAD_EXPIRED"))) {
                v.violations.push(format!(
                    "never-uploaded job {id} (slot {}) ended {state:?}",
                    o.slot
                ));
            }
        }
    }
    // Rows no client was given (an init without a key whose answer was
    // lost): never uploaded, so they must have expired.
    for r in rows.iter().filter(|r| !known.contains(r.id.as_str())) {
        v.orphans += 1;
        if (r.status.as_str(), r.error_code.as_deref()) != ("failed", Some("UPLOAD_EXPIRED")) {
            v.violations.push(format!(
                "orphan row {} ({}) ended {} {:?}",
                r.id, r.file_name, r.status, r.error_code
            ));
        }
    }
    for (id, n) in log.advanced.iter().filter(|(_, n)| **n > 1) {
        v.double_advanced += 1;
        v.violations.push(format!("job {id} advanced {n} times"));
    }
    for line in &log.misjudged {
        v.violations.push(format!("unexpected judgement: {line}"));
    }
}

/// Every uploaded job that ended `processing` was handed off at least once:
/// `handed` counts the events per job id in `handoff.jsonl`.
pub fn handoffs(
    outcomes: &[Outcome],
    rows: &[Row],
    handed: &HashMap<String, usize>,
    v: &mut Verdict,
) {
    let processing: HashSet<&str> = rows
        .iter()
        .filter(|r| r.status == "processing")
        .map(|r| r.id.as_str())
        .collect();
    for o in outcomes.iter().filter(|o| o.uploaded) {
        let Some(id) = o.job_id.as_deref() else {
            continue;
        };
        if processing.contains(id) && handed.get(id).copied().unwrap_or(0) == 0 {
            v.unhanded += 1;
            v.violations.push(format!(
                "job {id} (slot {}) is processing but was never handed off",
                o.slot
            ));
        }
    }
}

/// The hand-off events per job id in a `handoff.jsonl`.
pub fn read_handoffs(text: &str) -> HashMap<String, usize> {
    let mut handed = HashMap::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        if let Some(id) = v["detail"]["job_id"].as_str() {
            *handed.entry(id.to_owned()).or_default() += 1;
        }
    }
    handed
}

/// One row per Idempotency-Key: keyed slots' file names (`-k<slot>.wav`)
/// appear once each.
pub fn one_row_per_key(rows: &[Row], v: &mut Verdict) {
    let mut per_name: HashMap<&str, usize> = HashMap::new();
    for r in rows.iter().filter(|r| r.file_name.contains("-k")) {
        *per_name.entry(r.file_name.as_str()).or_default() += 1;
    }
    for (name, n) in per_name.into_iter().filter(|(_, n)| *n > 1) {
        v.duplicate_rows += n - 1;
        v.violations
            .push(format!("{n} rows for the Idempotency-Key of {name}"));
    }
}

/// 5xx answers and missing answers: only 503, and only for requests in
/// flight while the database refused connections.
pub fn failures(record: &Record, injected: &Injected, v: &mut Verdict) {
    let during_outage = |c: &Call| {
        injected
            .outages
            .iter()
            .any(|(from, to)| c.started <= *to && c.ended >= *from)
    };
    for c in &record.failures {
        match c.status {
            Some(503) => {
                v.s503s += 1;
                if !during_outage(c) {
                    v.outside_outage_503s += 1;
                    let kill = nearest(&injected.kills, c.started);
                    v.violations.push(format!(
                        "503 outside an outage: {} {}ms after the nearest kill-all, took {}ms: {}",
                        c.route,
                        kill,
                        (c.ended - c.started).as_millis(),
                        c.detail
                    ));
                }
            }
            Some(s) => {
                v.non_503_5xx += 1;
                v.violations
                    .push(format!("{s} from {}: {}", c.route, c.detail));
            }
            None => {
                v.hangs += 1;
                v.violations.push(format!(
                    "{} without an answer after {}ms: {}",
                    c.route,
                    (c.ended - c.started).as_millis(),
                    c.detail
                ));
            }
        }
    }
}

/// Signed milliseconds from the nearest of `at` to `t`.
fn nearest(at: &[Instant], t: Instant) -> i128 {
    at.iter()
        .map(|k| {
            if t >= *k {
                (t - *k).as_millis() as i128
            } else {
                -((*k - t).as_millis() as i128)
            }
        })
        .min_by_key(|d| d.abs())
        .unwrap_or(i128::MAX)
}

/// Seconds with one decimal.
pub fn secs(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(slot: usize, id: &str, uploaded: bool) -> Outcome {
        Outcome {
            slot,
            job_id: Some(id.to_owned()),
            uploaded,
            abandoned: !uploaded,
            keyed: true,
            repeats: 0,
        }
    }

    fn row(id: &str, name: &str, status: &str, code: Option<&str>) -> Row {
        Row {
            id: id.to_owned(),
            file_name: name.to_owned(),
            status: status.to_owned(),
            error_code: code.map(str::to_owned),
        }
    }

    #[test]
    fn every_kind_of_violation_is_found() {
        let log = read_log(&[
            r#"{"event":"advanced","source":"s3","job_id":"a"}"#.to_owned(),
            r#"{"event":"advanced","source":"reaper","job_id":"a"}"#.to_owned(),
            r#"{"event":"notification_fault","fault":"duplicate","copies":3,"key":"k"}"#.to_owned(),
            "local-stack ready api=http://x".to_owned(),
        ]);
        assert_eq!((log.recovered_by_reaper, log.redeliveries), (1, 2));
        let outcomes = [
            outcome(0, "a", true),
            outcome(1, "b", true),
            outcome(2, "c", false),
        ];
        let rows = [
            row("a", "soak-1-k0.wav", "processing", None),
            row("b", "soak-1-k1.wav", "queued", None),
            row("c", "soak-1-k2.wav", "failed", Some("UPLOAD_EXPIRED")),
            row("d", "soak-1-k2.wav", "queued", None),
        ];
        let mut v = Verdict::default();
        jobs(&outcomes, &rows, &log, &mut v);
        one_row_per_key(&rows, &mut v);
        assert_eq!(
            (
                v.uploads,
                v.abandoned,
                v.lost,
                v.double_advanced,
                v.orphans,
                v.duplicate_rows
            ),
            (2, 1, 1, 1, 1, 1),
            "{:?}",
            v.violations
        );
        // lost b, a advanced twice, orphan d not expired, two rows for k2.
        assert_eq!(v.violations.len(), 4, "{:?}", v.violations);
    }

    #[test]
    fn a_processing_job_without_a_handoff_is_a_violation() {
        let outcomes = [
            outcome(1, "a", true),
            outcome(2, "b", true),
            outcome(3, "c", false),
        ];
        let rows = [
            row("a", "soak-1.wav", "processing", None),
            row("b", "soak-2.wav", "processing", None),
            row("c", "soak-3.wav", "failed", Some("UPLOAD_EXPIRED")),
        ];
        let jsonl = "{\"detail\":{\"job_id\":\"a\"}}\n{\"detail\":{\"job_id\":\"a\"}}\nnot json\n";
        let handed = read_handoffs(jsonl);
        assert_eq!(handed.get("a"), Some(&2));
        let mut v = Verdict::default();
        handoffs(&outcomes, &rows, &handed, &mut v);
        assert_eq!(v.unhanded, 1);
        assert!(v.violations[0].contains("job b"), "{:?}", v.violations);
    }

    #[test]
    fn a_503_counts_against_the_run_only_outside_an_outage() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let call = |from: u64, to: u64, status: Option<u16>| Call {
            route: "init",
            started: at(from),
            ended: at(to),
            status,
            detail: String::new(),
        };
        let record = Record {
            failures: vec![
                call(900, 1100, Some(503)),
                call(4000, 4100, Some(503)),
                call(100, 200, Some(500)),
                call(0, 20_000, None),
            ],
            ..Record::default()
        };
        let injected = Injected {
            outages: vec![(at(1000), at(3000))],
            kills: vec![at(3990)],
            ..Injected::default()
        };
        let mut v = Verdict::default();
        failures(&record, &injected, &mut v);
        assert_eq!(
            (v.s503s, v.outside_outage_503s, v.non_503_5xx, v.hangs),
            (2, 1, 1, 1)
        );
        assert!(
            v.violations[0].contains("10ms after the nearest kill-all"),
            "{:?}",
            v.violations
        );
    }
}
