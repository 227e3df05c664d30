//! Running the `migrate` binary in tests.
#![allow(dead_code)] // each test file uses its own part

use std::path::Path;
use std::process::Command;

use upload_testkit::{TestDb, migrations_dir};

pub fn migrate_bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_migrate"));
    c.env_remove("MIGRATE_EXPECT_HOST")
        .env_remove("MIGRATE_EXPECT_DATABASE");
    c
}

pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run migrate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub fn migrate_cmd(t: &TestDb, args: &[&str]) -> Command {
    let mut c = migrate_bin();
    c.env("DATABASE_URL", &t.url)
        .arg("--migrations-dir")
        .arg(migrations_dir())
        .args(args);
    c
}

pub fn copy_migrations(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(migrations_dir()).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}
