//! `migrate up|status|verify|down` — the operators' migration tool.
//!
//! Reads `DATABASE_URL`. Prints the target's identity before anything else.
//! `up`/`down` against a non-local host refuse to run unless the operator
//! names the expected target (`--expect-host`, `--expect-database`, or
//! `MIGRATE_EXPECT_HOST` / `MIGRATE_EXPECT_DATABASE`); `down` there also
//! needs `--yes`.
//!
//! Exit codes: 0 success; 1 database or I/O failure; 2 usage or
//! configuration error; 3 refused by the wrong-database guard; 4 schema drift
//! (`verify`) or a changed, already-applied migration.

use std::path::PathBuf;
use std::process::ExitCode;

use upload_migrate::{self as migrate, Expect, MigrateError, Op, StatusLine, Target, UpOutcome};

const USAGE: &str = "usage: migrate <up|status|verify|down> [--migrations-dir DIR] \
[--expect-host HOST] [--expect-database NAME] [--yes]";

struct Args {
    op: Op,
    dir: PathBuf,
    expect: Expect,
}

fn parse_args() -> Result<Args, MigrateError> {
    let mut op = None;
    let mut dir = None;
    let mut expect = Expect {
        host: std::env::var("MIGRATE_EXPECT_HOST")
            .ok()
            .filter(|s| !s.is_empty()),
        database: std::env::var("MIGRATE_EXPECT_DATABASE")
            .ok()
            .filter(|s| !s.is_empty()),
        yes: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| MigrateError::Usage(format!("{name} needs a value; {USAGE}")))
        };
        match flag.as_str() {
            "up" | "status" | "verify" | "down" if op.is_none() => {
                op = Some(match flag.as_str() {
                    "up" => Op::Up,
                    "status" => Op::Status,
                    "verify" => Op::Verify,
                    _ => Op::Down,
                })
            }
            "--migrations-dir" => dir = Some(PathBuf::from(value("--migrations-dir")?)),
            "--expect-host" => expect.host = Some(value("--expect-host")?),
            "--expect-database" => expect.database = Some(value("--expect-database")?),
            "--yes" => expect.yes = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => {
                return Err(MigrateError::Usage(format!(
                    "unexpected argument {other:?}; {USAGE}"
                )));
            }
        }
    }
    Ok(Args {
        op: op.ok_or_else(|| MigrateError::Usage(USAGE.to_owned()))?,
        dir: dir.unwrap_or_else(|| PathBuf::from("migrations")),
        expect,
    })
}

async fn run() -> Result<(), MigrateError> {
    let args = parse_args()?;
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .ok_or_else(|| MigrateError::Usage("DATABASE_URL is not set".into()))?;
    let target = Target::from_url(&url)?;
    // Refuse before connecting, let alone changing anything.
    migrate::guard(&target, &args.expect, args.op)?;
    let migrations = migrate::load_dir(&args.dir)?;

    let client = migrate::connect(&target.url).await?;
    let identity = migrate::server_identity(&client).await?;
    eprintln!("{}", migrate::describe(&target, &identity));
    migrate::guard_connected(&target, &args.expect, args.op, &identity)?;

    match args.op {
        Op::Up => print_up(&migrations, migrate::up(&client, &migrations).await?),
        Op::Down => match migrate::down(&client, &migrations).await? {
            Some(a) => println!("reverted {:03}_{}", a.version, a.name),
            None => println!("down: nothing to revert"),
        },
        Op::Status => print_status(&migrate::status(&client, &migrations).await?)?,
        Op::Verify => print_verify(&migrate::verify(&client).await?)?,
    }
    Ok(())
}

fn print_up(migrations: &[migrate::Migration], done: Vec<UpOutcome>) {
    if done.is_empty() {
        println!(
            "up: nothing to apply ({} migrations already applied)",
            migrations.len()
        );
    }
    for d in done {
        match d {
            UpOutcome::Applied { version, name } => println!("applied {version:03}_{name}"),
            UpOutcome::AppliedConcurrently { version, name } => {
                println!("skipped {version:03}_{name} (applied by a concurrent run)")
            }
        }
    }
}

fn print_status(lines: &[StatusLine]) -> Result<(), MigrateError> {
    let mut changed = 0;
    for l in lines {
        match l {
            StatusLine::Applied(a) => println!(
                "{:03}_{}  applied {}",
                a.version,
                a.name,
                a.applied_at.to_rfc3339()
            ),
            StatusLine::Pending { version, name } => println!("{version:03}_{name}  pending"),
            StatusLine::Changed(a) => {
                changed += 1;
                println!(
                    "{:03}_{}  CHANGED since it was applied {}",
                    a.version,
                    a.name,
                    a.applied_at.to_rfc3339()
                )
            }
            StatusLine::MissingFile(a) => println!(
                "{:03}_{}  applied, but its file is missing",
                a.version, a.name
            ),
        }
    }
    if changed > 0 {
        return Err(MigrateError::Checksum(format!(
            "{changed} applied migration(s) changed since they were applied"
        )));
    }
    Ok(())
}

fn print_verify(drift: &[String]) -> Result<(), MigrateError> {
    if !drift.is_empty() {
        for d in drift {
            eprintln!("drift: {d}");
        }
        return Err(MigrateError::Drift(format!(
            "verify failed: {} drift(s) from the expected schema",
            drift.len()
        )));
    }
    println!("verify: schema matches (table, enums, columns, indexes)");
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("migrate: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
