//! The bootstraps under the Runtime API emulator: spawn, invoke, time, RSS.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use lambda_emulator::{Emulator, Outcome};
use serde_json::Value;

pub fn spawn(emu: &Emulator, bin: &Path, env: &[(String, String)]) -> Child {
    let e: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    emu.spawn(bin, &e).expect("spawn bootstrap")
}

pub fn rss_kb(pid: u32, field: &str) -> u64 {
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

pub async fn invoke_ok(emu: &Emulator, ev: &Value) -> Value {
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
pub async fn cold_starts(
    bin: &Path,
    env: &[(String, String)],
    ev: &Value,
    runs: usize,
) -> Vec<f64> {
    let mut out = Vec::new();
    for _ in 0..runs {
        out.push(cold_start(bin, env, ev).await);
    }
    out
}

/// One cold start in ms: a fresh emulator, spawn, the first invocation
/// answered. An HTTP answer of 400 or more is a failed run, not a figure.
pub async fn cold_start(bin: &Path, env: &[(String, String)], ev: &Value) -> f64 {
    let emu = Emulator::start().await;
    let t0 = Instant::now();
    let mut child = spawn(&emu, bin, env);
    let r = invoke_ok(&emu, ev).await;
    let elapsed = t0.elapsed().as_secs_f64() * 1000.0;
    let _ = child.kill();
    let _ = child.wait();
    if let Some(code) = r.get("statusCode").and_then(Value::as_u64) {
        assert!(code < 400, "{}: first request failed: {r}", bin.display());
    }
    elapsed
}

/// Cold starts of two binaries, alternated run by run so that both see the
/// same machine (ours, then the floor's); each run gets a fresh event.
pub async fn cold_pair(
    ours: &Path,
    floor: &Path,
    env: &[(String, String)],
    event: impl Fn() -> Value,
    runs: usize,
) -> (Vec<f64>, Vec<f64>) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        a.push(cold_start(ours, env, &event()).await);
        b.push(cold_start(floor, env, &event()).await);
    }
    (a, b)
}

pub async fn warm(emu: &Emulator, evs: impl Iterator<Item = Value>) -> Vec<f64> {
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
