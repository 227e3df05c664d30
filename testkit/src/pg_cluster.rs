//! A throwaway PostgreSQL cluster made with the local binaries (`initdb`,
//! `pg_ctl`), for tests and the local stack, so nothing has to be set up by
//! hand. PostgreSQL refuses to run as root: when we are root, the binaries run
//! as the `postgres` system user (or `nobody`).

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no PostgreSQL binaries found (looked for initdb on PATH and under /usr/lib/postgresql/*/bin); install PostgreSQL or set DATABASE_URL"
    )]
    NoBinaries,
    #[error("{step} failed: {detail}")]
    Step { step: &'static str, detail: String },
}

/// A running cluster. [`Cluster::stop`] stops it; `remove_on_stop` decides
/// whether its directory goes too.
#[derive(Debug)]
pub struct Cluster {
    pub dir: PathBuf,
    pub port: u16,
    bindir: PathBuf,
    run_as: Option<(u32, u32)>,
    remove_on_stop: bool,
}

/// Finds the directory holding `initdb` and `pg_ctl`.
pub fn find_bindir() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p)
}

/// The user the server runs as when we are root (`postgres`, else `nobody`).
pub(crate) fn unprivileged_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    for name in ["postgres", "nobody"] {
        let c = CString::new(name).expect("no NUL");
        // SAFETY: getpwnam takes a valid C string; the result is read at once.
        let pw = unsafe { libc::getpwnam(c.as_ptr()) };
        if !pw.is_null() {
            // SAFETY: non-null pointer returned by getpwnam.
            let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
            return Some((uid, gid));
        }
    }
    None
}

pub(crate) fn chown(path: &Path, (uid, gid): (u32, u32)) {
    if let Ok(c) = CString::new(path.as_os_str().as_encoded_bytes()) {
        // SAFETY: valid C string path.
        unsafe {
            libc::chown(c.as_ptr(), uid, gid);
        }
    }
}

/// Server settings beyond those every cluster gets (see [`Cluster::start_with`]).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `listen_addresses`; `127.0.0.1` when `None`.
    pub listen_addresses: Option<String>,
    /// More `name=value` server settings (each passed as `-c name=value`;
    /// no spaces in values).
    pub settings: Vec<String>,
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("can bind an ephemeral port on 127.0.0.1")
}

impl Cluster {
    fn cmd(&self, prog: &str) -> Command {
        let mut c = Command::new(self.bindir.join(prog));
        if let Some((uid, gid)) = self.run_as {
            c.uid(uid).gid(gid);
        }
        c.env("LC_ALL", "C");
        c
    }

    fn run(&self, step: &'static str, mut cmd: Command) -> Result<(), ClusterError> {
        let out = cmd.output().map_err(|e| ClusterError::Step {
            step,
            detail: e.to_string(),
        })?;
        if out.status.success() {
            Ok(())
        } else {
            let log = std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default();
            Err(ClusterError::Step {
                step,
                detail: format!(
                    "{}{}{}",
                    String::from_utf8_lossy(&out.stderr).trim(),
                    if log.is_empty() { "" } else { "\n" },
                    log.lines().rev().take(5).collect::<Vec<_>>().join("\n")
                ),
            })
        }
    }

    /// Creates (if needed) and starts a cluster in `dir` on `port`. An
    /// existing data directory is reused, so its databases survive restarts.
    pub fn start(dir: &Path, port: u16, remove_on_stop: bool) -> Result<Cluster, ClusterError> {
        Self::start_with(dir, port, remove_on_stop, &Options::default())
    }

    /// [`Cluster::start`] with more server settings (the TLS cluster's).
    pub fn start_with(
        dir: &Path,
        port: u16,
        remove_on_stop: bool,
        options: &Options,
    ) -> Result<Cluster, ClusterError> {
        let bindir = find_bindir().ok_or(ClusterError::NoBinaries)?;
        std::fs::create_dir_all(dir).map_err(|e| ClusterError::Step {
            step: "creating the cluster directory",
            detail: format!("{}: {e}", dir.display()),
        })?;
        let run_as = unprivileged_user();
        if let Some(ids) = run_as {
            chown(dir, ids);
        }
        let cluster = Cluster {
            dir: dir.to_path_buf(),
            port,
            bindir,
            run_as,
            remove_on_stop,
        };
        let data = dir.join("data");
        if !data.join("PG_VERSION").exists() {
            cluster.initdb(&data)?;
        }
        let mut opts = format!(
            "-p {port} -k {} -c listen_addresses={} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=300",
            dir.display(),
            options.listen_addresses.as_deref().unwrap_or("127.0.0.1"),
        );
        for s in &options.settings {
            opts.push_str(" -c ");
            opts.push_str(s);
        }
        let mut start = cluster.cmd("pg_ctl");
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.join("postgres.log"))
            .args(["-w", "-t", "60", "-o", &opts, "start"]);
        cluster.run("pg_ctl start", start)?;
        Ok(cluster)
    }

    fn initdb(&self, data: &Path) -> Result<(), ClusterError> {
        let mut initdb = self.cmd("initdb");
        initdb.arg("-D").arg(data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        self.run("initdb", initdb)
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server (fast shutdown) and, if asked at start, removes the
    /// directory.
    pub fn stop(&self) {
        let mut stop = self.cmd("pg_ctl");
        stop.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "fast", "-w", "-t", "30", "stop"]);
        let _ = stop.output();
        if self.remove_on_stop {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Stops whatever cluster still runs in `dir` (left by a killed process).
    pub fn stop_stale(dir: &Path) {
        if let Some(bindir) = find_bindir() {
            let mut c = Command::new(bindir.join("pg_ctl"));
            if let Some((uid, gid)) = unprivileged_user() {
                c.uid(uid).gid(gid);
            }
            let _ = c
                .arg("-D")
                .arg(dir.join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}
