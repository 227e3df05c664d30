//! The table of BENCHMARKS.md: each row against its target and its floor
//! (bench-probe), `met?` read off the target's text, and every target of
//! the performance issue present, measured or not.

use crate::report::{Row, Unit, ms};

/// Targets every report shows: (how its row is recognised in `what`, the
/// row shown when this run has none, the target, why it is missing).
const REQUIRED: &[(&str, &str, &str, &str)] = &[
    (
        "parse + decode",
        "micro: parse + decode a 100-record S3 event",
        "≤ 200 µs",
        "no criterion results in this run (bench.sh runs `cargo bench`; --smoke does not)",
    ),
    (
        "presign one",
        "micro: presign one PUT URL",
        "≤ 30 µs",
        "no criterion results in this run (bench.sh runs `cargo bench`; --smoke does not)",
    ),
    (
        "list",
        "warm upload-api listing, one page at 10⁶ rows",
        "p50 ≤ 2 ms per page",
        "no listing benchmark in this run",
    ),
];

/// Adds a "not measured" row for each required target no row covers.
pub fn add_missing(rows: &mut Vec<Row>) {
    for (key, what, target, why) in REQUIRED {
        let key = key.to_lowercase();
        if !rows.iter().any(|r| r.what.to_lowercase().contains(&key)) {
            rows.push(Row::not_measured(what, target, why));
        }
    }
}

/// One condition of a target.
enum Clause {
    /// `≤ N× probe`: our median over the floor's.
    Ratio(f64),
    /// `≤ N unit`: the median itself (converted to the row's unit).
    Max(f64, Unit),
    /// Judged by the row's own check (`flat`).
    Check,
    Unknown,
}

fn parse_clause(c: &str) -> Clause {
    let c = c.trim();
    if c == "flat" {
        return Clause::Check;
    }
    let Some(rest) = c.split_once('≤').map(|(_, r)| r.trim()) else {
        return Clause::Unknown;
    };
    let num: String = rest
        .chars()
        .take_while(|ch| ch.is_ascii_digit() || *ch == '.')
        .collect();
    let Ok(n) = num.parse::<f64>() else {
        return Clause::Unknown;
    };
    let after = rest[num.len()..].trim_start();
    if after.starts_with('×') {
        return Clause::Ratio(n);
    }
    match after.split_whitespace().next().unwrap_or("") {
        "ns" => Clause::Max(n / 1e6, Unit::Ms),
        "µs" | "us" => Clause::Max(n / 1e3, Unit::Ms),
        "ms" => Clause::Max(n, Unit::Ms),
        "s" => Clause::Max(n * 1e3, Unit::Ms),
        "MB" => Clause::Max(n, Unit::Mb),
        _ => Clause::Unknown,
    }
}

fn show(v: f64, unit: Unit) -> String {
    match unit {
        Unit::Ms => ms(v),
        Unit::Mb => format!("{v:.2} MB"),
    }
}

/// `met`, `missed: why`, `not measured: why`, or `—` (no target: reported).
pub fn verdict(r: &Row) -> String {
    let target = r.target.trim();
    if target.is_empty() || target == "report" {
        return "— (reported)".into();
    }
    let Some(v) = r.value else {
        return format!("not measured: {}", r.note);
    };
    if let Some(why) = &r.not_judged {
        return format!("not measured: {why}");
    }
    let mut missed = Vec::new();
    let target = target.strip_prefix("p50").unwrap_or(target);
    for clause in target.split(" and ").flat_map(|c| c.split(", ")) {
        match parse_clause(clause) {
            Clause::Ratio(max) => match r.floor {
                Some(f) if f > 0.0 => {
                    if v / f > max {
                        missed.push(format!("{:.2}× probe > {max}×", v / f));
                    }
                }
                _ => missed.push("no floor measured".into()),
            },
            Clause::Max(max, unit) if unit == r.unit => {
                if v > max {
                    let limit = clause.trim().trim_start_matches('≤').trim();
                    missed.push(format!("{} > {limit}", show(v, unit)));
                }
            }
            Clause::Max(..) | Clause::Unknown => {
                missed.push(format!("cannot read target {:?}", clause.trim()))
            }
            Clause::Check => {}
        }
    }
    if let Some((false, why)) = &r.check {
        missed.push(why.clone());
    }
    if missed.is_empty() {
        "met".into()
    } else {
        format!("missed: {}", missed.join("; "))
    }
}

/// The Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut md = String::from(
        "| measurement | ours median | ours p99 | floor (probe) median | ratio | target | met? |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let what = if r.note.is_empty() || r.value.is_none() {
            r.what.clone()
        } else {
            format!("{} — {}", r.what, r.note)
        };
        let (floor, ratio) = match (r.floor, r.value) {
            (Some(f), Some(v)) if f > 0.0 => (show(f, r.unit), format!("{:.2}×", v / f)),
            (Some(f), _) => (show(f, r.unit), "—".into()),
            _ => ("—".into(), "—".into()),
        };
        md.push_str(&format!(
            "| {what} | {} | {} | {floor} | {ratio} | {} | {} |\n",
            r.median,
            r.p99,
            r.target,
            verdict(r)
        ));
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::row;

    #[test]
    fn targets_are_read_off_their_text() {
        let r = row("x", vec![20.0; 3], "≤ 1.5× probe and ≤ 15 ms", "").with_floor(vec![10.0]);
        assert_eq!(verdict(&r), "missed: 2.00× probe > 1.5×; 20.00 ms > 15 ms");
        let r = row("x", vec![0.15; 3], "≤ 200 µs", "");
        assert_eq!(verdict(&r), "met");
        let r = row("x", vec![1.9; 3], "p50 ≤ 2 ms per page", "");
        assert_eq!(verdict(&r), "met");
        let r = row("x", vec![1.0; 3], "≤ 1.2× probe", "");
        assert_eq!(verdict(&r), "missed: no floor measured");
        let mut r = Row::mb("rss", 11.0, "≤ 12 MB, flat", "");
        r.check = Some((false, "grew 2.0 MB".into()));
        assert_eq!(verdict(&r), "missed: grew 2.0 MB");
        assert_eq!(verdict(&Row::mb("bin", 7.9, "≤ 8 MB", "")), "met");
        assert!(verdict(&Row::not_measured("y", "≤ 3 ms", "why")).starts_with("not measured: why"));
        assert_eq!(verdict(&row("x", vec![1.0], "report", "")), "— (reported)");
    }
}
