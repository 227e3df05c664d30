//! `local-stack`: the whole upload flow on a laptop, one command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use local_stack::console::{self, LogFormat};
use local_stack::cors::AllowedOrigins;
use local_stack::faults::NotificationFaults;
use local_stack::{Options, start};

const USAGE: &str = "usage: local-stack [--api-addr ADDR] [--s3-addr ADDR] [--data-dir DIR] [--reaper-interval-secs N] [--notification-faults SPEC] [--allowed-origins ORIGIN,...|*] [--worker] [--log-format json|pretty]";

/// The options, and `--log-format` when given.
fn parse() -> Result<(Options, Option<LogFormat>), String> {
    let mut o = Options {
        api_addr: "127.0.0.1:3000".parse().expect("valid"),
        s3_addr: "127.0.0.1:9000".parse().expect("valid"),
        data_dir: PathBuf::from(".local-stack"),
        reaper_interval: Duration::from_secs(10),
        notification_faults: None,
        allowed_origins: AllowedOrigins::Localhost,
        worker: false,
    };
    let mut log_format = None;
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
            "--log-format" => log_format = Some(log_format_arg(&value()?, "--log-format")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unexpected argument {other:?}; {USAGE}")),
        }
    }
    Ok((o, log_format))
}

fn log_format_arg(v: &str, name: &str) -> Result<LogFormat, String> {
    v.parse().map_err(|e| format!("{name} {e}; {USAGE}"))
}

/// `--log-format`, else `LOG_FORMAT`, else pretty on a terminal and JSON
/// otherwise.
fn log_format(flag: Option<LogFormat>) -> Result<LogFormat, String> {
    if let Some(f) = flag {
        return Ok(f);
    }
    match std::env::var("LOG_FORMAT") {
        Ok(v) if !v.is_empty() => log_format_arg(&v, "LOG_FORMAT"),
        _ => Ok(LogFormat::for_terminal()),
    }
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
    let opts = match parse().and_then(|(o, f)| Ok((o, log_format(f)?))) {
        Ok((o, format)) => {
            console::init(format);
            o
        }
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
