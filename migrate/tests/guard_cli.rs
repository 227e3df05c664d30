//! The wrong-database guard of the `migrate` binary: remote targets are
//! refused before any connection unless the operator names them.

mod common;

use common::*;
use upload_testkit::migrations_dir;

#[test]
fn the_guard_refuses_remote_targets_before_connecting() {
    // .invalid never resolves: if the tool tried to connect, the error would
    // be a connection error (exit 1), not a refusal (exit 3).
    let remote = "postgresql://owner:pw@ep-shy-truth-adk9d3h7-pooler.c-2.us-east-1.aws.neon.invalid/neondb?sslmode=require";
    let cases: &[(&[&str], i32, &str)] = &[
        (&["up"], 3, "needs --expect-host and/or --expect-database"),
        (&["down"], 3, "needs --expect-host and/or --expect-database"),
        (
            &[
                "up",
                "--expect-host",
                "ep-silent-waterfall-adtinpn1-pooler.c-2.us-east-1.aws.neon.tech",
            ],
            3,
            "does not match --expect-host",
        ),
        (
            &["up", "--expect-database", "eqdev"],
            3,
            "does not match --expect-database",
        ),
        (
            &[
                "down",
                "--expect-host",
                "ep-shy-truth-adk9d3h7-pooler.c-2.us-east-1.aws.neon.invalid",
            ],
            3,
            "also needs --yes",
        ),
        // Named correctly: the guard lets it through to the connection attempt.
        (
            &[
                "up",
                "--expect-host",
                "ep-shy-truth-adk9d3h7-pooler.c-2.us-east-1.aws.neon.invalid",
                "--expect-database",
                "neondb",
            ],
            1,
            "could not connect",
        ),
        (&["sideways"], 2, "usage"),
    ];
    for (args, want_code, want_msg) in cases {
        let mut c = migrate_bin();
        c.env("DATABASE_URL", remote)
            .arg("--migrations-dir")
            .arg(migrations_dir())
            .args(*args);
        let (code, out, err) = run(&mut c);
        assert_eq!(code, *want_code, "{args:?}: {out}{err}");
        assert!(err.contains(want_msg), "{args:?}: {err}");
        assert!(!err.contains("owner:pw") && !err.contains(":pw@"), "{err}");
    }
    // The environment can name the target too.
    let mut c = migrate_bin();
    c.env("DATABASE_URL", remote)
        .env("MIGRATE_EXPECT_HOST", "ep-silent-waterfall-adtinpn1")
        .arg("up");
    let (code, _, err) = run(&mut c);
    assert_eq!(code, 3, "{err}");
}
