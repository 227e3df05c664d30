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

use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_emulator::{Emulator, Outcome};
use serde_json::{Value, json};
use upload_core::{FileKey, JobId, SafeFileName, TenantId};
use upload_testkit::{CountingProxy, TestDb};

const TENANT: &str = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
const BUCKET: &str = "eq-uploads-test";

struct Row {
    what: String,
    median: String,
    p99: String,
    target: String,
    note: String,
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

fn ms(v: f64) -> String {
    if v < 0.001 {
        format!("{:.0} ns", v * 1e6)
    } else if v < 1.0 {
        format!("{:.1} µs", v * 1000.0)
    } else {
        format!("{v:.2} ms")
    }
}

fn fixture(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).expect("fixture")).expect("json")
}

fn base_env(db: &str) -> Vec<(String, String)> {
    [
        ("DATABASE_URL", db),
        ("UPLOAD_BUCKET", BUCKET),
        ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
        (
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ),
        ("INTERNAL_JWT_SECRET", "0123456789abcdef0123456789abcdef"),
        ("RUST_LOG", "error"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn spawn(emu: &Emulator, bin: &Path, env: &[(String, String)]) -> Child {
    let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    emu.spawn(bin, &e).expect("spawn bootstrap")
}

fn rss_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn status_request(job_id: &str) -> Value {
    let mut ev = fixture("apigw-status.json");
    ev["rawPath"] = json!(format!("/upload/status/{job_id}"));
    ev["pathParameters"]["job_id"] = json!(job_id);
    ev["requestContext"]["http"]["path"] = json!(format!("/upload/status/{job_id}"));
    ev
}

fn init_request() -> Value {
    let mut ev = fixture("apigw-init.json");
    // A fresh Idempotency-Key per request: every init inserts a new job.
    ev["headers"]["idempotency-key"] = json!(uuid::Uuid::new_v4().to_string());
    ev
}

/// Inserts `n` queued jobs and returns an S3 event naming them.
async fn queued_jobs_event(t: &TestDb, n: usize) -> Value {
    let tenant = TenantId::parse(TENANT).unwrap();
    let mut ids = Vec::new();
    let mut keys = Vec::new();
    for i in 0..n {
        let id = JobId::new_random();
        ids.push(id.0);
        keys.push(
            FileKey::build(tenant, id, SafeFileName::new(&format!("take {i} (1).wav")))
                .as_str()
                .to_owned(),
        );
    }
    let c = t.client().await;
    c.execute(
        "INSERT INTO upload_jobs (id, tenant_id, user_id, file_key, file_name, mime_type, file_size, interaction_id)
         SELECT id, $1, 'bench', key, 'x.wav', 'audio/wav', 1000, gen_random_uuid()
         FROM unnest($2::uuid[], $3::text[]) AS u(id, key)",
        &[&tenant.0, &ids, &keys],
    )
    .await
    .expect("insert jobs");
    let template = fixture("s3-put.json")["Records"][0].clone();
    let records: Vec<Value> = keys
        .iter()
        .map(|k| {
            let mut r = template.clone();
            let enc: String = url_encode(k);
            r["s3"]["object"]["key"] = json!(enc);
            r["s3"]["object"]["size"] = json!(1000);
            r
        })
        .collect();
    json!({"Records": records})
}

fn url_encode(k: &str) -> String {
    let mut out = String::new();
    for b in k.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

async fn invoke_ok(emu: &Emulator, ev: &Value) -> Value {
    match emu
        .invoke(ev, Duration::from_secs(30))
        .await
        .expect("invocation answered")
    {
        Outcome::Response(v) => v,
        Outcome::Error(e) => panic!("function error: {e}"),
    }
}

/// spawn → first response, including the first database connection.
async fn cold_starts(bin: &Path, env: &[(String, String)], ev: &Value, runs: usize) -> Vec<f64> {
    let mut out = Vec::new();
    for _ in 0..runs {
        let emu = Emulator::start().await;
        let t0 = Instant::now();
        let mut child = spawn(&emu, bin, env);
        let _ = invoke_ok(&emu, ev).await;
        out.push(t0.elapsed().as_secs_f64() * 1000.0);
        let _ = child.kill();
        let _ = child.wait();
    }
    out
}

async fn warm(emu: &Emulator, evs: impl Iterator<Item = Value>) -> Vec<f64> {
    let mut out = Vec::new();
    for ev in evs {
        let t0 = Instant::now();
        let r = invoke_ok(emu, &ev).await;
        out.push(t0.elapsed().as_secs_f64() * 1000.0);
        if let Some(code) = r.get("statusCode").and_then(Value::as_u64) {
            assert!(code < 400, "request failed: {r}");
        }
    }
    out
}

fn row(what: &str, mut v: Vec<f64>, target: &str, note: &str) -> Row {
    Row {
        what: what.to_owned(),
        median: ms(pct(&mut v, 0.5)),
        p99: ms(pct(&mut v, 0.99)),
        target: target.to_owned(),
        note: note.to_owned(),
    }
}

/// The local HTTP server (same router) under 32 concurrent connections.
async fn http_load(t: &TestDb, seconds: u64) -> Vec<Row> {
    let mut env: std::collections::HashMap<String, String> = base_env(&t.url).into_iter().collect();
    env.insert("AWS_REGION".into(), "us-east-1".into());
    env.insert("ALLOW_LEGACY_HEADER_AUTH".into(), "true".into());
    env.insert("DB_POOL_MAX".into(), "8".into());
    let config = upload_core::Config::from_lookup(|k| env.get(k).cloned()).expect("config");
    let creds =
        aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "bench");
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(creds))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let client = upload_core::s3::client_from_sdk_config(&config, &sdk);
    let db = upload_core::Db::new(config.db_settings("bench"));
    let objects = Arc::new(upload_core::s3::S3Objects {
        client: client.clone(),
        bucket: config.upload_bucket.clone(),
    });
    let state = Arc::new(upload_api::AppState::new(
        config,
        db,
        client,
        sdk.credentials_provider(),
        objects,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, upload_api::router(state)).await });

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let h =
        |r: reqwest::RequestBuilder| r.header("X-Tenant-ID", TENANT).header("X-User-ID", "bench");
    let first: Value = h(http.post(format!("{base}/upload/init")))
        .json(&json!({"filename": "a.wav", "account_id": "a"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job_id = first["job_id"].as_str().unwrap().to_owned();
    let mut rows = Vec::new();
    for which in ["init", "status"] {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let mut tasks = Vec::new();
        for _ in 0..32 {
            let (http, base, job_id) = (http.clone(), base.clone(), job_id.clone());
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    let r = if which == "init" {
                        h(http.post(format!("{base}/upload/init")))
                            .json(&json!({"filename": "take.wav", "file_size": 1000, "account_id": "a"}))
                            .send().await
                    } else {
                        h(http.get(format!("{base}/upload/status/{job_id}"))).send().await
                    };
                    let ok = r.map(|r| r.status().is_success()).unwrap_or(false);
                    assert!(ok, "{which} failed under load");
                    lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                }
                lat
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.unwrap());
        }
        let rps = all.len() as f64 / seconds as f64;
        let mut r = row(
            &format!("local HTTP `{which}`, 32 connections, {seconds} s"),
            all,
            "report",
            "",
        );
        r.note = format!("{rps:.0} requests/s (load: lambda-bench's built-in reqwest client)");
        rows.push(r);
    }
    rows
}

/// Criterion's per-sample times (target/criterion/*/new/sample.json): the
/// mean time per iteration of each sample; median and p99 over samples.
fn criterion_rows(dir: &Path) -> Vec<Row> {
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

#[tokio::main]
async fn main() {
    let mut bin_dir = PathBuf::from("target/release");
    let mut smoke = false;
    let mut out: Option<PathBuf> = None;
    let mut criterion_dir: Option<PathBuf> = None;
    let mut compare: Option<PathBuf> = None;
    let mut compare_label = String::from("other build");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--criterion-dir" => {
                criterion_dir = Some(PathBuf::from(args.next().expect("--criterion-dir DIR")))
            }
            "--compare-bin-dir" => {
                compare = Some(PathBuf::from(args.next().expect("--compare-bin-dir DIR")))
            }
            "--compare-label" => compare_label = args.next().expect("--compare-label TEXT"),
            "--bin-dir" => bin_dir = PathBuf::from(args.next().expect("--bin-dir DIR")),
            "--smoke" => smoke = true,
            "--out" => out = Some(PathBuf::from(args.next().expect("--out FILE"))),
            other => panic!("unexpected argument {other:?}"),
        }
    }
    let api_bin = bin_dir.join("upload-api");
    let events_bin = bin_dir.join("upload-events");
    for b in [&api_bin, &events_bin] {
        assert!(
            b.exists(),
            "{} not found: build it first (cargo build --release --bin upload-api --bin upload-events)",
            b.display()
        );
    }
    let (cold_runs, warm_runs, batches, rss_invocations, load_secs) = if smoke {
        (2, 20, 2, 100, 1)
    } else {
        (30, 300, 50, 1000, 10)
    };

    let t = TestDb::new().await;
    let mut rows = Vec::new();

    // Cold starts.
    let env = base_env(&t.url);
    let status_ev = status_request(&uuid::Uuid::new_v4().to_string());
    let c = cold_starts(&api_bin, &env, &status_ev, cold_runs).await;
    rows.push(row(
        "cold start upload-api (spawn → first status response, incl. DB connect)",
        c,
        "≤ 40 ms",
        "",
    ));
    let one = queued_jobs_event(&t, 1).await;
    let c = cold_starts(&events_bin, &env, &one, cold_runs).await;
    rows.push(row(
        "cold start upload-events (spawn → first 1-record S3 event done)",
        c,
        "≤ 40 ms",
        "",
    ));
    if let Some(dir) = &compare {
        let c = cold_starts(&dir.join("upload-api"), &env, &status_ev, cold_runs).await;
        rows.push(row(
            &format!("cold start upload-api, {compare_label}"),
            c,
            "≤ 40 ms",
            "comparison build",
        ));
        let one = queued_jobs_event(&t, 1).await;
        let c = cold_starts(&dir.join("upload-events"), &env, &one, cold_runs).await;
        rows.push(row(
            &format!("cold start upload-events, {compare_label}"),
            c,
            "≤ 40 ms",
            "comparison build",
        ));
    }

    // Warm invocations, through a round-trip-counting proxy.
    let proxy = CountingProxy::start(t.server_addr()).await;
    let penv = base_env(&t.url_via(proxy.addr));
    let emu = Emulator::start().await;
    let mut api = spawn(&emu, &api_bin, &penv);
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
    let w = warm(&emu, (0..warm_runs).map(|_| init_request())).await;
    rows.push(row(
        "warm upload-api init (API Gateway v2 → 201)",
        w,
        "p50 ≤ 1.5 ms",
        "",
    ));
    let w = warm(&emu, (0..warm_runs).map(|_| status_request(&job_id))).await;
    rows.push(row(
        "warm upload-api status (API Gateway v2 → 200)",
        w,
        "p50 ≤ 1 ms",
        "",
    ));

    // Memory over many invocations.
    let pid = api.id();
    let mut rss_100 = 0;
    for i in 1..=rss_invocations {
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
    let rss_end = rss_kb(pid, "VmRSS:");
    let hwm = rss_kb(pid, "VmHWM:");
    let _ = api.kill();
    let _ = api.wait();

    let emu = Emulator::start().await;
    let mut events = spawn(&emu, &events_bin, &penv);
    let warmup = queued_jobs_event(&t, 1).await;
    let _ = invoke_ok(&emu, &warmup).await;
    let mut evs = Vec::new();
    for _ in 0..batches {
        evs.push(queued_jobs_event(&t, 100).await);
    }
    proxy.reset();
    let w = warm(&emu, evs.into_iter()).await;
    trips.push(format!(
        "100-record event {}",
        proxy.round_trips() / batches as u64
    ));
    rows.push(row(
        "warm upload-events, 100-record S3 event (100 jobs advanced)",
        w,
        "≤ 5 ms",
        "",
    ));
    let ev_hwm = rss_kb(events.id(), "VmHWM:");
    let _ = events.kill();
    let _ = events.wait();

    rows.extend(http_load(&t, load_secs).await);
    if let Some(dir) = &criterion_dir {
        rows.extend(criterion_rows(dir));
    }

    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut md = String::new();
    md.push_str("| measurement | median | p99 | target | note |\n|---|---|---|---|---|\n");
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            r.what, r.median, r.p99, r.target, r.note
        ));
    }
    md.push_str(&format!(
        "\nDatabase round trips per invocation (counted on the wire, ReadyForQuery messages): {}. Targets: init 1, status 1, list 1, event batch 1.\n",
        trips.join(", ")
    ));
    md.push_str(&format!(
        "\nupload-api peak RSS over {rss_invocations} invocations (VmHWM): {:.1} MB; RSS after 100: {:.1} MB, after {rss_invocations}: {:.1} MB (target ≤ 30 MB, no growth). upload-events peak RSS: {:.1} MB.\n",
        hwm as f64 / 1024.0, rss_100 as f64 / 1024.0, rss_end as f64 / 1024.0, ev_hwm as f64 / 1024.0
    ));
    md.push_str(&format!(
        "\nBinaries measured ({}): upload-api {:.2} MB, upload-events {:.2} MB (target ≤ 8 MB).\n",
        bin_dir.display(),
        size(&api_bin) as f64 / 1e6,
        size(&events_bin) as f64 / 1e6
    ));
    match out {
        Some(p) => std::fs::write(&p, md).expect("write report"),
        None => print!("{md}"),
    }
}
