//! The report: rows of median/p99 with their targets, criterion's results
//! folded in, rendered as the Markdown table in BENCHMARKS.md.

use std::path::Path;

use serde_json::Value;

pub struct Row {
    pub what: String,
    pub median: String,
    pub p99: String,
    pub target: String,
    pub note: String,
    /// Our median in the target's unit (`unit`), for `met?`; `None`: not
    /// measured (`note` says why).
    pub value: Option<f64>,
    pub unit: Unit,
    /// The floor's (bench-probe's) median, in `unit`.
    pub floor: Option<f64>,
    /// A part of the target the median cannot show ("flat"): met, and why not.
    pub check: Option<(bool, String)>,
    /// Measured, but not comparable with the target (why).
    pub not_judged: Option<String>,
}

/// What `value` and `floor` are in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Unit {
    Ms,
    Mb,
}

impl Row {
    /// The median of `floor` as this row's floor (bench-probe's figure).
    pub fn with_floor(mut self, mut floor: Vec<f64>) -> Row {
        if !floor.is_empty() {
            self.floor = Some(pct(&mut floor, 0.5));
        }
        self
    }

    /// A target this run could not measure, and why: shown, never dropped.
    pub fn not_measured(what: &str, target: &str, why: &str) -> Row {
        Row {
            what: what.to_owned(),
            median: "—".into(),
            p99: "—".into(),
            target: target.to_owned(),
            note: why.to_owned(),
            value: None,
            unit: Unit::Ms,
            floor: None,
            check: None,
            not_judged: None,
        }
    }

    /// A size or memory figure in MB (one number: no p99).
    pub fn mb(what: &str, mb: f64, target: &str, note: &str) -> Row {
        Row {
            median: format!("{mb:.2} MB"),
            value: Some(mb),
            unit: Unit::Mb,
            note: note.to_owned(),
            ..Row::not_measured(what, target, "")
        }
    }
}

pub fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

pub fn ms(v: f64) -> String {
    if v < 0.001 {
        format!("{:.0} ns", v * 1e6)
    } else if v < 1.0 {
        format!("{:.1} µs", v * 1000.0)
    } else {
        format!("{v:.2} ms")
    }
}

pub fn row(what: &str, mut v: Vec<f64>, target: &str, note: &str) -> Row {
    let median = pct(&mut v, 0.5);
    Row {
        median: ms(median),
        p99: ms(pct(&mut v, 0.99)),
        note: note.to_owned(),
        value: Some(median),
        ..Row::not_measured(what, target, "")
    }
}

/// Criterion's per-sample times (target/criterion/*/new/sample.json): the
/// mean time per iteration of each sample; median and p99 over samples.
pub fn criterion_rows(dir: &Path) -> Vec<Row> {
    let targets = [
        ("presign", "≤ 30 µs"),
        ("build + sanitise", "≤ 2 µs"),
        ("JWT", "≤ 10 µs"),
        ("100-record", "≤ 200 µs"),
        ("TLS connector", "report"),
    ];
    let mut rows = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return rows;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let base = e.path().join("new");
        let (Ok(sample), Ok(meta)) = (
            std::fs::read_to_string(base.join("sample.json")),
            std::fs::read_to_string(base.join("benchmark.json")),
        ) else {
            continue;
        };
        let sample: Value = serde_json::from_str(&sample).unwrap_or_default();
        let meta: Value = serde_json::from_str(&meta).unwrap_or_default();
        let title = meta["title"].as_str().unwrap_or("?").to_owned();
        let iters = sample["iters"].as_array().cloned().unwrap_or_default();
        let times = sample["times"].as_array().cloned().unwrap_or_default();
        let mut per: Vec<f64> = iters
            .iter()
            .zip(&times)
            .filter_map(|(i, t)| Some(t.as_f64()? / i.as_f64()? / 1e6))
            .collect();
        if per.is_empty() {
            continue;
        }
        let target = targets
            .iter()
            .find(|(k, _)| title.contains(k))
            .map(|(_, t)| *t)
            .unwrap_or("report");
        rows.push(row(
            &format!("micro: {title}"),
            std::mem::take(&mut per),
            target,
            "criterion, per-iteration mean of each sample",
        ));
    }
    rows
}
