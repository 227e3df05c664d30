//! Real browsers against the local stack, in Debian's headless Chromium
//! driven by playwright-core (the Node drivers in `tests/browser/`):
//! the stack's upload page (`browser/page.rs`) and Uppy v6 with the README's
//! glue (`browser/uppy.rs`). Each test starts its own stack on a fresh
//! database, runs one driver scenario with a deadline, then checks the jobs
//! through the API and the stored objects byte for byte in the stack's data
//! directory. Screenshots: `target/browser-artifacts/*.png`.

mod common;
#[path = "browser/page.rs"]
mod page;
#[path = "browser/uppy.rs"]
mod uppy;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use upload_testkit::TestDb;

pub const MIB: usize = 1024 * 1024;
/// How long one driver run may take, all of it (the driver's own bound is 20 s less).
const DRIVER_LIMIT: Duration = Duration::from_secs(150);

/// A dev identity (the `X-Tenant-ID` / `X-User-ID` headers).
#[derive(Clone, Copy)]
pub struct Identity {
    pub tenant: &'static str,
    pub user: &'static str,
}

fn chromium() -> PathBuf {
    for p in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "chromium not found: run `bash scripts/install-tools.sh --browser` (Debian package chromium)"
    );
}

/// `tests/browser`, with its locked packages installed (`npm ci`, once per run).
fn driver_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
        let wanted = ["playwright-core", "@uppy/core", "@uppy/aws-s3", "esbuild"];
        if !wanted
            .iter()
            .all(|p| dir.join("node_modules").join(p).exists())
        {
            // Exactly the locked versions, from the npm registry.
            let st = Command::new("npm")
                .args(["ci", "--silent", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .expect("npm is installed (Node.js)");
            assert!(st.success(), "npm ci in {} failed", dir.display());
        }
        dir
    })
}

/// Where screenshots go: `target/browser-artifacts` (or under `CARGO_TARGET_DIR`).
pub fn artifacts_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("browser-artifacts")
}

/// A stack of its own (on a fresh database) for one browser test.
pub struct Browser {
    // Dropped in this order: the stack stops, then its files and its
    // database go.
    pub stack: StackProc,
    pub dir: Scratch,
    _db: TestDb,
}

/// A test's directory (files, the stack's data), removed after the test,
/// kept when it failed.
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = PathBuf;
    fn deref(&self) -> &PathBuf {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Browser {
    pub async fn start(tag: &str) -> Browser {
        let db = TestDb::new().await;
        let dir = temp_dir(tag);
        let stack = StackProc::start(&dir.join("stack"), Some(&db.url), &[]);
        Browser {
            stack,
            dir: Scratch(dir),
            _db: db,
        }
    }

    /// A file of `len` pseudo-random bytes (fixed by `seed`) named `name`.
    pub fn file(&self, name: &str, len: usize, seed: u64) -> (PathBuf, Vec<u8>) {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut data = Vec::with_capacity(len + 8);
        while data.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.extend_from_slice(&x.to_le_bytes());
        }
        data.truncate(len);
        let path = self.dir.join("files").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &data).unwrap();
        (path, data)
    }

    /// Runs `node tests/browser/{script}` for `scenario`; its RESULT json.
    pub async fn drive(&self, script: &str, scenario: &str, who: Identity, files: Value) -> Value {
        let cfg = json!({
            "scenario": scenario,
            "api": self.stack.api,
            "s3": self.stack.s3,
            "chromium": chromium(),
            "artifacts": artifacts_dir(),
            "tenant": who.tenant,
            "user": who.user,
            "timeout_ms": (DRIVER_LIMIT - Duration::from_secs(20)).as_millis() as u64,
            "files": files,
        });
        let script = driver_dir().join(script);
        tokio::task::spawn_blocking(move || run_driver(&script, &cfg))
            .await
            .unwrap()
    }

    /// GET /upload/status/{job_id} as `who`.
    pub async fn job(&self, who: Identity, job_id: &str) -> Value {
        let res = client()
            .get(format!("{}/upload/status/{job_id}", self.stack.api))
            .header("X-Tenant-ID", who.tenant)
            .header("X-User-ID", who.user)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "status of {job_id}");
        res.json().await.unwrap()
    }

    /// Where the local S3 keeps `key` (s3s-fs: `objects/{bucket}/{key}`).
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.dir
            .join("stack/objects")
            .join(local_stack::DEFAULT_BUCKET)
            .join(key)
    }

    /// The job is past `queued` (processing or beyond, not failed) and its
    /// object is byte for byte `data`.
    pub async fn assert_uploaded(&self, who: Identity, job_id: &Value, data: &[u8]) -> Value {
        let job_id = job_id
            .as_str()
            .unwrap_or_else(|| panic!("a job id: {job_id}"));
        let job = self.job(who, job_id).await;
        assert!(
            ["processing", "succeeded"].contains(&job["status"].as_str().unwrap_or("")),
            "{job}"
        );
        assert_eq!(job["file_size"], data.len(), "{job}");
        let path = self.object_path(job["file_key"].as_str().unwrap());
        let stored = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(stored.len(), data.len(), "stored size of {job_id}");
        assert!(
            stored == data,
            "the stored object of {job_id} differs from the file"
        );
        job
    }
}

/// Runs one driver with a hard deadline: its `RESULT {json}` line, or a
/// panic with everything it printed.
fn run_driver(script: &Path, cfg: &Value) -> Value {
    let started = Instant::now();
    let mut child = Command::new("node")
        .arg(script)
        .arg(cfg.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (Node.js installed)");
    let reader = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = reader(Box::new(child.stdout.take().unwrap()));
    let err = reader(Box::new(child.stderr.take().unwrap()));
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if started.elapsed() > DRIVER_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    let log = format!("--- stdout\n{out}\n--- stderr\n{err}");
    let scenario = &cfg["scenario"];
    let Some(status) = status else {
        panic!("{scenario}: the driver ran over {DRIVER_LIMIT:?} and was killed\n{log}");
    };
    let result = out
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .map(|j| serde_json::from_str::<Value>(j).expect("RESULT is JSON"));
    match result {
        Some(r) if status.success() => {
            // Shown with --nocapture or on a failed assertion.
            eprintln!(
                "{scenario}: driver done in {:.1} s\n{log}",
                started.elapsed().as_secs_f64()
            );
            r
        }
        _ => panic!("{scenario}: the driver failed ({status})\n{log}"),
    }
}

/// The part numbers a driver counted as sent (`"part N": times`), sorted,
/// each as often as it was sent.
pub fn parts_sent(counts: &Value) -> Vec<u64> {
    let mut parts: Vec<u64> = counts
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(k, n)| {
            let part = k.strip_prefix("part ")?.parse().ok()?;
            Some(std::iter::repeat_n(part, n.as_u64().unwrap() as usize))
        })
        .flatten()
        .collect();
    parts.sort_unstable();
    parts
}

/// A count the driver kept (0 when absent).
pub fn count(counts: &Value, what: &str) -> u64 {
    counts[what].as_u64().unwrap_or(0)
}
