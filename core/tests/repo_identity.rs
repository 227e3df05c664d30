//! Overwrite protection in the batch advance, against real PostgreSQL: the
//! object a job advanced with is recorded, and a different, newer object
//! under its key stops a processing job (`OBJECT_REPLACED`); older or late
//! objects change nothing.
#![allow(clippy::too_many_lines)] // tests read top to bottom

mod common;

use common::*;
use upload_core::repo::{self, AdvanceOutcome, UploadedObject};
use upload_core::{Db, JobStatus, TenantId};
use upload_testkit::TestDb;
use uuid::Uuid;

fn object(job: &repo::NewJob, size: i64, etag: &str, seq: Option<&str>) -> UploadedObject {
    UploadedObject::at(&job.file_key, Some(size), seq.map(str::to_owned)).with_etag(Some(etag))
}

async fn advance(db: &Db, objects: &[UploadedObject]) -> Vec<AdvanceOutcome> {
    repo::advance_batch(db, objects, MAX)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.outcome)
        .collect()
}

/// (status, error_code, object_etag, object_size, object_sequencer)
async fn identity(
    t: &TestDb,
    job: &repo::NewJob,
) -> (
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
) {
    let row = t
        .client()
        .await
        .query_one(
            "SELECT status::text, error_code, object_etag, object_size, object_sequencer
             FROM upload_jobs WHERE id = $1",
            &[&job.id.0],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4))
}

#[tokio::test]
async fn the_advance_records_the_object_and_a_newer_different_one_fails_the_job() {
    let t = TestDb::new().await;
    let db = &t.db;
    let tenant = TenantId(Uuid::new_v4());
    let a = new_job(tenant, "a.wav", None);
    insert(db, &a).await;

    // S3 events carry the ETag unquoted, HEAD quotes it: both are the same.
    assert_eq!(
        advance(db, &[object(&a, 3, "\"e1\"", Some("FF"))]).await,
        [AdvanceOutcome::Advanced]
    );
    assert_eq!(
        identity(&t, &a).await,
        (
            "processing".into(),
            None,
            Some("e1".into()),
            Some(3),
            Some("FF".into())
        )
    );
    // The same object again (a redelivery, or /upload/complete's HEAD
    // without a sequencer): a duplicate.
    let dup = [
        object(&a, 3, "e1", Some("FF")),
        object(&a, 3, "\"e1\"", None),
    ];
    for o in dup {
        assert_eq!(
            advance(db, &[o]).await,
            [AdvanceOutcome::AlreadyPast {
                status: JobStatus::Processing
            }]
        );
    }
    // An OLDER different object (a late event of a PUT the recorded one
    // replaced): the bytes the job holds are still the checked ones.
    assert_eq!(
        advance(db, &[object(&a, 9, "e0", Some("FE"))]).await,
        [AdvanceOutcome::OtherObject {
            status: JobStatus::Processing
        }]
    );
    assert_eq!(identity(&t, &a).await.0, "processing");
    // A NEWER different object: the URL was replayed after the job advanced.
    // Sequencers of different lengths compare as zero-left-padded hex:
    // "0100" is newer than "FF", though it sorts before it as text.
    let res = repo::advance_batch(db, &[object(&a, 5_000_000, "e2", Some("0100"))], MAX)
        .await
        .unwrap();
    assert_eq!(res[0].outcome, AdvanceOutcome::Replaced);
    assert_eq!(res[0].status, Some(JobStatus::Failed));
    let row = repo::get_job(db, tenant, a.id).await.unwrap().unwrap();
    assert_eq!(row.status, JobStatus::Failed);
    assert_eq!(row.error_code.as_deref(), Some("OBJECT_REPLACED"));
    assert!(row.completed_at.is_some() && row.error_message.is_some());
    // After a terminal state: reported, nothing changes.
    assert_eq!(
        advance(db, &[object(&a, 1, "e3", Some("0200"))]).await,
        [AdvanceOutcome::OtherObject {
            status: JobStatus::Failed
        }]
    );
    assert_eq!(repo::get_job(db, tenant, a.id).await.unwrap().unwrap(), row);
}

#[tokio::test]
async fn within_one_batch_the_newest_object_under_a_key_decides() {
    let t = TestDb::new().await;
    let db = &t.db;
    let tenant = TenantId(Uuid::new_v4());
    let a = new_job(tenant, "a.wav", Some(2));
    let b = new_job(tenant, "b.wav", Some(2));
    insert(db, &a).await;
    insert(db, &b).await;
    // a: the newer object comes first; b: it comes second. Either way the
    // job advances with the newest object (the one under the key now), and
    // the other record is handled with it. The old one's size is wrong, so a
    // wrong choice would show as SIZE_MISMATCH.
    let outcomes = advance(
        db,
        &[
            object(&a, 2, "new-a", Some("0B")),
            object(&a, 7, "old-a", Some("0A")),
            object(&b, 7, "old-b", Some("0A")),
            object(&b, 2, "new-b", Some("0B")),
        ],
    )
    .await;
    assert_eq!(
        outcomes,
        [
            AdvanceOutcome::Advanced,
            AdvanceOutcome::DuplicateInBatch,
            AdvanceOutcome::DuplicateInBatch,
            AdvanceOutcome::Advanced,
        ]
    );
    assert_eq!(identity(&t, &a).await.2.as_deref(), Some("new-a"));
    assert_eq!(identity(&t, &b).await.2.as_deref(), Some("new-b"));
}

#[tokio::test]
async fn jobs_advanced_without_an_etag_are_never_failed_as_replaced() {
    // Rows that advanced before the identity was recorded (or through a
    // record without an ETag) cannot be compared: duplicates, as before.
    let t = TestDb::new().await;
    let db = &t.db;
    let tenant = TenantId(Uuid::new_v4());
    let a = new_job(tenant, "a.wav", None);
    insert(db, &a).await;
    assert_eq!(
        advance(db, &[item(&a, Some(3))]).await,
        [AdvanceOutcome::Advanced]
    );
    assert_eq!(
        advance(db, &[object(&a, 4, "e9", Some("FF"))]).await,
        [AdvanceOutcome::AlreadyPast {
            status: JobStatus::Processing
        }]
    );
    assert_eq!(identity(&t, &a).await.0, "processing");
}

#[tokio::test]
async fn a_job_advanced_through_head_learns_its_sequencer_from_its_own_event() {
    // POST /upload/complete's HEAD records no sequencer. The event of the
    // same object fills it in, so a late event of an OLDER object is then
    // recognised as older instead of failing the job.
    let t = TestDb::new().await;
    let db = &t.db;
    let tenant = TenantId(Uuid::new_v4());
    let a = new_job(tenant, "a.wav", None);
    insert(db, &a).await;
    assert_eq!(
        advance(db, &[object(&a, 3, "\"e2\"", None)]).await,
        [AdvanceOutcome::Advanced]
    );
    assert_eq!(identity(&t, &a).await.4, None);
    assert_eq!(
        advance(db, &[object(&a, 3, "e2", Some("0B"))]).await,
        [AdvanceOutcome::AlreadyPast {
            status: JobStatus::Processing
        }]
    );
    assert_eq!(identity(&t, &a).await.4.as_deref(), Some("0B"));
    assert_eq!(
        advance(db, &[object(&a, 9, "e1", Some("0A"))]).await,
        [AdvanceOutcome::OtherObject {
            status: JobStatus::Processing
        }]
    );
    assert_eq!(identity(&t, &a).await.0, "processing");
}

#[tokio::test]
async fn an_older_object_racing_the_sequencer_of_the_recorded_one_does_not_fail_the_job() {
    // A job advanced through HEAD (no sequencer). Its own object's event, in
    // one invocation, records the sequencer 0B while a late event of an
    // OLDER object (0A), in another, has already read the row without it.
    // When the older one gets the row lock it must see 0B and change nothing.
    let t = TestDb::new().await;
    let db = &t.db;
    let tenant = TenantId(Uuid::new_v4());
    let a = new_job(tenant, "a.wav", None);
    insert(db, &a).await;
    assert_eq!(
        advance(db, &[object(&a, 3, "e2", None)]).await,
        [AdvanceOutcome::Advanced]
    );
    let holder = t.client().await;
    holder.batch_execute("BEGIN").await.unwrap();
    holder
        .execute(
            "UPDATE upload_jobs SET object_sequencer = '0B' WHERE id = $1",
            &[&a.id.0],
        )
        .await
        .unwrap();
    let late = {
        let db = db.clone();
        let older = object(&a, 9, "e1", Some("0A"));
        tokio::spawn(async move { advance(&db, &[older]).await })
    };
    // Wait until the late statement is blocked on the row lock.
    let watcher = t.client().await;
    let mut blocked = false;
    for _ in 0..200 {
        let n: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            blocked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(blocked, "the late advance never waited for the row lock");
    holder.batch_execute("COMMIT").await.unwrap();
    assert_eq!(
        late.await.unwrap(),
        [AdvanceOutcome::OtherObject {
            status: JobStatus::Processing
        }]
    );
    let (status, code, etag, _, seq) = identity(&t, &a).await;
    assert_eq!(
        (status.as_str(), code, etag.as_deref(), seq.as_deref()),
        ("processing", None, Some("e2"), Some("0B"))
    );
}
