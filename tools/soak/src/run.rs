//! The phases of one soak: start the stack, load it while the database
//! faults fire, upload again after them, let the reaper settle every job,
//! stop the stack, and judge.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::check::{self, LogFigures, Row, Verdict};
use crate::client::Api;
use crate::dbfaults::{self, Admin, Injected};
use crate::load::{self, Outcome};
use crate::plan;
use crate::stack::{GRACE_SECS, MAX_DELAY_MS, Stack, URL_TTL_SECS};

/// What the run is told to do.
#[derive(Debug, Clone)]
pub struct Settings {
    pub seed: u64,
    pub uploads: usize,
    pub abandoned: usize,
    pub clients: usize,
    pub stack_bin: std::path::PathBuf,
}

/// Uploads made after the last fault to show the API recovered by itself.
const RECOVERY_UPLOADS: usize = 16;
/// The events function's reaper claim lease (`CLAIM_LEASE_SECS` in
/// functions/upload-events/src/reaper.rs).
const CLAIM_LEASE_SECS: u64 = 240;

/// Everything the summary line reports.
pub struct Results {
    pub verdict: Verdict,
    pub log: LogFigures,
    pub injected: Injected,
    pub outcomes: Vec<Outcome>,
    pub replays: usize,
    pub init_503_retries: usize,
    pub calls: usize,
    pub recovered: bool,
    /// Queued jobs that waited out a failed reaper run's claim lease.
    pub stuck_claims: i64,
    pub load_time: Duration,
}

pub async fn soak(s: &Settings, dir: &Path) -> Result<Results, String> {
    let mut stack = Stack::start(&s.stack_bin, dir, s.seed)?;
    let admin = Admin::new(&stack.database).await?;
    let api = Arc::new(Api::new(&stack.api, s.seed));
    let load_started = Instant::now();
    let injected = Arc::new(Mutex::new(Injected::default()));
    let mut outcomes = load_under_faults(s, &api, &admin, &injected).await;
    let load_time = load_started.elapsed();
    let (recovered, more) = recovery(s, &api).await;
    outcomes.extend(more);
    let jobs = dbfaults::connect(&stack.database).await?;
    let mut verdict = Verdict::default();
    let stuck_claims = settle(&jobs, &mut verdict).await?;
    let rows = rows(&jobs).await?;
    if !stack.alive() {
        verdict
            .violations
            .push("local-stack exited during the run".into());
    }
    let (code, lines) = stack.stop();
    stack_health(dir, code, &mut verdict);
    let log = check::read_log(&lines);
    let record = std::mem::take(&mut *api.record.lock().expect("record lock"));
    let injected = std::mem::take(&mut *injected.lock().expect("fault log lock"));
    check::jobs(&outcomes, &rows, &log, &mut verdict);
    check::one_row_per_key(&rows, &mut verdict);
    let handoff_file = std::fs::read_to_string(dir.join("handoff.jsonl"));
    let handed = check::read_handoffs(&handoff_file.unwrap_or_default());
    check::handoffs(&outcomes, &rows, &handed, &mut verdict);
    check::failures(&record, &injected, &mut verdict);
    verdict.violations.extend(record.violations.iter().cloned());
    verdict.violations.extend(
        injected
            .errors
            .iter()
            .map(|e| format!("fault injection failed: {e}")),
    );
    if !recovered {
        verdict
            .violations
            .push("the API did not serve every upload after the faults".into());
    }
    Ok(Results {
        verdict,
        log,
        injected,
        outcomes,
        replays: record.replays,
        init_503_retries: record.init_503_retries,
        calls: record.calls,
        recovered,
        stuck_claims,
        load_time,
    })
}

/// The slots, with the database faults fired as the slots get done.
async fn load_under_faults(
    s: &Settings,
    api: &Arc<Api>,
    admin: &Admin,
    injected: &Arc<Mutex<Injected>>,
) -> Vec<Outcome> {
    let slots = Arc::new(plan::slots(s.seed, s.uploads, s.abandoned));
    let total = slots.len();
    let schedule = plan::db_faults(s.seed);
    let done = Arc::new(AtomicUsize::new(0));
    let finished = AtomicBool::new(false);
    let load = async {
        let outcomes = load::run(api.clone(), slots, s.clients, done.clone()).await;
        finished.store(true, Ordering::Relaxed);
        outcomes
    };
    let faults = dbfaults::drive(admin, &schedule, &done, total, &finished, injected);
    tokio::join!(load, faults).0
}

/// Uploads after every fault: each must go through without a 5xx or a retry.
async fn recovery(s: &Settings, api: &Arc<Api>) -> (bool, Vec<Outcome>) {
    let failures_before = api.record.lock().expect("record lock").failures.len();
    let slots = plan::recovery_slots(s.seed, s.uploads + s.abandoned, RECOVERY_UPLOADS);
    let tasks: Vec<_> = slots
        .into_iter()
        .map(|slot| {
            let api = api.clone();
            tokio::spawn(async move { load::one(&api, &slot).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for t in tasks {
        match t.await {
            Ok(o) => outcomes.push(o),
            Err(e) => api.violation(format!("a recovery upload failed: {e}")),
        }
    }
    let failures_after = api.record.lock().expect("record lock").failures.len();
    let ok = failures_after == failures_before
        && outcomes.len() == RECOVERY_UPLOADS
        && outcomes.iter().all(|o| o.uploaded);
    (ok, outcomes)
}

/// Waits until no job is `queued` (the reaper expires the abandoned ones
/// and recovers those whose notification was lost), then a little longer
/// for late redeliveries, so a second advance would be seen. Jobs claimed
/// by a reaper run that failed half-way (the database went away between
/// its claim and its update) are left alone until the claim's lease runs
/// out; when only those remain, the wait is extended past the lease and
/// their number returned.
async fn settle(db: &tokio_postgres::Client, verdict: &mut Verdict) -> Result<i64, String> {
    let window = Duration::from_secs(URL_TTL_SECS + GRACE_SECS + 30);
    let mut deadline = Instant::now() + window;
    let mut stuck_claims = 0;
    loop {
        let row = db
            .query_one(
                "SELECT count(*), count(*) FILTER (WHERE updated_at > created_at)
                 FROM upload_jobs WHERE status = 'queued'",
                &[],
            )
            .await
            .map_err(|e| format!("counting queued jobs: {e}"))?;
        let (queued, claimed): (i64, i64) = (row.get(0), row.get(1));
        if queued == 0 {
            break;
        }
        if Instant::now() > deadline {
            if stuck_claims == 0 && claimed == queued {
                eprintln!(
                    "fault-soak: {queued} queued jobs are claimed by reaper runs that failed; waiting out the claim lease"
                );
                stuck_claims = claimed;
                deadline = Instant::now() + Duration::from_secs(CLAIM_LEASE_SECS + 10);
                continue;
            }
            verdict.violations.push(format!(
                "{queued} jobs still queued after the load ({claimed} of them claimed by a reaper run)"
            ));
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(Duration::from_millis(MAX_DELAY_MS + 3000)).await;
    Ok(stuck_claims)
}

async fn rows(db: &tokio_postgres::Client) -> Result<Vec<Row>, String> {
    let rows = db
        .query(
            "SELECT id::text, COALESCE(file_name, ''), status::text, error_code FROM upload_jobs",
            &[],
        )
        .await
        .map_err(|e| format!("reading upload_jobs: {e}"))?;
    Ok(rows
        .iter()
        .map(|r| Row {
            id: r.get(0),
            file_name: r.get(1),
            status: r.get(2),
            error_code: r.get(3),
        })
        .collect())
}

/// The stack stopped cleanly on SIGTERM and never panicked.
fn stack_health(dir: &Path, code: Option<i32>, verdict: &mut Verdict) {
    if code != Some(0) {
        verdict
            .violations
            .push(format!("local-stack exit status {code:?} on SIGTERM"));
    }
    let stderr = std::fs::read_to_string(dir.join("stack.stderr")).unwrap_or_default();
    for line in stderr.lines().filter(|l| l.contains("panicked")) {
        verdict.violations.push(format!("local-stack: {line}"));
    }
}
