//! `fault-soak`: hundreds of uploads from concurrent clients against a
//! `local-stack` child process while every database connection is killed
//! several times, the database refuses connections for a few seconds, S3
//! notifications are lost, delayed and delivered 2-3 times, and clients
//! repeat their inits with the same Idempotency-Key or never upload. Then
//! the reaper settles every job and the run is judged: one summary line,
//! exit status 1 on any violation (each printed on stderr), 2 when the run
//! could not be made. Everything is decided by `--seed` (default fixed).
//!
//! `bash scripts/soak.sh` builds `local-stack` and this binary, then runs it.

mod check;
mod client;
mod dbfaults;
mod load;
mod plan;
mod run;
mod stack;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use run::{Results, Settings};

const DEFAULT_SEED: u64 = 20_251_128;
const USAGE: &str =
    "usage: fault-soak [--seed N] [--uploads N] [--abandoned N] [--clients N] [--stack-bin PATH]
  (defaults: seed 20251128 or $SOAK_SEED, 320 uploads, 40 abandoned, 16 clients,
   local-stack next to this binary)";

fn parse_args() -> Result<Settings, String> {
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(PathBuf::from))
        .unwrap_or_default();
    let seed = match std::env::var("SOAK_SEED") {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map_err(|_| format!("SOAK_SEED must be an integer, got {v:?}"))?,
        _ => DEFAULT_SEED,
    };
    let mut s = Settings {
        seed,
        uploads: 320,
        abandoned: 40,
        clients: 16,
        stack_bin: exe_dir.join("local-stack"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .ok_or(format!("{flag} needs a value\n{USAGE}"))?;
        let int = |v: &str| -> Result<u64, String> {
            v.parse()
                .map_err(|_| format!("{flag} must be a non-negative integer, got {v:?}"))
        };
        match flag.as_str() {
            "--seed" => s.seed = int(&value)?,
            "--uploads" => s.uploads = int(&value)?.max(1) as usize,
            "--abandoned" => s.abandoned = int(&value)? as usize,
            "--clients" => s.clients = int(&value)?.clamp(1, 256) as usize,
            "--stack-bin" => s.stack_bin = PathBuf::from(value),
            other => return Err(format!("unexpected argument {other:?}\n{USAGE}")),
        }
    }
    Ok(s)
}

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match parse_args() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fault-soak: {e}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!(
        "fault-soak-{}-{}",
        settings.seed,
        std::process::id()
    ));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("fault-soak: cannot create {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let results = run::soak(&settings, &dir).await;
    let results = match results {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fault-soak: {e} (logs in {})", dir.display());
            return ExitCode::from(2);
        }
    };
    for v in results.verdict.violations.iter().take(40) {
        eprintln!("violation: {v}");
    }
    println!("{}", summary(&settings, &results, started));
    // The cluster and the objects are large and of no use afterwards; the
    // logs are kept when something failed.
    let _ = std::fs::remove_dir_all(dir.join("postgres"));
    let _ = std::fs::remove_dir_all(dir.join("objects"));
    if results.verdict.violations.is_empty() {
        let _ = std::fs::remove_dir_all(&dir);
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "fault-soak: {} violations; the stack's log is in {}",
            results.verdict.violations.len(),
            dir.join("stack.log").display()
        );
        ExitCode::FAILURE
    }
}

/// The one summary line: `fault-soak PASS|FAIL name=value ...`.
fn summary(s: &Settings, r: &Results, started: Instant) -> String {
    let verdict = if r.verdict.violations.is_empty() {
        "PASS"
    } else {
        "FAIL"
    };
    let mut figures = vec![
        ("seed", s.seed.to_string()),
        ("clients", s.clients.to_string()),
    ];
    figures.extend(client_figures(r));
    figures.extend(fault_figures(r));
    figures.extend(verdict_figures(r));
    figures.push(("load", format!("{}s", check::secs(r.load_time))));
    figures.push(("duration", format!("{}s", check::secs(started.elapsed()))));
    let figures: Vec<String> = figures.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("fault-soak {verdict} {}", figures.join(" "))
}

/// What the clients did.
fn client_figures(r: &Results) -> Vec<(&'static str, String)> {
    let v = &r.verdict;
    let repeats: usize = r.outcomes.iter().map(|o| o.repeats).sum();
    let keyed = r.outcomes.iter().filter(|o| o.keyed).count();
    vec![
        ("uploads", v.uploads.to_string()),
        ("never_uploaded", v.abandoned.to_string()),
        ("orphan_rows", v.orphans.to_string()),
        ("keyed", keyed.to_string()),
        ("init_repeats", repeats.to_string()),
        ("replays", r.replays.to_string()),
        ("init_503_retries", r.init_503_retries.to_string()),
        ("requests", r.calls.to_string()),
    ]
}

/// The faults injected, by kind, and what the delivery made of them.
fn fault_figures(r: &Results) -> Vec<(&'static str, String)> {
    let fault = |k: &str| r.log.faults.get(k).copied().unwrap_or(0).to_string();
    let outage_ms: u128 = r
        .injected
        .outages
        .iter()
        .map(|(a, b)| (*b - *a).as_millis())
        .sum();
    vec![
        ("db_kills", r.injected.kills.len().to_string()),
        ("outages", r.injected.outages.len().to_string()),
        ("outage_ms", outage_ms.to_string()),
        ("backends_killed", r.injected.backends_killed.to_string()),
        ("notif_dropped", fault("drop")),
        ("notif_delayed", fault("delay")),
        ("notif_duplicated", fault("duplicate")),
        ("redeliveries", r.log.redeliveries.to_string()),
        ("delivery_retries", r.log.delivery_failures.to_string()),
        ("undeliverable", r.log.undeliverable.to_string()),
        ("reaper_recovered", r.log.recovered_by_reaper.to_string()),
        ("reaper_expired", r.log.expired.to_string()),
        ("reaper_failed_runs", r.log.reaper_failures.to_string()),
        ("stuck_claims", r.stuck_claims.to_string()),
    ]
}

/// The checks' figures.
fn verdict_figures(r: &Results) -> Vec<(&'static str, String)> {
    let v = &r.verdict;
    vec![
        ("lost", v.lost.to_string()),
        ("double_advanced", v.double_advanced.to_string()),
        ("unhanded", v.unhanded.to_string()),
        ("unlogged_advances", v.unlogged_advances.to_string()),
        ("duplicate_rows", v.duplicate_rows.to_string()),
        ("5xx_not_503", v.non_503_5xx.to_string()),
        ("503s", v.s503s.to_string()),
        ("503s_outside_outage", v.outside_outage_503s.to_string()),
        ("hangs", v.hangs.to_string()),
        (
            "recovered",
            if r.recovered { "yes" } else { "no" }.to_owned(),
        ),
        ("violations", v.violations.len().to_string()),
    ]
}
