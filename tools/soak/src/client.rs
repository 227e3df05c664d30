//! The API and the presigned PUT over HTTP, as a browser client would use
//! them: 503 is retried after a short pause; every other 5xx, every
//! unexpected status and every request that hangs is recorded.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::plan::{Rng, Slot};

pub const TENANT: &str = "00000000-0000-4000-8000-00000000500a";
/// A request taking longer than this is a hang.
const HANG: Duration = Duration::from_secs(20);
/// How long one init keeps retrying 503s before giving up.
const INIT_PATIENCE: Duration = Duration::from_secs(60);

/// One answered (or failed) request.
#[derive(Debug, Clone)]
pub struct Call {
    pub route: &'static str,
    pub started: Instant,
    pub ended: Instant,
    /// `None`: no response (connection error or timeout).
    pub status: Option<u16>,
    pub detail: String,
}

/// What the clients saw.
#[derive(Debug, Default)]
pub struct Record {
    pub calls: usize,
    /// Every 5xx and every request without a response (deliberate
    /// short-timeout attempts excluded).
    pub failures: Vec<Call>,
    /// Problems a single response shows (an unexpected status, a changed job id).
    pub violations: Vec<String>,
    pub replays: usize,
    pub init_503_retries: usize,
}

/// A queued job as init returned it.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub replayed: bool,
}

pub struct Api {
    http: reqwest::Client,
    pub base: String,
    pub run_seed: u64,
    pub record: Mutex<Record>,
    /// Set when an init ran out of patience: later ones do not wait for a
    /// database that is not coming back.
    gave_up: AtomicBool,
}

impl Api {
    pub fn new(base: &str, run_seed: u64) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(HANG)
                .build()
                .expect("a plain HTTP client builds"),
            base: base.to_owned(),
            run_seed,
            record: Mutex::new(Record::default()),
            gave_up: AtomicBool::new(false),
        }
    }

    fn note(&self, f: impl FnOnce(&mut Record)) {
        f(&mut self.record.lock().expect("record lock"));
    }

    pub fn violation(&self, v: String) {
        self.note(|r| r.violations.push(v));
    }

    /// Sends one request, recording 5xx answers and missing responses.
    async fn send(
        &self,
        route: &'static str,
        req: reqwest::RequestBuilder,
        deliberate_timeout: bool,
    ) -> Option<(u16, reqwest::header::HeaderMap, String)> {
        let started = Instant::now();
        let res = req.send().await;
        let res = match res {
            Ok(r) => {
                let (status, headers) = (r.status().as_u16(), r.headers().clone());
                r.text().await.map(|body| (status, headers, body))
            }
            Err(e) => Err(e),
        };
        let ended = Instant::now();
        let (status, detail) = match &res {
            Ok((s, _, body)) => (Some(*s), body.chars().take(300).collect()),
            Err(e) => (None, e.to_string()),
        };
        let failed = status.is_none_or(|s| s >= 500);
        self.note(|r| {
            r.calls += 1;
            // A deliberately abandoned attempt has no answer by design;
            // a 5xx it did get still counts.
            if failed && !(deliberate_timeout && status.is_none()) {
                r.failures.push(Call {
                    route,
                    started,
                    ended,
                    status,
                    detail,
                });
            }
        });
        res.ok()
    }

    fn init_request(&self, slot: &Slot) -> reqwest::RequestBuilder {
        let body = json!({"filename": slot.file_name(self.run_seed), "mime_type": "audio/wav",
            "file_size": slot.size, "account_id": "soak"});
        let mut req = self
            .http
            .post(format!("{}/upload/init", self.base))
            .header("X-Tenant-ID", TENANT)
            .header("X-User-ID", "soak")
            .json(&body);
        if let Some(k) = &slot.key {
            req = req.header("Idempotency-Key", k);
        }
        req
    }

    /// One init abandoned after `ms` milliseconds (a client timing out).
    pub async fn init_abandoned(&self, slot: &Slot, ms: u64) {
        let req = self.init_request(slot).timeout(Duration::from_millis(ms));
        let _ = self.send("init", req, true).await;
    }

    /// Init until it is answered 201 (503s retried after 250-750 ms).
    /// `None` after an unexpected answer or `INIT_PATIENCE` of 503s.
    pub async fn init(&self, slot: &Slot) -> Option<Job> {
        let deadline = Instant::now() + INIT_PATIENCE;
        let mut jitter = Rng::fork(slot.seed, 9);
        loop {
            let answer = self.send("init", self.init_request(slot), false).await;
            match answer {
                Some((201, headers, body)) => return self.job(&headers, &body, slot),
                Some((503, _, _)) | None
                    if Instant::now() < deadline && !self.gave_up.load(Ordering::Relaxed) =>
                {
                    self.note(|r| r.init_503_retries += 1);
                    tokio::time::sleep(Duration::from_millis(jitter.range(250, 750))).await;
                }
                other => {
                    if Instant::now() >= deadline {
                        self.gave_up.store(true, Ordering::Relaxed);
                    }
                    let what = other.map_or("no answer".to_owned(), |(s, _, b)| format!("{s} {b}"));
                    self.violation(format!("init of slot {}: {what}", slot.index));
                    return None;
                }
            }
        }
    }

    fn job(&self, headers: &reqwest::header::HeaderMap, body: &str, slot: &Slot) -> Option<Job> {
        let v: Value = serde_json::from_str(body).unwrap_or_default();
        let (Some(id), Some(url)) = (v["job_id"].as_str(), v["upload_url"].as_str()) else {
            self.violation(format!(
                "init of slot {}: 201 without job_id/upload_url: {body}",
                slot.index
            ));
            return None;
        };
        let replayed = headers.get("idempotent-replayed").is_some();
        if replayed {
            self.note(|r| r.replays += 1);
        }
        let headers = v["upload_headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .filter(|(k, _)| !k.eq_ignore_ascii_case("content-length"))
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Some(Job {
            id: id.to_owned(),
            url: url.to_owned(),
            headers,
            replayed,
        })
    }

    /// The PUT to the presigned URL with exactly the returned headers.
    pub async fn put(&self, job: &Job, body: Vec<u8>) -> Option<u16> {
        let mut req = self.http.put(&job.url);
        for (k, v) in &job.headers {
            req = req.header(k, v);
        }
        self.send("put", req.body(body), false)
            .await
            .map(|(s, _, _)| s)
    }

    /// `GET /upload/status/{id}`: the status code and the body.
    pub async fn status(&self, job_id: &str) -> Option<(u16, Value)> {
        let req = self
            .http
            .get(format!("{}/upload/status/{job_id}", self.base))
            .header("X-Tenant-ID", TENANT)
            .header("X-User-ID", "soak");
        self.send("status", req, false)
            .await
            .map(|(s, _, b)| (s, serde_json::from_str(&b).unwrap_or_default()))
    }
}
