//! The reaper against the local S3 server as AWS behaves without
//! `s3:ListBucket`: HEAD of a missing key is 403, not 404. Such jobs are
//! left queued, logged and counted, and never starve the others: the same
//! run still recovers the uploaded ones, and a later run takes the jobs it
//! has not just tried first. With list permission (what template.yaml
//! grants) the same jobs expire.
#![allow(clippy::too_many_lines)] // a scenario, read top to bottom

mod common;

use std::sync::Arc;

use common::{functions_config, s3_client};
use local_stack::s3server;
use serde_json::Value;
use upload_core::objects::ObjectHead;
use upload_core::repo::{self, NewJob};
use upload_core::{Config, Db, FileKey, JobId, JobStatus, JobType, SafeFileName, TenantId};
use upload_events::{EventsState, Payload, handle};
use upload_testkit::TestDb;
use uuid::Uuid;

const BUCKET: &str = "strict-bucket";

async fn start_s3() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let dir = std::env::temp_dir().join(format!("s3-strict-{}", Uuid::new_v4().simple()));
    let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let _keep = _rx;
        s3server::serve(listener, dir, BUCKET.to_owned(), tx)
            .await
            .unwrap();
    });
    url
}

fn config(database_url: &str, s3_url: &str, batch: &str) -> Config {
    functions_config(database_url, s3_url, BUCKET, batch)
}

fn events_state(config: &Config, db: Db, access_key: &str, secret_key: &str) -> EventsState {
    let client = s3_client(config, access_key, secret_key);
    EventsState {
        config: config.clone(),
        db,
        objects: Arc::new(upload_core::s3::S3Objects {
            client,
            bucket: BUCKET.to_owned(),
        }),
        handoff: None,
        metrics: upload_core::metrics::Metrics::off(),
    }
}

/// A queued job created an hour ago: far past its upload window.
async fn stale_job(t: &TestDb, tenant: TenantId, name: &str, minutes_ago: i32) -> (JobId, FileKey) {
    let id = JobId::new_random();
    let key = FileKey::build(tenant, id, SafeFileName::new(name));
    let job = NewJob {
        id,
        tenant_id: tenant,
        user_id: "u".into(),
        job_type: JobType::AudioTranscription,
        file_key: key.clone(),
        file_name: name.into(),
        mime_type: "audio/wav".into(),
        file_size: Some(3),
        interaction_id: Uuid::new_v4(),
        trace_id: None,
        account_id: None,
        metadata_json: None,
    };
    repo::create_queued_job(&t.db, &job).await.unwrap();
    t.client()
        .await
        .execute(
            "UPDATE upload_jobs SET created_at = now() - make_interval(mins => $2),
                 updated_at = now() - make_interval(mins => $2) WHERE id = $1",
            &[&id.0, &minutes_ago],
        )
        .await
        .unwrap();
    (id, key)
}

async fn reap(state: &EventsState) -> Value {
    let ev: Payload = serde_json::from_value(serde_json::json!({
        "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}
    }))
    .unwrap();
    handle(state, ev).await.unwrap()
}

async fn status(t: &TestDb, tenant: TenantId, id: JobId) -> (JobStatus, Option<String>) {
    let j = repo::get_job(&t.db, tenant, id).await.unwrap().unwrap();
    (j.status, j.error_code)
}

/// Pretends the last claims were made 5 minutes ago (the schedule's period,
/// longer than the claim's lease).
async fn age_claims(t: &TestDb) {
    t.client()
        .await
        .execute(
            "UPDATE upload_jobs SET updated_at = updated_at - interval '5 minutes'
             WHERE status = 'queued' AND updated_at > created_at",
            &[],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn without_list_permission_missing_objects_are_403_left_queued_and_never_starve_the_rest() {
    let t = TestDb::new().await;
    let s3 = start_s3().await;
    let cfg = config(&t.url, &s3, "2");
    assert_eq!(cfg.reaper_batch, 2);
    let tenant = TenantId(Uuid::new_v4());
    // Oldest first: two never uploaded, then one uploaded whose event was
    // lost, then another never uploaded.
    let (a, _) = stale_job(&t, tenant, "a.wav", 60).await;
    let (b, _) = stale_job(&t, tenant, "b.wav", 59).await;
    let (c, c_key) = stale_job(&t, tenant, "c.wav", 58).await;
    let (d, _) = stale_job(&t, tenant, "d.wav", 57).await;
    s3_client(&cfg, s3server::ACCESS_KEY, s3server::SECRET_KEY)
        .put_object()
        .bucket(BUCKET)
        .key(c_key.as_str())
        .body(b"abc".to_vec().into())
        .send()
        .await
        .unwrap();

    // The local S3 answers the role without list permission as AWS does.
    let no_list = s3_client(
        &cfg,
        s3server::NO_LIST_ACCESS_KEY,
        s3server::NO_LIST_SECRET_KEY,
    );
    let err = no_list
        .head_object()
        .bucket(BUCKET)
        .key("tenant/nothing/here")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().unwrap().status().as_u16(), 403);
    // The functions' HEAD says what the 403 most likely means.
    let objects = upload_core::s3::S3Objects {
        client: no_list.clone(),
        bucket: BUCKET.to_owned(),
    };
    let e = objects.head("tenant/nothing/here").await.unwrap_err();
    assert!(e.0.contains("s3:ListBucket"), "{e}");

    let strict = events_state(
        &cfg,
        t.db.clone(),
        s3server::NO_LIST_ACCESS_KEY,
        s3server::NO_LIST_SECRET_KEY,
    );
    // Run 1 (batch of 2) takes the two oldest: both HEADs are 403.
    let r1 = reap(&strict).await;
    assert_eq!(
        (
            r1["claimed"].as_u64(),
            r1["head_errors"].as_u64(),
            r1["expired"].as_u64()
        ),
        (Some(2), Some(2), Some(0)),
        "{r1}"
    );
    assert_eq!(status(&t, tenant, a).await.0, JobStatus::Queued);
    assert_eq!(status(&t, tenant, b).await.0, JobStatus::Queued);

    // Run 2, a schedule period later (the claims' lease has run out): it
    // takes the jobs not just tried, so the lost event is recovered.
    age_claims(&t).await;
    let r2 = reap(&strict).await;
    assert_eq!(
        (
            r2["claimed"].as_u64(),
            r2["recovered"].as_u64(),
            r2["head_errors"].as_u64()
        ),
        (Some(2), Some(1), Some(1)),
        "{r2}"
    );
    assert_eq!(status(&t, tenant, c).await.0, JobStatus::Processing);
    assert_eq!(status(&t, tenant, d).await.0, JobStatus::Queued);

    // With s3:ListBucket (what template.yaml grants), missing is 404 and the
    // abandoned jobs expire.
    age_claims(&t).await;
    let granted = events_state(
        &cfg,
        t.db.clone(),
        s3server::ACCESS_KEY,
        s3server::SECRET_KEY,
    );
    let mut expired = 0;
    for _ in 0..2 {
        let r = reap(&granted).await;
        assert_eq!(r["head_errors"].as_u64(), Some(0), "{r}");
        expired += r["expired"].as_u64().unwrap();
    }
    assert_eq!(expired, 3);
    for id in [a, b, d] {
        assert_eq!(
            status(&t, tenant, id).await,
            (JobStatus::Failed, Some("UPLOAD_EXPIRED".to_owned()))
        );
    }
}
