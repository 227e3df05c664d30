//! `GET /upload/jobs` at scale: a fresh database whose `upload_jobs` holds
//! 10⁶ rows of ONE tenant (10⁴ with `--smoke`), filled by one
//! `INSERT … SELECT generate_series`, then the real `repo::list_jobs` timed
//! (one call = one round trip to the local server) for the first page and a
//! page near the end, with and without a status filter.

use std::time::Instant;

use upload_core::repo::{self, PageCursor};
use upload_core::{JobId, JobStatus, TenantId};
use upload_testkit::TestDb;

use crate::report::{Row, row};

const TENANT: &str = "6a1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
/// The page size the upload page asks for.
const PAGE: u32 = 20;
const TARGET: &str = "p50 ≤ 2 ms";
/// The filtered listing asks for the rarest status of the fill (1 %).
const FILTER: JobStatus = JobStatus::Queued;

/// p50/p99 of `list_jobs` for the first and a deep page, without and with
/// `?status=queued`.
pub async fn listing_rows(smoke: bool) -> Vec<Row> {
    let (count, runs, label) = if smoke {
        (10_000, 20, "10⁴")
    } else {
        (1_000_000, 200, "10⁶")
    };
    let t = TestDb::new().await;
    let tenant = TenantId::parse(TENANT).expect("tenant id");
    fill(&t, tenant, count).await;
    let note = "repo::list_jobs, 20 a page, one round trip; statuses 80/10/9/1 % (queued 1 %); table VACUUM ANALYZEd after the fill";
    let mut rows = Vec::new();
    for status in [None, Some(FILTER)] {
        let deep = deep_cursor(&t, tenant, status).await;
        let filter = status.map_or(String::new(), |s| format!(", ?status={}", s.as_str()));
        for (page, cursor) in [("first page", None), ("a page near the end", Some(deep))] {
            let times = time_pages(&t, tenant, status, cursor, runs).await;
            let what =
                format!("listing GET /upload/jobs, {label} jobs of one tenant: {page}{filter}");
            rows.push(row(&what, times, TARGET, note));
        }
    }
    rows
}

/// `count` jobs of `tenant` in one statement: 80 % succeeded, 10 %
/// processing, 9 % failed, 1 % queued, two at a time sharing a created_at
/// (ties broken by id). Only the NOT NULL columns and the ones the listing
/// orders or filters on are written.
async fn fill(t: &TestDb, tenant: TenantId, count: i32) {
    let c = t.client().await;
    c.batch_execute("SET synchronous_commit = off")
        .await
        .expect("set");
    c.execute(
        "INSERT INTO upload_jobs (id, tenant_id, user_id, status, file_key, interaction_id, created_at)
         SELECT id, $1::uuid, 'bench',
                (CASE WHEN g % 100 = 0 THEN 'queued' WHEN g % 10 = 0 THEN 'failed'
                      WHEN g % 10 = 1 THEN 'processing' ELSE 'succeeded' END)::jobstatus,
                'tenant/' || $1::uuid || '/uploads/' || id || '/take ' || g || '.wav',
                gen_random_uuid(), timestamptz '2026-01-01' + (g / 2) * interval '1 second'
         FROM (SELECT gen_random_uuid() AS id, g FROM generate_series(1, $2::int4) g) s",
        &[&tenant.0, &count],
    )
    .await
    .expect("fill upload_jobs");
    c.batch_execute("VACUUM ANALYZE upload_jobs")
        .await
        .expect("vacuum");
}

/// The cursor two pages before the end of the listing (`status`: filtered).
async fn deep_cursor(t: &TestDb, tenant: TenantId, status: Option<JobStatus>) -> PageCursor {
    let status = status.map(|s| s.as_str());
    let skip = i64::from(PAGE) * 2;
    let row = t
        .client()
        .await
        .query_one(
            "WITH mine AS (
                 SELECT id, created_at FROM upload_jobs
                 WHERE tenant_id = $1 AND ($2::text IS NULL OR status::text = $2))
             SELECT id FROM mine ORDER BY created_at DESC, id DESC
             OFFSET (SELECT count(*) FROM mine) - $3 LIMIT 1",
            &[&tenant.0, &status, &skip],
        )
        .await
        .expect("deep cursor");
    let id = JobId(row.get::<_, uuid::Uuid>(0));
    let job = repo::get_job(&t.db, tenant, id)
        .await
        .expect("get_job")
        .expect("the job exists");
    PageCursor {
        created_at: job.created_at,
        id: job.id,
    }
}

/// `runs` timed calls (after 5 untimed ones), in ms.
async fn time_pages(
    t: &TestDb,
    tenant: TenantId,
    status: Option<JobStatus>,
    cursor: Option<PageCursor>,
    runs: usize,
) -> Vec<f64> {
    let list = || repo::list_jobs(&t.db, tenant, status, PAGE, cursor);
    for _ in 0..5 {
        list().await.expect("list_jobs");
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t0 = Instant::now();
        let (page, _) = list().await.expect("list_jobs");
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(page.len(), PAGE as usize, "a full page");
    }
    times
}

#[cfg(test)]
mod tests {
    use super::listing_rows;

    #[tokio::test]
    async fn the_smoke_listing_measures_four_pages() {
        let rows = listing_rows(true).await;
        assert_eq!(rows.len(), 4);
        assert!(
            rows.iter()
                .all(|r| r.what.contains("10⁴ jobs of one tenant"))
        );
    }

    /// The full 10⁶-row run, printed:
    /// `cargo test --workspace --bin lambda-bench -- --ignored --nocapture listing`.
    #[tokio::test]
    #[ignore = "fills 10⁶ rows (about a minute)"]
    async fn listing_at_a_million_rows() {
        for r in listing_rows(false).await {
            println!("{} | {} | {} | {}", r.what, r.median, r.p99, r.target);
        }
    }
}
