//! The floor: `bench-probe` (tools/bench/probe), a Lambda doing one INSERT
//! per POST and one SELECT per GET through the same pool, measured warm
//! through the same round-trip-counting proxy as the API, and its memory
//! over the same number of invocations.

use std::path::Path;

use lambda_emulator::Emulator;
use serde_json::Value;
use upload_testkit::CountingProxy;

use crate::fixtures::{init_request, status_request};
use crate::lambda::{invoke_ok, rss_kb, spawn, warm};

/// What the probe measured.
pub struct Floor {
    /// Warm `POST /upload/init` → INSERT, ms.
    pub insert: Vec<f64>,
    /// Warm `GET /upload/status/{id}` → SELECT, ms.
    pub select: Vec<f64>,
    /// Round trips per request, counted on the wire.
    pub trips: String,
    /// Peak RSS (VmHWM, kB) after the warm runs and `rss_invocations` more.
    pub hwm_kb: u64,
}

/// The `job_id` of an init (or probe POST) answer.
pub fn job_id_of(answer: &Value) -> String {
    let body = answer["body"].as_str().expect("a body");
    serde_json::from_str::<Value>(body).expect("a JSON body")["job_id"]
        .as_str()
        .expect("a job_id")
        .to_owned()
}

/// The probe warm: `warm` INSERTs, `warm` SELECTs, then `rss_invocations`
/// alternating, as the API's memory run does.
pub async fn warm_probe(
    bin: &Path,
    penv: &[(String, String)],
    proxy: &CountingProxy,
    warm_runs: usize,
    rss_invocations: usize,
) -> Floor {
    let emu = Emulator::start().await;
    let mut probe = spawn(&emu, bin, penv);
    let job_id = job_id_of(&invoke_ok(&emu, &init_request()).await);
    let _ = invoke_ok(&emu, &status_request(&job_id)).await;
    let mut trips = Vec::new();
    for (what, ev) in [
        ("INSERT", init_request()),
        ("SELECT", status_request(&job_id)),
    ] {
        proxy.reset();
        let _ = invoke_ok(&emu, &ev).await;
        trips.push(format!("probe {what} {}", proxy.round_trips()));
    }
    let insert = warm(&emu, (0..warm_runs).map(|_| init_request())).await;
    let select = warm(&emu, (0..warm_runs).map(|_| status_request(&job_id))).await;
    let rest = (0..rss_invocations).map(|i| {
        if i % 2 == 0 {
            init_request()
        } else {
            status_request(&job_id)
        }
    });
    let _ = warm(&emu, rest).await;
    let hwm_kb = rss_kb(probe.id(), "VmHWM:");
    let _ = probe.kill();
    let _ = probe.wait();
    Floor {
        insert,
        select,
        trips: trips.join(", "),
        hwm_kb,
    }
}
