//! `lambda-bench`: runs the real `bootstrap` binaries exactly as Lambda does
//! (under the Runtime API emulator, against a fresh local Postgres database)
//! next to the floor of this design, `bench-probe` (one statement per
//! request through the same pool), and the local HTTP server, and prints a
//! Markdown report: each figure against its target and the floor.
//!
//! usage: lambda-bench [--bin-dir DIR] [--smoke] [--out FILE] [--criterion-dir DIR]
//!                      [--compare-bin-dir DIR --compare-label TEXT] [--lambda-dir DIR]
//!   --bin-dir        where upload-api, upload-events and bench-probe are (default target/release)
//!   --smoke          a ~10-second run that only checks everything works
//!   --out            write the report there (default: stdout)
//!   --criterion-dir  add the criterion results found there (target/criterion)
//!   --compare-*      also measure cold starts of another build of the binaries
//!   --lambda-dir     cargo lambda's output, for the arm64 sizes (default target/lambda)

mod event_floor;
mod fixtures;
mod footprint;
mod http;
mod lambda;
mod listing;
mod probe;
mod report;
mod targets;
mod tls;

use std::path::{Path, PathBuf};

use lambda_emulator::Emulator;
use serde_json::Value;
use upload_testkit::{CountingProxy, TestDb};

use fixtures::{base_env, fixture, init_request, queued_jobs_event, status_request};
use lambda::{cold_pair, cold_starts, invoke_ok, rss_kb, spawn, warm};
use probe::{Floor, job_id_of, warm_probe};
use report::{Row, criterion_rows, row};
use tls::COLD_TARGET;

struct Args {
    bin_dir: PathBuf,
    smoke: bool,
    out: Option<PathBuf>,
    criterion_dir: Option<PathBuf>,
    compare: Option<PathBuf>,
    compare_label: String,
    lambda_dir: PathBuf,
}

fn parse_args() -> Args {
    let mut a = Args {
        bin_dir: PathBuf::from("target/release"),
        smoke: false,
        out: None,
        criterion_dir: None,
        compare: None,
        compare_label: String::from("other build"),
        lambda_dir: PathBuf::from("target/lambda"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| args.next().unwrap_or_else(|| panic!("{arg} {what}"));
        match arg.as_str() {
            "--criterion-dir" => a.criterion_dir = Some(PathBuf::from(value("DIR"))),
            "--compare-bin-dir" => a.compare = Some(PathBuf::from(value("DIR"))),
            "--compare-label" => a.compare_label = value("TEXT"),
            "--bin-dir" => a.bin_dir = PathBuf::from(value("DIR")),
            "--lambda-dir" => a.lambda_dir = PathBuf::from(value("DIR")),
            "--smoke" => a.smoke = true,
            "--out" => a.out = Some(PathBuf::from(value("FILE"))),
            other => panic!("unexpected argument {other:?}"),
        }
    }
    a
}

/// How much each part measures.
struct Runs {
    cold: usize,
    warm: usize,
    batches: usize,
    rss_invocations: usize,
    load_secs: u64,
}

/// What the warm runs found besides latency rows.
struct Warm {
    trips: Vec<String>,
    rss_100: u64,
    rss_end: u64,
    hwm: u64,
    events_hwm: u64,
}

#[tokio::main]
async fn main() {
    let args = parse_args();
    let api_bin = args.bin_dir.join("upload-api");
    let events_bin = args.bin_dir.join("upload-events");
    let probe_bin = args.bin_dir.join("bench-probe");
    for b in [&api_bin, &events_bin, &probe_bin] {
        assert!(
            b.exists(),
            "{} not found: build it first (cargo build --release --bin upload-api --bin upload-events --bin bench-probe)",
            b.display()
        );
    }
    let runs = if args.smoke {
        Runs {
            cold: 2,
            warm: 20,
            batches: 2,
            rss_invocations: 100,
            load_secs: 1,
        }
    } else {
        Runs {
            cold: 30,
            warm: 300,
            batches: 50,
            rss_invocations: 1000,
            load_secs: 10,
        }
    };

    let t = TestDb::new().await;
    let mut rows = cold_rows(&t, &args.bin_dir, None, runs.cold).await;
    let mut plain = (rows[0].value, None);
    let mut builds = vec![(args.bin_dir.as_path(), "default build")];
    if let Some(dir) = &args.compare {
        let compared = cold_rows(&t, dir, Some(&args.compare_label), runs.cold).await;
        plain.1 = compared[0].value;
        rows.extend(compared);
        builds.push((dir.as_path(), args.compare_label.as_str()));
    }
    let tls_rows = tls::tls_rows(&builds, runs.cold).await;
    let tls_pair = (tls_rows[0].value, tls_rows.get(1).and_then(|r| r.value));
    let jitter = tls::jitter_line(tls_pair, plain, &args.compare_label);
    rows.extend(tls_rows);
    let proxy = CountingProxy::start(t.server_addr()).await;
    let penv = base_env(&t.url_via(proxy.addr));
    let floor = warm_probe(&probe_bin, &penv, &proxy, runs.warm, runs.rss_invocations).await;
    let (api_rows, mut w) = warm_api(&api_bin, &penv, &proxy, &runs, &floor).await;
    rows.extend(api_rows);
    rows.push(warm_events(&t, &events_bin, &penv, &proxy, &runs, &mut w).await);
    rows.extend(http::http_load(&t, runs.load_secs).await);
    rows.extend(listing::listing_rows(args.smoke).await);
    if let Some(dir) = &args.criterion_dir {
        rows.extend(criterion_rows(dir));
    }
    let md = render(rows, &w, &floor, &runs, &args, jitter);
    match args.out {
        Some(p) => std::fs::write(&p, md).expect("write report"),
        None => print!("{md}"),
    }
}

/// spawn → first response for both functions (`label`: a comparison build),
/// the API alternated run by run with bench-probe (spawn → first INSERT),
/// whose median is every cold start's floor.
async fn cold_rows(t: &TestDb, dir: &Path, label: Option<&str>, runs: usize) -> Vec<Row> {
    let env = base_env(&t.url);
    let one = queued_jobs_event(t, 1).await;
    let (api_bin, probe_bin) = (dir.join("upload-api"), dir.join("bench-probe"));
    let (api, probe) = cold_pair(&api_bin, &probe_bin, &env, init_request, runs).await;
    let events = cold_starts(&dir.join("upload-events"), &env, &one, runs).await;
    let (api_what, events_what) = match label {
        None => (
            "cold start upload-api (spawn → first /upload/init response: DB connect, INSERT, presign)"
                .to_owned(),
            "cold start upload-events (spawn → first 1-record S3 event done)".to_owned(),
        ),
        Some(l) => (
            format!("cold start upload-api, {l} (to first /upload/init)"),
            format!("cold start upload-events, {l}"),
        ),
    };
    let mut rows = vec![
        row(&api_what, api, COLD_TARGET, "").with_floor(probe.clone()),
        row(&events_what, events, COLD_TARGET, "").with_floor(probe.clone()),
    ];
    if label.is_none() {
        rows.push(
            row(
                "cold start upload-events with the hand-off on (… incl. PutEvents to a local endpoint)",
                cold_with_handoff(&dir.join("upload-events"), env, &one, runs).await,
                COLD_TARGET,
                "",
            )
            .with_floor(probe),
        );
    }
    rows
}

/// The events function's cold start with `HANDOFF_EVENT_BUS` set: the
/// EventBridge client built at init, and the event's PutEvents, against a
/// local PutEvents endpoint.
async fn cold_with_handoff(
    bin: &Path,
    mut env: Vec<(String, String)>,
    event: &Value,
    runs: usize,
) -> Vec<f64> {
    let out = std::env::temp_dir().join(format!("bench-handoff-{}.jsonl", uuid::Uuid::new_v4()));
    let eb = upload_testkit::eventbridge::LocalEventBridge::start(out.clone(), "us-east-1")
        .await
        .expect("local EventBridge");
    env.push(("HANDOFF_EVENT_BUS".into(), "default".into()));
    env.push(("AWS_ENDPOINT_URL_EVENTBRIDGE".into(), eb.url.clone()));
    let times = cold_starts(bin, &env, event, runs).await;
    let _ = std::fs::remove_file(out);
    times
}

/// Warm init and status through a round-trip-counting proxy, round trips
/// per route, and memory over many invocations.
async fn warm_api(
    api_bin: &Path,
    penv: &[(String, String)],
    proxy: &CountingProxy,
    runs: &Runs,
    floor: &Floor,
) -> (Vec<Row>, Warm) {
    let emu = Emulator::start().await;
    let mut api = spawn(&emu, api_bin, penv);
    let job_id = job_id_of(&invoke_ok(&emu, &init_request()).await);
    let _ = invoke_ok(&emu, &status_request(&job_id)).await;
    let mut trips = Vec::new();
    for (what, ev) in [
        ("init", init_request()),
        ("status", status_request(&job_id)),
        ("list", fixture("apigw-jobs.json")),
    ] {
        proxy.reset();
        let _ = invoke_ok(&emu, &ev).await;
        trips.push(format!("{what} {}", proxy.round_trips()));
    }
    let init = warm(&emu, (0..runs.warm).map(|_| init_request())).await;
    let status = warm(&emu, (0..runs.warm).map(|_| status_request(&job_id))).await;
    let rows = vec![
        row(
            "warm upload-api init (API Gateway v2 → 201) vs probe INSERT",
            init,
            "≤ 1.3× probe",
            "",
        )
        .with_floor(floor.insert.clone()),
        row(
            "warm upload-api status (API Gateway v2 → 200) vs probe SELECT",
            status,
            "≤ 1.2× probe",
            "",
        )
        .with_floor(floor.select.clone()),
    ];
    let pid = api.id();
    let mut rss_100 = 0;
    for i in 1..=runs.rss_invocations {
        let ev = if i % 2 == 0 {
            init_request()
        } else {
            status_request(&job_id)
        };
        let _ = invoke_ok(&emu, &ev).await;
        if i == 100 {
            rss_100 = rss_kb(pid, "VmRSS:");
        }
    }
    let w = Warm {
        trips,
        rss_100,
        rss_end: rss_kb(pid, "VmRSS:"),
        hwm: rss_kb(pid, "VmHWM:"),
        events_hwm: 0,
    };
    let _ = api.kill();
    let _ = api.wait();
    (rows, w)
}

/// Warm 100-record S3 events (100 queued jobs advanced each).
async fn warm_events(
    t: &TestDb,
    events_bin: &Path,
    penv: &[(String, String)],
    proxy: &CountingProxy,
    runs: &Runs,
    w: &mut Warm,
) -> Row {
    let emu = Emulator::start().await;
    let mut events = spawn(&emu, events_bin, penv);
    let warmup = queued_jobs_event(t, 1).await;
    let _ = invoke_ok(&emu, &warmup).await;
    let mut evs = Vec::new();
    for _ in 0..runs.batches {
        evs.push(queued_jobs_event(t, 100).await);
    }
    proxy.reset();
    let lat = warm(&emu, evs.into_iter()).await;
    w.trips.push(format!(
        "100-record event {}",
        proxy.round_trips() / runs.batches as u64
    ));
    w.events_hwm = rss_kb(events.id(), "VmHWM:");
    let _ = events.kill();
    let _ = events.wait();
    // The floor: PostgreSQL alone moving 100 jobs in one statement.
    let floor = event_floor::bare_updates(t, runs.batches).await;
    row(
        "warm upload-events, 100-record S3 event (100 jobs advanced) vs a bare 100-row UPDATE",
        lat,
        "≤ 3 ms",
        "",
    )
    .with_floor(floor)
}

fn render(
    mut rows: Vec<Row>,
    w: &Warm,
    floor: &Floor,
    runs: &Runs,
    args: &Args,
    jitter: Option<String>,
) -> String {
    rows.extend(footprint::memory_rows(&footprint::Memory {
        invocations: runs.rss_invocations,
        api_hwm_kb: w.hwm,
        api_rss_100_kb: w.rss_100,
        api_rss_end_kb: w.rss_end,
        probe_hwm_kb: floor.hwm_kb,
        events_hwm_kb: w.events_hwm,
        event_batches: runs.batches,
    }));
    rows.extend(footprint::size_rows(&args.bin_dir, &args.lambda_dir));
    targets::add_missing(&mut rows);
    let mut md = targets::table(&rows);
    md.push_str(&format!(
        "\nDatabase round trips per invocation (counted on the wire, ReadyForQuery messages): {}; {}. Targets: init 1, status 1, list 1, event batch 1.\n",
        w.trips.join(", "),
        floor.trips
    ));
    md.push_str(&format!(
        "\nThe floor is `bench-probe` (tools/bench/probe), built with the functions: one `query_typed` INSERT per POST, one SELECT per GET, through the same pool and `Config`; no S3, no JWT, no logging. The 100-record event's floor is PostgreSQL alone: a bare `UPDATE … FROM unnest` of 100 queued jobs by primary key, autocommitted, from lambda-bench's own connection (`tools/bench/src/event_floor.rs`). Binaries measured: {}.\n",
        args.bin_dir.display()
    ));
    if let Some(line) = jitter {
        md.push_str(&format!("\n{line}\n"));
    }
    md
}
