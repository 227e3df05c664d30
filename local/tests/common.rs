#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use upload_testkit::pg_cluster::free_port;

pub const TENANT: &str = "00000000-0000-4000-8000-0000000000aa";

/// A running `local-stack` process, stopped (SIGTERM) on drop.
pub struct StackProc {
    pub child: Child,
    pub api: String,
    pub s3: String,
    pub ready: String,
}

impl StackProc {
    pub fn start(data_dir: &Path, database_url: Option<&str>, env: &[(&str, &str)]) -> StackProc {
        Self::start_with_args(data_dir, database_url, env, &[])
    }

    /// [`StackProc::start`] with more command-line arguments.
    pub fn start_with_args(
        data_dir: &Path,
        database_url: Option<&str>,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> StackProc {
        let (mut cmd, api_port, s3_port) = command(data_dir, database_url, env, args);
        let mut child = cmd.spawn().expect("spawn local-stack");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let ready = rx
            .recv_timeout(Duration::from_secs(90))
            .expect("local-stack printed its ready line");
        assert!(
            ready.starts_with("local-stack ready api=http://"),
            "{ready}"
        );
        StackProc {
            child,
            api: format!("http://127.0.0.1:{api_port}"),
            s3: format!("http://127.0.0.1:{s3_port}"),
            ready,
        }
    }

    /// [`StackProc::start_with_args`] with both output streams captured:
    /// every stdout line (the ready line included) and every stderr line.
    pub fn start_capturing(
        data_dir: &Path,
        database_url: Option<&str>,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> (StackProc, Output) {
        let (mut cmd, api_port, s3_port) = command(data_dir, database_url, env, args);
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn local-stack");
        let output = Output::default();
        output.collect(child.stdout.take().expect("stdout"), false);
        output.collect(child.stderr.take().expect("stderr"), true);
        let ready = output
            .wait_for(false, Duration::from_secs(90), |l| {
                l.starts_with("local-stack ready ")
            })
            .unwrap_or_else(|| panic!("no ready line; stderr: {:?}", output.stderr()));
        let stack = StackProc {
            child,
            api: format!("http://127.0.0.1:{api_port}"),
            s3: format!("http://127.0.0.1:{s3_port}"),
            ready,
        };
        (stack, output)
    }

    pub fn stop(mut self) -> std::process::ExitStatus {
        self.terminate()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child process.
        unsafe {
            libc_kill(self.child.id() as i32, 15);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().expect("wait");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The `local-stack` command on free ports (returned), stderr inherited.
fn command(
    data_dir: &Path,
    database_url: Option<&str>,
    env: &[(&str, &str)],
    args: &[&str],
) -> (Command, u16, u16) {
    let (api_port, s3_port) = (free_port(), free_port());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_local-stack"));
    cmd.args(args)
        .args(["--api-addr", &format!("127.0.0.1:{api_port}")])
        .args(["--s3-addr", &format!("127.0.0.1:{s3_port}")])
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--reaper-interval-secs", "1"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    match database_url {
        Some(u) => cmd.env("DATABASE_URL", u),
        None => cmd.env_remove("DATABASE_URL"),
    };
    for (k, v) in env {
        cmd.env(k, v);
    }
    (cmd, api_port, s3_port)
}

/// A started stack's captured stdout and stderr lines.
#[derive(Clone, Default)]
pub struct Output {
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Output {
    fn lines(&self, stderr: bool) -> &Arc<Mutex<Vec<String>>> {
        if stderr { &self.stderr } else { &self.stdout }
    }

    fn collect(&self, stream: impl std::io::Read + Send + 'static, stderr: bool) {
        let lines = self.lines(stderr).clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
    }

    pub fn stdout(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// The first line of stdout (or stderr) matching `pred`, waiting up to
    /// `timeout` for it.
    pub fn wait_for(
        &self,
        stderr: bool,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self
                .lines(stderr)
                .lock()
                .unwrap()
                .iter()
                .find(|l| pred(l))
                .cloned();
            if found.is_some() || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

impl Drop for StackProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "local-stack-test-{tag}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub fn auth(r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    r.header("X-Tenant-ID", TENANT).header("X-User-ID", "e2e")
}

pub async fn init(api: &str, body: Value) -> Value {
    let res = auth(client().post(format!("{api}/upload/init")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "init");
    res.json().await.unwrap()
}

pub async fn init_for(api: &str, name: &str, data: &[u8]) -> Value {
    init(api, json!({"filename": name, "file_size": data.len(), "account_id": "acct", "mime_type": "audio/wav"})).await
}

/// PUT with exactly the returned upload_headers.
pub async fn put(job: &Value, data: Vec<u8>) -> reqwest::Response {
    let mut r = client().put(job["upload_url"].as_str().unwrap());
    for (k, v) in job["upload_headers"].as_object().unwrap() {
        if !k.eq_ignore_ascii_case("content-length") {
            r = r.header(k, v.as_str().unwrap());
        }
    }
    r.body(data).send().await.unwrap()
}

pub async fn status(api: &str, job_id: &str) -> Value {
    let res = auth(client().get(format!("{api}/upload/status/{job_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Polls until the job leaves `queued` (or the deadline passes).
pub async fn wait_past_queued(api: &str, job_id: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let s = status(api, job_id).await;
        if s["status"] != "queued" || Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The functions' configuration against a test's database and S3 server.
pub fn functions_config(
    database_url: &str,
    s3_url: &str,
    bucket: &str,
    reaper_batch: &str,
) -> upload_core::Config {
    let env = [
        ("DATABASE_URL", database_url),
        ("UPLOAD_BUCKET", bucket),
        ("AWS_REGION", "us-east-1"),
        ("S3_ENDPOINT_URL", s3_url),
        ("REAPER_BATCH_SIZE", reaper_batch),
    ];
    upload_core::Config::from_lookup(|k| {
        env.iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap()
}

/// An S3 client for `config`'s endpoint with static credentials (one of the
/// local S3 server's users).
pub fn s3_client(
    config: &upload_core::Config,
    access_key: &str,
    secret_key: &str,
) -> aws_sdk_s3::Client {
    let credentials =
        aws_credential_types::Credentials::new(access_key, secret_key, None, None, "test");
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(credentials),
        )
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    upload_core::s3::client_from_sdk_config(config, &sdk)
}
