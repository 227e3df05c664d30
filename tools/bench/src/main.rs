//! `lambda-bench`: runs the real `bootstrap` binaries exactly as Lambda does
//! (under the Runtime API emulator, against a fresh local Postgres database)
//! and the local HTTP server, and prints a Markdown report.
//!
//! usage: lambda-bench [--bin-dir DIR] [--smoke] [--out FILE] [--criterion-dir DIR]
//!                      [--compare-bin-dir DIR --compare-label TEXT]
//!   --bin-dir        where upload-api and upload-events are (default target/release)
//!   --smoke          a ~10-second run that only checks everything works
//!   --out            write the report there (default: stdout)
//!   --criterion-dir  add the criterion results found there (target/criterion)
//!   --compare-*      also measure cold starts of another build of the binaries

mod fixtures;
mod http;
mod lambda;
mod report;

use std::path::{Path, PathBuf};

use lambda_emulator::Emulator;
use serde_json::Value;
use upload_testkit::{CountingProxy, TestDb};

use fixtures::{base_env, fixture, init_request, queued_jobs_event, status_request};
use lambda::{cold_starts, invoke_ok, rss_kb, spawn, warm};
use report::{Row, criterion_rows, row};

struct Args {
    bin_dir: PathBuf,
    smoke: bool,
    out: Option<PathBuf>,
    criterion_dir: Option<PathBuf>,
    compare: Option<PathBuf>,
    compare_label: String,
}

fn parse_args() -> Args {
    let mut a = Args {
        bin_dir: PathBuf::from("target/release"),
        smoke: false,
        out: None,
        criterion_dir: None,
        compare: None,
        compare_label: String::from("other build"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |what: &str| args.next().unwrap_or_else(|| panic!("{arg} {what}"));
        match arg.as_str() {
            "--criterion-dir" => a.criterion_dir = Some(PathBuf::from(value("DIR"))),
            "--compare-bin-dir" => a.compare = Some(PathBuf::from(value("DIR"))),
            "--compare-label" => a.compare_label = value("TEXT"),
            "--bin-dir" => a.bin_dir = PathBuf::from(value("DIR")),
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
    for b in [&api_bin, &events_bin] {
        assert!(
            b.exists(),
            "{} not found: build it first (cargo build --release --bin upload-api --bin upload-events)",
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
    if let Some(dir) = &args.compare {
        rows.extend(cold_rows(&t, dir, Some(&args.compare_label), runs.cold).await);
    }
    let proxy = CountingProxy::start(t.server_addr()).await;
    let penv = base_env(&t.url_via(proxy.addr));
    let (api_rows, mut w) = warm_api(&api_bin, &penv, &proxy, &runs).await;
    rows.extend(api_rows);
    rows.push(warm_events(&t, &events_bin, &penv, &proxy, &runs, &mut w).await);
    rows.extend(http::http_load(&t, runs.load_secs).await);
    if let Some(dir) = &args.criterion_dir {
        rows.extend(criterion_rows(dir));
    }
    let md = render(&rows, &w, &runs, &args.bin_dir, &api_bin, &events_bin);
    match args.out {
        Some(p) => std::fs::write(&p, md).expect("write report"),
        None => print!("{md}"),
    }
}

/// spawn → first response for both functions (`label`: a comparison build).
async fn cold_rows(t: &TestDb, dir: &Path, label: Option<&str>, runs: usize) -> Vec<Row> {
    let env = base_env(&t.url);
    let status_ev = status_request(&uuid::Uuid::new_v4().to_string());
    let one = queued_jobs_event(t, 1).await;
    let api = cold_starts(&dir.join("upload-api"), &env, &status_ev, runs).await;
    let events = cold_starts(&dir.join("upload-events"), &env, &one, runs).await;
    match label {
        None => vec![
            row(
                "cold start upload-api (spawn → first status response, incl. DB connect)",
                api,
                "≤ 40 ms",
                "",
            ),
            row(
                "cold start upload-events (spawn → first 1-record S3 event done)",
                events,
                "≤ 40 ms",
                "",
            ),
            row(
                "cold start upload-events with the hand-off on (… incl. PutEvents to a local endpoint)",
                cold_with_handoff(&dir.join("upload-events"), env, &one, runs).await,
                "≤ 40 ms",
                "",
            ),
        ],
        Some(l) => vec![
            row(
                &format!("cold start upload-api, {l}"),
                api,
                "≤ 40 ms",
                "comparison build",
            ),
            row(
                &format!("cold start upload-events, {l}"),
                events,
                "≤ 40 ms",
                "comparison build",
            ),
        ],
    }
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
) -> (Vec<Row>, Warm) {
    let emu = Emulator::start().await;
    let mut api = spawn(&emu, api_bin, penv);
    let r = invoke_ok(&emu, &init_request()).await;
    let job_id = serde_json::from_str::<Value>(r["body"].as_str().unwrap()).unwrap()["job_id"]
        .as_str()
        .unwrap()
        .to_owned();
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
            "warm upload-api init (API Gateway v2 → 201)",
            init,
            "p50 ≤ 1.5 ms",
            "",
        ),
        row(
            "warm upload-api status (API Gateway v2 → 200)",
            status,
            "p50 ≤ 1 ms",
            "",
        ),
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
    row(
        "warm upload-events, 100-record S3 event (100 jobs advanced)",
        lat,
        "≤ 5 ms",
        "",
    )
}

fn render(
    rows: &[Row],
    w: &Warm,
    runs: &Runs,
    bin_dir: &Path,
    api_bin: &Path,
    events_bin: &Path,
) -> String {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mb = |kb: u64| kb as f64 / 1024.0;
    let mut md = String::new();
    md.push_str("| measurement | median | p99 | target | note |\n|---|---|---|---|---|\n");
    for r in rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.what, r.median, r.p99, r.target, r.note
        ));
    }
    md.push_str(&format!(
        "\nDatabase round trips per invocation (counted on the wire, ReadyForQuery messages): {}. Targets: init 1, status 1, list 1, event batch 1.\n",
        w.trips.join(", ")
    ));
    let n = runs.rss_invocations;
    md.push_str(&format!(
        "\nupload-api peak RSS over {n} invocations (VmHWM): {:.1} MB; RSS after 100: {:.1} MB, after {n}: {:.1} MB (target ≤ 30 MB, no growth). upload-events peak RSS: {:.1} MB.\n",
        mb(w.hwm), mb(w.rss_100), mb(w.rss_end), mb(w.events_hwm)
    ));
    md.push_str(&format!(
        "\nBinaries measured ({}): upload-api {:.2} MB, upload-events {:.2} MB (target ≤ 8 MB).\n",
        bin_dir.display(),
        size(api_bin) as f64 / 1e6,
        size(events_bin) as f64 / 1e6
    ));
    md
}
