//! The 100-object batch statement at 10⁵ rows, before and after the table
//! has statistics: every read and write of `upload_jobs` goes through its
//! primary key (never a scan of the table), at most two lookups per
//! object, whatever the batch holds (new objects, duplicates, unknown keys,
//! replaced and re-sequenced objects).
#![allow(clippy::too_many_lines)] // tests read top to bottom

mod common;

use common::plan_nodes;
use serde_json::Value;
use tokio_postgres::types::{ToSql, Type};
use upload_core::TenantId;
use upload_core::repo;
use upload_testkit::TestDb;
use uuid::Uuid;

const ROWS: i32 = 100_000;

/// 100 objects: 75 of 70 queued jobs (5 of them twice), 10 unknown
/// keys, 10 of processing jobs with another ETag, 5 of processing jobs with
/// their own ETag and no sequencer yet.
async fn batch(
    t: &TestDb,
    tenant: TenantId,
    skip: i64,
) -> (
    Vec<Uuid>,
    Vec<String>,
    Vec<Option<i64>>,
    Vec<Option<String>>,
    Vec<Option<String>>,
) {
    let c = t.client().await;
    let pick = |status: &'static str, n: i64, skip: i64| {
        let c = &c;
        async move {
            c.query(
                "SELECT id, file_key, object_etag FROM upload_jobs
                 WHERE tenant_id = $1 AND status::text = $2
                   AND object_etag IS DISTINCT FROM 'e1'
                 ORDER BY id OFFSET $3 LIMIT $4",
                &[&tenant.0, &status, &skip, &n],
            )
            .await
            .unwrap()
        }
    };
    let (mut ids, mut keys, mut sizes, mut etags, mut seqs) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut push = |id: Uuid, key: String, etag: Option<String>, seq: &str| {
        ids.push(id);
        keys.push(key);
        sizes.push(Some(10_i64));
        etags.push(etag);
        seqs.push(Some(seq.to_owned()));
    };
    for r in pick("queued", 70, skip).await {
        push(r.get(0), r.get(1), Some("e1".into()), "0A");
    }
    for r in pick("queued", 5, skip).await {
        push(r.get(0), r.get(1), Some("e1".into()), "0B");
    }
    for _ in 0..10 {
        let id = Uuid::new_v4();
        push(
            id,
            format!("tenant/{}/uploads/{id}/x.wav", tenant.0),
            None,
            "01",
        );
    }
    for r in pick("processing", 10, skip).await {
        push(r.get(0), r.get(1), Some("other".into()), "FF");
    }
    for r in pick("processing", 5, skip + 10).await {
        let etag: Option<String> = r.get(2);
        push(r.get(0), r.get(1), etag, "0C");
    }
    assert_eq!(ids.len(), 100);
    (ids, keys, sizes, etags, seqs)
}

async fn explain_batch(t: &TestDb, tenant: TenantId, skip: i64) -> Value {
    let (ids, keys, sizes, etags, seqs) = batch(t, tenant, skip).await;
    let tenants = vec![tenant.0; ids.len()];
    let max = 1_000_000_i64;
    let sql = format!(
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {}",
        repo::advance_batch_statement()
    );
    let params: [(&(dyn ToSql + Sync), Type); 7] = [
        (&ids, Type::UUID_ARRAY),
        (&tenants, Type::UUID_ARRAY),
        (&keys, Type::TEXT_ARRAY),
        (&sizes, Type::INT8_ARRAY),
        (&max, Type::INT8),
        (&etags, Type::TEXT_ARRAY),
        (&seqs, Type::TEXT_ARRAY),
    ];
    let row = t.client().await.query_typed(&sql, &params).await.unwrap();
    let plan: Value = row[0].get(0);
    plan[0]["Plan"].clone()
}

#[tokio::test]
async fn the_batch_stays_on_the_primary_key_at_a_hundred_thousand_rows() {
    let t = TestDb::new().await;
    let tenant = TenantId(Uuid::new_v4());
    t.client()
        .await
        .execute(
            "INSERT INTO upload_jobs (id, tenant_id, user_id, status, file_key, interaction_id,
                                      object_etag, object_size, started_at)
             SELECT id, $1, 'u',
                    (CASE WHEN g % 10 = 0 THEN 'processing' ELSE 'queued' END)::jobstatus,
                    'tenant/' || $1::uuid || '/uploads/' || id || '/x.wav', gen_random_uuid(),
                    CASE WHEN g % 10 = 0 THEN 'e' || g END, CASE WHEN g % 10 = 0 THEN 10 END,
                    CASE WHEN g % 10 = 0 THEN now() END
             FROM (SELECT gen_random_uuid() AS id, g FROM generate_series(1, $2::int4) g) s",
            &[&tenant.0, &ROWS],
        )
        .await
        .unwrap();
    for (analysed, skip) in [(false, 0), (true, 200)] {
        if analysed {
            t.client()
                .await
                .batch_execute("VACUUM ANALYZE upload_jobs")
                .await
                .unwrap();
        }
        let plan = explain_batch(&t, tenant, skip).await;
        let what = format!("analysed {analysed}: {plan:#}");
        let mut lookups = 0;
        for node in plan_nodes(&plan) {
            let kind = node["Node Type"].as_str().unwrap();
            if node["Relation Name"] == "upload_jobs" {
                if kind == "ModifyTable" {
                    continue;
                }
                assert_eq!(kind, "Index Scan", "{what}");
                assert_eq!(node["Index Name"], "upload_jobs_pkey", "{what}");
                lookups += node["Actual Loops"].as_u64().unwrap();
            }
        }
        // One lookup per distinct key to decide, one per job it moves.
        assert!(lookups <= 200, "{lookups} primary-key lookups: {what}");
        let moved: i64 = t
            .client()
            .await
            .query_one(
                "SELECT count(*) FILTER (WHERE status = 'processing' AND object_etag = 'e1')
                 FROM upload_jobs WHERE tenant_id = $1",
                &[&tenant.0],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(moved, if analysed { 140 } else { 70 }, "{what}");
    }
}
