//! The `local-stack` child process: started with its own PostgreSQL, fast
//! reaper and notification faults; its stdout (the ready line, then JSON
//! logs) captured to memory and to `stack.log`, its stderr to `stack.stderr`.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Settings the stack runs with (short windows so the run is short).
pub const URL_TTL_SECS: u64 = 10;
pub const GRACE_SECS: u64 = 5;
/// The notification faults' upper delay bound.
pub const MAX_DELAY_MS: u64 = 2500;

/// A running stack; SIGTERM on drop.
pub struct Stack {
    child: Child,
    reader: Option<JoinHandle<Vec<String>>>,
    pub api: String,
    /// The database URL from the ready line.
    pub database: String,
}

impl Stack {
    /// Starts `bin` on free ports with its data (and PostgreSQL) under `dir`.
    pub fn start(bin: &Path, dir: &Path, seed: u64) -> Result<Stack, String> {
        let faults =
            format!("seed={seed},drop=0.04,delay=0.15,dup=0.15,max-delay-ms={MAX_DELAY_MS}");
        let stderr = File::create(dir.join("stack.stderr")).map_err(|e| e.to_string())?;
        let mut cmd = Command::new(bin);
        // SAFETY: prctl(2) is async-signal-safe and touches no memory of
        // ours; nothing else runs between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                // The stack (and so its PostgreSQL) stops when we die,
                // even without running our destructors (Ctrl-C, a CI timeout).
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd
            .args(["--api-addr", "127.0.0.1:0", "--s3-addr", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(dir)
            .args(["--reaper-interval-secs", "1"])
            .args(["--notification-faults", &faults])
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info")
            .env("UPLOAD_URL_TTL_SECONDS", URL_TTL_SECS.to_string())
            .env("REAPER_GRACE_SECONDS", GRACE_SECS.to_string())
            .env("REAPER_MIN_UPLOAD_BYTES_PER_SECOND", "1000000000")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let stdout = child.stdout.take().expect("piped stdout");
        let log = File::create(dir.join("stack.log")).map_err(|e| e.to_string())?;
        let (ready_tx, ready_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || capture(stdout, log, &ready_tx));
        let mut stack = Stack {
            child,
            reader: Some(reader),
            api: String::new(),
            database: String::new(),
        };
        let ready = match ready_rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => line,
            Err(_) => {
                let err = std::fs::read_to_string(dir.join("stack.stderr")).unwrap_or_default();
                return Err(format!("local-stack did not print its ready line: {err}"));
            }
        };
        for word in ready.split_whitespace() {
            match word.split_once('=') {
                Some(("api", v)) => stack.api = v.to_owned(),
                Some(("database", v)) => stack.database = v.to_owned(),
                _ => {}
            }
        }
        if stack.api.is_empty() || stack.database.is_empty() {
            return Err(format!("unexpected ready line: {ready}"));
        }
        Ok(stack)
    }

    /// Is the process still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// SIGTERM, wait (at most 30 s, then SIGKILL), and every stdout line.
    pub fn stop(mut self) -> (Option<i32>, Vec<String>) {
        let code = self.terminate();
        let lines = self
            .reader
            .take()
            .and_then(|r| r.join().ok())
            .unwrap_or_default();
        (code, lines)
    }

    fn terminate(&mut self) -> Option<i32> {
        if let Ok(Some(st)) = self.child.try_wait() {
            return st.code();
        }
        // SAFETY: kill(2) on our own child's pid; no memory is involved.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().ok().and_then(|s| s.code());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Copies stdout to `log` and keeps it; the ready line goes to `ready`.
fn capture(
    stdout: std::process::ChildStdout,
    log: File,
    ready: &mpsc::Sender<String>,
) -> Vec<String> {
    let mut log = std::io::BufWriter::new(log);
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let _ = writeln!(log, "{line}");
        if line.starts_with("local-stack ready ") {
            let _ = ready.send(line.clone());
        }
        lines.push(line);
    }
    let _ = log.flush();
    lines
}
