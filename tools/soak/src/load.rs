//! The clients: `clients` workers take slots in order; each slot inits
//! (repeating it as its plan says), PUTs unless abandoned, then asks for
//! its status once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::client::{Api, Job};
use crate::plan::{Repeat, Slot};

/// What became of one slot.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub slot: usize,
    pub job_id: Option<String>,
    /// The PUT was answered 200.
    pub uploaded: bool,
    pub abandoned: bool,
    pub keyed: bool,
    /// Deliberate repeats of the init with the same key.
    pub repeats: usize,
}

/// Runs every slot; `done` counts finished slots as they finish.
pub async fn run(
    api: Arc<Api>,
    slots: Arc<Vec<Slot>>,
    clients: usize,
    done: Arc<AtomicUsize>,
) -> Vec<Outcome> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..clients {
        let (api, slots, next, done) = (api.clone(), slots.clone(), next.clone(), done.clone());
        workers.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(slot) = slots.get(i) else { break };
                out.push(one(&api, slot).await);
                done.fetch_add(1, Ordering::Relaxed);
            }
            out
        }));
    }
    let mut outcomes = Vec::new();
    for w in workers {
        match w.await {
            Ok(o) => outcomes.extend(o),
            Err(e) => api.violation(format!("a client task failed: {e}")),
        }
    }
    outcomes.sort_by_key(|o| o.slot);
    outcomes
}

/// One slot, start to finish.
pub async fn one(api: &Api, slot: &Slot) -> Outcome {
    let mut outcome = Outcome {
        slot: slot.index,
        job_id: None,
        uploaded: false,
        abandoned: slot.abandoned,
        keyed: slot.key.is_some(),
        repeats: 0,
    };
    tokio::time::sleep(slot.think).await;
    let Some(job) = init(api, slot, &mut outcome).await else {
        return outcome;
    };
    outcome.job_id = Some(job.id.clone());
    if slot.abandoned {
        return outcome;
    }
    match api.put(&job, slot.body()).await {
        Some(200) => outcome.uploaded = true,
        other => api.violation(format!(
            "PUT of slot {} (job {}): {other:?}",
            slot.index, job.id
        )),
    }
    // A client looking at its job once (any status; 503 only while the
    // database is out).
    if let Some((s, body)) = api.status(&job.id).await
        && s != 200
        && s != 503
    {
        api.violation(format!("status of job {}: {s} {body}", job.id));
    }
    outcome
}

/// The init, with the slot's deliberate repeat; every answer for one key
/// must name the same job.
async fn init(api: &Api, slot: &Slot, outcome: &mut Outcome) -> Option<Job> {
    match slot.repeat {
        Repeat::No => api.init(slot).await,
        Repeat::AfterTimeout(ms) => {
            api.init_abandoned(slot, ms).await;
            outcome.repeats = 1;
            api.init(slot).await
        }
        Repeat::Concurrent => {
            let (a, b) = tokio::join!(api.init(slot), api.init(slot));
            outcome.repeats = 1;
            match (a, b) {
                (Some(a), Some(b)) => {
                    if a.id != b.id {
                        api.violation(format!(
                            "two inits with key {:?} got jobs {} and {}",
                            slot.key, a.id, b.id
                        ));
                    }
                    if !a.replayed && !b.replayed {
                        api.violation(format!(
                            "two inits with key {:?}: neither was a replay",
                            slot.key
                        ));
                    }
                    Some(a)
                }
                (a, b) => a.or(b),
            }
        }
    }
}
