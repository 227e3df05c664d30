//! `local-stack`: the whole upload flow on a laptop, one command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use local_stack::cors::AllowedOrigins;
use local_stack::faults::NotificationFaults;
use local_stack::{Options, start};

const USAGE: &str = "usage: local-stack [--api-addr ADDR] [--s3-addr ADDR] [--data-dir DIR] [--reaper-interval-secs N] [--notification-faults SPEC] [--allowed-origins ORIGIN,...|*] [--worker]";

fn parse() -> Result<Options, String> {
    let mut o = Options {
        api_addr: "127.0.0.1:3000".parse().expect("valid"),
        s3_addr: "127.0.0.1:9000".parse().expect("valid"),
        data_dir: PathBuf::from(".local-stack"),
        reaper_interval: Duration::from_secs(10),
        notification_faults: None,
        allowed_origins: AllowedOrigins::Localhost,
        worker: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) => (f.to_owned(), Some(v.to_owned())),
            None => (a.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(format!("{flag} needs a value; {USAGE}"))
        };
        let addr = |v: String, f: &str| {
            v.parse::<SocketAddr>()
                .map_err(|_| format!("{f} must be HOST:PORT, got {v:?}"))
        };
        match flag.as_str() {
            "--api-addr" => o.api_addr = addr(value()?, "--api-addr")?,
            "--s3-addr" => o.s3_addr = addr(value()?, "--s3-addr")?,
            "--data-dir" => o.data_dir = PathBuf::from(value()?),
            "--reaper-interval-secs" => {
                let v = value()?;
                o.reaper_interval = Duration::from_secs(v.parse().ok().filter(|n| *n > 0).ok_or(
                    format!("--reaper-interval-secs must be a positive integer, got {v:?}"),
                )?)
            }
            "--notification-faults" => o.notification_faults = Some(faults(&value()?)?),
            "--allowed-origins" => {
                o.allowed_origins = value()?
                    .parse()
                    .map_err(|e| format!("--allowed-origins: {e}"))?
            }
            "--worker" => o.worker = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unexpected argument {other:?}; {USAGE}")),
        }
    }
    Ok(o)
}

/// `--notification-faults SPEC`, e.g. `seed=7,drop=0.05,delay=0.1,dup=0.1,max-delay-ms=3000`.
fn faults(spec: &str) -> Result<NotificationFaults, String> {
    spec.parse().map_err(|e| {
        format!(
            "--notification-faults: {e} (e.g. seed=7,drop=0.05,delay=0.1,dup=0.1,max-delay-ms=3000)"
        )
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    upload_core::logging::init_json();
    let opts = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("local-stack: {e}");
            return ExitCode::from(2);
        }
    };
    let stack = match start(opts).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("local-stack: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", stack.ready_line());
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    eprintln!("local-stack: shutting down");
    stack.shutdown();
    ExitCode::SUCCESS
}
