//! The migration and the migration tool, against real PostgreSQL.
#![allow(clippy::too_many_lines)] // tests read top to bottom

mod common;

use common::*;
use upload_core::repo::{self, AdvanceOutcome, NewJob, UploadedObject};
use upload_core::{FileKey, JobId, JobType, SafeFileName, TenantId};
use upload_migrate::{self as migrate, StatusLine, UpOutcome};
use upload_testkit::{TestDb, migrations_dir};
use uuid::Uuid;

#[tokio::test]
async fn applies_to_an_empty_database_and_again_is_a_no_op() {
    let t = TestDb::empty().await;
    let (code, out, err) = run(&mut migrate_cmd(&t, &["up"]));
    assert_eq!(code, 0, "{out}{err}");
    for name in [
        "001_create_upload_jobs",
        "002_python_service_columns",
        "003_object_identity",
        "004_handoff",
        "005_list_jobs_index",
    ] {
        assert!(out.contains(&format!("applied {name}")), "{out}");
    }
    assert!(
        err.contains("target: host=") && err.contains(&t.name),
        "{err}"
    );

    let (code, out, _) = run(&mut migrate_cmd(&t, &["up"]));
    assert_eq!(code, 0);
    assert!(out.contains("nothing to apply"), "{out}");

    let (code, out, err) = run(&mut migrate_cmd(&t, &["verify"]));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, _) = run(&mut migrate_cmd(&t, &["status"]));
    assert_eq!(code, 0);
    assert!(out.contains("001_create_upload_jobs  applied"), "{out}");
    assert!(out.contains("004_handoff  applied"), "{out}");
    assert!(out.contains("005_list_jobs_index  applied"), "{out}");

    // The files themselves are re-runnable, outside the tool too.
    let c = t.client().await;
    for f in [
        "001_create_upload_jobs.sql",
        "002_python_service_columns.sql",
        "003_object_identity.sql",
        "004_handoff.sql",
        "005_list_jobs_index.sql",
    ] {
        let sql = std::fs::read_to_string(migrations_dir().join(f)).unwrap();
        c.batch_execute(&sql).await.unwrap();
    }
    let n: i64 = c
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        n, 5,
        "re-running the files outside the tool records nothing"
    );
}

/// Production: the Python service created the objects by hand, added three
/// nullable columns, and the wrong-database incident left job_status/job_type.
#[tokio::test]
async fn applies_over_the_hand_made_production_schema() {
    let t = TestDb::empty().await;
    let c = t.client().await;
    c.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS pgcrypto;
         CREATE TYPE job_status AS ENUM ('queued', 'processing', 'succeeded', 'failed');
         CREATE TYPE job_type AS ENUM ('audio_transcription', 'text_processing');
         CREATE TYPE jobstatus AS ENUM ('queued', 'processing', 'succeeded', 'failed');
         CREATE TYPE jobtype AS ENUM ('audio_transcription', 'text_processing');
         CREATE TABLE upload_jobs (
            id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
            tenant_id UUID NOT NULL, user_id TEXT NOT NULL,
            job_type jobtype NOT NULL DEFAULT 'audio_transcription',
            status jobstatus NOT NULL DEFAULT 'queued',
            file_key TEXT NOT NULL, file_name TEXT, mime_type TEXT, file_size BIGINT,
            interaction_id UUID NOT NULL, trace_id TEXT, account_id TEXT,
            error_message TEXT, error_code TEXT, result_summary TEXT, metadata_json TEXT,
            created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
            updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
            started_at TIMESTAMPTZ, completed_at TIMESTAMPTZ,
            pg_user_id TEXT, user_name TEXT, participants_json TEXT);
         CREATE INDEX ix_upload_jobs_tenant_id ON upload_jobs(tenant_id);
         CREATE INDEX ix_upload_jobs_status ON upload_jobs(status);
         CREATE INDEX ix_upload_jobs_tenant_status ON upload_jobs(tenant_id, status);
         CREATE UNIQUE INDEX ix_upload_jobs_tenant_file_key ON upload_jobs(tenant_id, file_key);",
    )
    .await
    .unwrap();

    let (code, out, err) = run(&mut migrate_cmd(&t, &["up"]));
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&mut migrate_cmd(&t, &["verify"]));
    assert_eq!(code, 0, "{out}{err}");

    // The repository works on that table.
    let tenant = TenantId(Uuid::new_v4());
    let id = JobId::new_random();
    let key = FileKey::build(tenant, id, SafeFileName::new("a.wav"));
    let job = NewJob {
        id,
        tenant_id: tenant,
        user_id: "u1".into(),
        job_type: JobType::AudioTranscription,
        file_key: key.clone(),
        file_name: "a.wav".into(),
        mime_type: "audio/wav".into(),
        file_size: Some(10),
        interaction_id: Uuid::new_v4(),
        trace_id: None,
        account_id: Some("acct".into()),
        metadata_json: None,
    };
    repo::create_queued_job(&t.db, &job).await.unwrap();
    assert!(repo::get_job(&t.db, tenant, id).await.unwrap().is_some());
    let res = repo::advance_batch(&t.db, &[UploadedObject::at(&key, Some(10), None)], 1000)
        .await
        .unwrap();
    assert_eq!(res[0].outcome, AdvanceOutcome::Advanced);
    // The leftover types are untouched.
    let n: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_type WHERE typname IN ('job_status', 'job_type')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 2);

    // Reverting 003 drops its columns; reverting 002 keeps the Python
    // service's columns (they are its own on production).
    let columns = || async {
        let rows = t
            .client()
            .await
            .query(
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_name = 'upload_jobs' ORDER BY 1",
                &[],
            )
            .await
            .unwrap();
        rows.iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
    };
    let index_exists = async || {
        c.query_one(
            "SELECT to_regclass('ix_upload_jobs_tenant_status_created') IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get::<_, bool>(0)
    };
    assert!(index_exists().await);
    let (code, out, err) = run(&mut migrate_cmd(&t, &["down"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("reverted 005_list_jobs_index"), "{out}");
    assert!(!index_exists().await);
    let (code, out, err) = run(&mut migrate_cmd(&t, &["down"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("reverted 004_handoff"), "{out}");
    assert!(!columns().await.iter().any(|c| c == "handed_off_at"));
    let (code, out, err) = run(&mut migrate_cmd(&t, &["down"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("reverted 003_object_identity"), "{out}");
    let cols = columns().await;
    assert!(
        !cols
            .iter()
            .any(|c| c == "object_etag" || c == "checksum_sha256")
    );
    let (code, out, err) = run(&mut migrate_cmd(&t, &["down"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("reverted 002_python_service_columns"), "{out}");
    let cols = columns().await;
    for kept in ["pg_user_id", "user_name", "participants_json"] {
        assert!(cols.iter().any(|c| c == kept), "{kept}: {cols:?}");
    }

    // down drops the four enum names and the table, never pgcrypto.
    let (code, out, err) = run(&mut migrate_cmd(&t, &["down"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("reverted 001_create_upload_jobs"), "{out}");
    let left: i64 = c
        .query_one(
            "SELECT count(*) FROM pg_type WHERE typname IN ('job_status','job_type','jobstatus','jobtype')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
    assert!(
        c.query_opt("SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto'", &[])
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        c.query_one("SELECT to_regclass('upload_jobs') IS NULL", &[])
            .await
            .unwrap()
            .get::<_, bool>(0)
    );
}

#[tokio::test]
async fn verify_names_every_drift() {
    let t = TestDb::new().await;
    let c = t.client().await;
    c.batch_execute(
        "ALTER TABLE upload_jobs ALTER COLUMN started_at TYPE timestamp without time zone;
         DROP INDEX ix_upload_jobs_status;
         ALTER TYPE jobtype RENAME VALUE 'text_processing' TO 'text';
         DROP INDEX ix_upload_jobs_tenant_file_key;
         CREATE INDEX ix_upload_jobs_tenant_file_key ON upload_jobs(tenant_id, file_key);
         -- What a failed CREATE INDEX CONCURRENTLY leaves.
         UPDATE pg_index SET indisvalid = false
         WHERE indexrelid = 'ix_upload_jobs_tenant_status_created'::regclass;",
    )
    .await
    .unwrap();
    let (code, out, err) = run(&mut migrate_cmd(&t, &["verify"]));
    assert_eq!(code, 4, "{out}{err}");
    assert!(
        err.contains("column upload_jobs.started_at is timestamp, expected timestamptz"),
        "{err}"
    );
    assert!(
        err.contains("index ix_upload_jobs_status does not exist"),
        "{err}"
    );
    assert!(err.contains("enum type jobtype has labels"), "{err}");
    assert!(
        err.contains("index ix_upload_jobs_tenant_file_key is not unique, expected unique"),
        "{err}"
    );
    assert!(
        err.contains("index ix_upload_jobs_tenant_status_created is invalid"),
        "{err}"
    );
    assert!(err.contains("verify failed: 5 drift(s)"), "{err}");

    // An empty database: everything missing.
    let e = TestDb::empty().await;
    let (code, _, err) = run(&mut migrate_cmd(&e, &["verify"]));
    assert_eq!(code, 4);
    assert!(err.contains("table upload_jobs does not exist"), "{err}");
    assert!(err.contains("enum type jobstatus does not exist"), "{err}");
}

#[tokio::test]
async fn two_concurrent_ups_apply_each_migration_once() {
    let t = TestDb::empty().await;
    // Several migrations make the race window wide.
    let dir = std::env::temp_dir().join(format!("mig-{}", Uuid::new_v4().simple()));
    copy_migrations(&dir);
    // Versions far above the project's own, whatever it adds later.
    for v in 901..=905 {
        std::fs::write(
            dir.join(format!("{v:03}_slow_{v}.sql")),
            format!("SELECT pg_sleep(0.05); CREATE TABLE extra_{v} (id int);"),
        )
        .unwrap();
    }
    let spawn = || {
        let mut c = migrate_bin();
        c.env("DATABASE_URL", &t.url)
            .args(["up", "--migrations-dir"])
            .arg(&dir);
        c.spawn().unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let c = t.client().await;
    let rows = c
        .query(
            "SELECT version, count(*) FROM schema_migrations GROUP BY version ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    let ours = migrate::load_dir(&migrations_dir()).unwrap().len();
    assert_eq!(rows.len(), ours + 5);
    for r in rows {
        assert_eq!(r.get::<_, i64>(1), 1);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_changed_applied_migration_is_refused() {
    let t = TestDb::empty().await;
    let dir = std::env::temp_dir().join(format!("mig-{}", Uuid::new_v4().simple()));
    copy_migrations(&dir);
    let mut up = migrate_bin();
    up.env("DATABASE_URL", &t.url)
        .args(["up", "--migrations-dir"])
        .arg(&dir);
    assert_eq!(run(&mut up).0, 0);
    let f = dir.join("001_create_upload_jobs.sql");
    let mut sql = std::fs::read_to_string(&f).unwrap();
    sql.push_str("\n-- edited after the fact\n");
    std::fs::write(&f, sql).unwrap();
    std::fs::write(dir.join("999_more.sql"), "CREATE TABLE more (id int);").unwrap();

    let (code, _, err) = run(&mut up);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("was changed after it was applied"), "{err}");
    assert_eq!(
        err.trim()
            .lines()
            .last()
            .unwrap()
            .matches("migrate:")
            .count(),
        1
    );
    // Nothing else was applied.
    let c = t.client().await;
    assert!(
        c.query_one("SELECT to_regclass('more') IS NULL", &[])
            .await
            .unwrap()
            .get::<_, bool>(0)
    );
    let mut status = migrate_bin();
    status
        .env("DATABASE_URL", &t.url)
        .args(["status", "--migrations-dir"])
        .arg(&dir);
    let (code, out, _) = run(&mut status);
    assert_eq!(code, 4);
    assert!(out.contains("CHANGED"), "{out}");
    assert!(out.contains("999_more  pending"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn library_up_reports_and_status_lists() {
    let t = TestDb::empty().await;
    let c = t.client().await;
    let ms = migrate::load_dir(&migrations_dir()).unwrap();
    let done = migrate::up(&c, &ms).await.unwrap();
    assert_eq!(
        done,
        vec![
            UpOutcome::Applied {
                version: 1,
                name: "create_upload_jobs".into()
            },
            UpOutcome::Applied {
                version: 2,
                name: "python_service_columns".into()
            },
            UpOutcome::Applied {
                version: 3,
                name: "object_identity".into()
            },
            UpOutcome::Applied {
                version: 4,
                name: "handoff".into()
            },
            UpOutcome::Applied {
                version: 5,
                name: "list_jobs_index".into()
            },
        ]
    );
    assert!(migrate::up(&c, &ms).await.unwrap().is_empty());
    let st = migrate::status(&c, &ms).await.unwrap();
    assert!(
        matches!(&st[..], [StatusLine::Applied(a), StatusLine::Applied(_), StatusLine::Applied(_), StatusLine::Applied(_), StatusLine::Applied(e)] if a.version == 1 && e.version == 5)
    );
    assert!(migrate::verify(&c).await.unwrap().is_empty());
}
