//! `GET /upload/jobs`' listing against real PostgreSQL: every page of every
//! filter equals the reference order, and the plan reads a page from the
//! listing index (migration 005) without sorting the tenant's rows.
#![allow(clippy::too_many_lines)] // tests read top to bottom

mod common;

use common::plan_nodes;
use serde_json::Value;
use upload_core::repo::{self, PageCursor};
use upload_core::{JobId, JobStatus, TenantId};
use upload_testkit::TestDb;
use uuid::Uuid;

/// `n` jobs of `tenant` with statuses in turn and created_at ties in threes.
async fn fill(t: &TestDb, tenant: TenantId, n: i32) {
    t.client()
        .await
        .execute(
            "INSERT INTO upload_jobs (id, tenant_id, user_id, status, file_key, interaction_id, created_at)
             SELECT id, $1, 'u',
                    (enum_range(NULL::jobstatus))[1 + g % 4],
                    'tenant/' || $1::uuid || '/uploads/' || id || '/f.wav',
                    gen_random_uuid(), timestamptz '2026-01-01' + (g / 3) * interval '1 second'
             FROM (SELECT gen_random_uuid() AS id, g FROM generate_series(1, $2::int4) g) s",
            &[&tenant.0, &n],
        )
        .await
        .unwrap();
}

/// The tenant's job ids in the listing's order, by a plain sort.
async fn reference(t: &TestDb, tenant: TenantId, status: Option<JobStatus>) -> Vec<JobId> {
    let status = status.map(|s| s.as_str());
    t.client()
        .await
        .query(
            "SELECT id FROM upload_jobs WHERE tenant_id = $1 AND ($2::text IS NULL OR status::text = $2)
             ORDER BY created_at DESC, id DESC",
            &[&tenant.0, &status],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| JobId(r.get(0)))
        .collect()
}

#[tokio::test]
async fn every_page_of_every_filter_follows_the_reference_order() {
    let t = TestDb::new().await;
    let (tenant, other) = (TenantId(Uuid::new_v4()), TenantId(Uuid::new_v4()));
    fill(&t, tenant, 157).await;
    fill(&t, other, 40).await;
    let filters = std::iter::once(None).chain(JobStatus::ALL.map(Some));
    for status in filters {
        let expected = reference(&t, tenant, status).await;
        assert!(!expected.is_empty());
        for limit in [1, 7, 50, 200] {
            let mut seen = Vec::new();
            let mut cursor: Option<PageCursor> = None;
            loop {
                let (page, next) = repo::list_jobs(&t.db, tenant, status, limit, cursor)
                    .await
                    .unwrap();
                assert!(page.len() <= limit as usize);
                assert!(page.iter().all(|j| j.tenant_id == tenant));
                assert!(status.is_none_or(|s| page.iter().all(|j| j.status == s)));
                seen.extend(page.iter().map(|j| j.id));
                match next {
                    Some(c) => {
                        assert_eq!(page.len(), limit as usize, "a page before the last is full");
                        cursor = Some(c);
                    }
                    None => break,
                }
            }
            assert_eq!(seen, expected, "status {status:?}, {limit} a page");
        }
    }
}

#[tokio::test]
async fn the_listing_covers_every_status_the_database_knows() {
    let t = TestDb::new().await;
    let labels: Vec<String> = t
        .client()
        .await
        .query_one("SELECT enum_range(NULL::jobstatus)::text[]", &[])
        .await
        .unwrap()
        .get(0);
    let ours: Vec<&str> = JobStatus::ALL.iter().map(JobStatus::as_str).collect();
    assert_eq!(labels, ours, "one listing branch per status");
}

/// EXPLAIN (ANALYZE, BUFFERS) of the listing at 30,000 rows of one tenant,
/// as a generic plan (what a prepared statement settles on) and a custom one.
async fn explain(
    t: &TestDb,
    tenant: TenantId,
    status: Option<&str>,
    cursor: Option<PageCursor>,
    generic: bool,
) -> Value {
    let c = t.client().await;
    let mode = if generic {
        "force_generic_plan"
    } else {
        "force_custom_plan"
    };
    c.batch_execute(&format!("SET plan_cache_mode = {mode}"))
        .await
        .unwrap();
    c.batch_execute(&format!(
        "PREPARE listing(uuid, text, timestamptz, uuid, int8) AS {}",
        repo::list_jobs_statement()
    ))
    .await
    .unwrap();
    let (ts, id) = cursor.map_or(("294000-01-01".to_owned(), Uuid::max()), |c| {
        (c.created_at.to_rfc3339(), c.id.0)
    });
    let status = status.map_or("NULL".to_owned(), |s| format!("'{s}'"));
    let row = c
        .query_one(
            &format!(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE listing('{}', {status}, '{ts}', '{id}', 21)",
                tenant.0
            ),
            &[],
        )
        .await
        .unwrap();
    let plan: Value = row.get(0);
    plan[0]["Plan"].clone()
}

#[tokio::test]
async fn a_page_reads_a_few_index_pages_and_sorts_no_tenant_rows() {
    let t = TestDb::new().await;
    let tenant = TenantId(Uuid::new_v4());
    fill(&t, tenant, 30_000).await;
    t.client()
        .await
        .batch_execute("VACUUM ANALYZE upload_jobs")
        .await
        .unwrap();
    // A cursor deep in the listing: two pages before the end.
    let all = reference(&t, tenant, None).await;
    let deep = repo::get_job(&t.db, tenant, all[all.len() - 40])
        .await
        .unwrap()
        .unwrap();
    let deep = PageCursor {
        created_at: deep.created_at,
        id: deep.id,
    };
    for generic in [true, false] {
        for status in [None, Some("queued"), Some("failed")] {
            for cursor in [None, Some(deep)] {
                let plan = explain(&t, tenant, status, cursor, generic).await;
                let what =
                    format!("generic {generic}, status {status:?}, cursor {cursor:?}: {plan:#}");
                for node in plan_nodes(&plan) {
                    let kind = node["Node Type"].as_str().unwrap();
                    if node["Relation Name"] == "upload_jobs" {
                        assert_eq!(kind, "Index Scan", "{what}");
                        assert_eq!(
                            node["Index Name"], "ix_upload_jobs_tenant_status_created",
                            "{what}"
                        );
                        // Each branch stops after one page: whatever sorts
                        // above merges at most 4 pages, never the tenant's rows.
                        assert!(node["Actual Rows"].as_u64().unwrap() <= 21, "{what}");
                    }
                }
                let buffers = plan["Shared Hit Blocks"].as_u64().unwrap()
                    + plan["Shared Read Blocks"].as_u64().unwrap();
                assert!(buffers < 200, "{buffers} buffers for one page: {what}");
                if cursor.is_none() {
                    assert_eq!(plan["Actual Rows"], 21, "{what}");
                }
            }
        }
    }
}
