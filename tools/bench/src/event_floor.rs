//! The floor of the 100-record event: what PostgreSQL alone takes to move
//! 100 queued jobs to processing in one autocommitted statement, with no
//! Lambda, no parsing, no decision: a bare `UPDATE … FROM unnest` by
//! primary key, sent by this process over one connection to the same
//! server. Its time is one round trip, the 100 row updates with their index
//! entries, and the commit's WAL flush.

use std::time::Instant;

use upload_testkit::TestDb;

use crate::fixtures::queued_jobs_event;

const BARE_UPDATE: &str = "UPDATE upload_jobs j
    SET status = 'processing', started_at = now(), updated_at = now()
    FROM unnest($1::uuid[]) AS u(id)
    WHERE j.id = u.id AND j.status = 'queued'";

/// `runs` timed bare updates of 100 fresh queued jobs each, in ms.
pub async fn bare_updates(t: &TestDb, runs: usize) -> Vec<f64> {
    let c = t.client().await;
    let update = c.prepare(BARE_UPDATE).await.expect("prepare");
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let event = queued_jobs_event(t, 100).await;
        let ids: Vec<uuid::Uuid> = event["Records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| {
                let key = r["s3"]["object"]["key"].as_str().expect("key");
                key.split('/')
                    .nth(3)
                    .and_then(|id| id.parse().ok())
                    .expect("job id in key")
            })
            .collect();
        let t0 = Instant::now();
        let n = c.execute(&update, &[&ids]).await.expect("bare update");
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(n, 100, "100 jobs moved");
    }
    times
}
