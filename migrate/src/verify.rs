//! `verify`: the schema document's proof queries, and a little more. The
//! columns and enum labels checked are the ones the service reads
//! (`upload_core::schema`), so the two cannot drift apart.

use tokio_postgres::{Client, Row};

use upload_core::schema::{ADDED_COLUMNS, Column, JOB_COLUMNS, enum_types};

use crate::{MigrateError, db_err};

/// (index name, unique, columns)
const EXPECTED_INDEXES: &[(&str, bool, &[&str])] = &[
    ("ix_upload_jobs_tenant_id", false, &["tenant_id"]),
    ("ix_upload_jobs_status", false, &["status"]),
    (
        "ix_upload_jobs_tenant_status",
        false,
        &["tenant_id", "status"],
    ),
    (
        "ix_upload_jobs_tenant_file_key",
        true,
        &["tenant_id", "file_key"],
    ),
    // Migration 005: the listing's order (`upload_core::repo::list_jobs`).
    (
        "ix_upload_jobs_tenant_status_created",
        false,
        &["tenant_id", "status", "created_at", "id"],
    ),
];

const TABLE: &str = "SELECT tablename::text FROM pg_tables
    WHERE tablename = 'upload_jobs' AND schemaname = current_schema()";

const ENUMS: &str = "SELECT t.typname::text, array_agg(e.enumlabel::text ORDER BY e.enumsortorder)
    FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
    JOIN pg_namespace n ON n.oid = t.typnamespace AND n.nspname = current_schema()
    WHERE t.typname IN ('jobstatus', 'jobtype')
    GROUP BY t.typname";

const COLUMNS: &str =
    "SELECT column_name::text, udt_name::text, is_nullable::text, column_default::text
    FROM information_schema.columns
    WHERE table_name = 'upload_jobs' AND table_schema = current_schema()";

const INDEXES: &str = "SELECT c.relname::text, i.indisunique,
        array_agg(a.attname::text ORDER BY k.ord), i.indisvalid
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
    WHERE t.relname = 'upload_jobs'
    GROUP BY c.relname, i.indisunique, i.indisvalid";

const PRIMARY_KEY: &str = "SELECT array_agg(a.attname::text)
    FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
    JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(i.indkey)
    WHERE t.relname = 'upload_jobs' AND i.indisprimary";

/// Returns every drift found (empty: the database matches).
pub async fn verify(client: &Client) -> Result<Vec<String>, MigrateError> {
    let q = async |sql: &str| {
        client
            .query_typed(sql, &[])
            .await
            .map_err(db_err("running the verify queries"))
    };
    let mut drift = Vec::new();
    let table = q(TABLE).await?;
    if table.is_empty() {
        drift.push("table upload_jobs does not exist".to_owned());
    }
    check_enums(&q(ENUMS).await?, &mut drift);
    if !table.is_empty() {
        check_columns(&q(COLUMNS).await?, &mut drift);
        check_indexes(&q(INDEXES).await?, &mut drift);
        check_primary_key(&q(PRIMARY_KEY).await?, &mut drift);
    }
    Ok(drift)
}

fn find<'a>(rows: &'a [Row], name: &str) -> Option<&'a Row> {
    rows.iter().find(|r| r.get::<_, String>(0) == name)
}

fn check_enums(rows: &[Row], drift: &mut Vec<String>) {
    for (name, labels) in enum_types() {
        match find(rows, name) {
            None => drift.push(format!("enum type {name} does not exist")),
            Some(r) => {
                let got: Vec<String> = r.get(1);
                if got != labels {
                    drift.push(format!(
                        "enum type {name} has labels {got:?}, expected {labels:?}"
                    ));
                }
            }
        }
    }
}

fn check_columns(rows: &[Row], drift: &mut Vec<String>) {
    for Column {
        name,
        udt,
        not_null,
    } in JOB_COLUMNS.iter().chain(&ADDED_COLUMNS).copied()
    {
        let Some(r) = find(rows, name) else {
            drift.push(format!("column upload_jobs.{name} does not exist"));
            continue;
        };
        let got_udt: String = r.get(1);
        // The Python service may have created its text columns as varchar:
        // the same to every statement here.
        if got_udt != udt && !(udt == "text" && got_udt == "varchar") {
            drift.push(format!(
                "column upload_jobs.{name} is {got_udt}, expected {udt}"
            ));
        }
        let nullable = r.get::<_, String>(2) == "YES";
        if nullable == not_null {
            drift.push(format!(
                "column upload_jobs.{name} is {}, expected {}",
                if nullable { "nullable" } else { "NOT NULL" },
                if not_null { "NOT NULL" } else { "nullable" }
            ));
        }
    }
    // Extra columns are fine (the Python service added some) unless they
    // would make this service's inserts fail.
    for r in rows {
        let name: String = r.get(0);
        let nullable = r.get::<_, String>(2) == "YES";
        let default: Option<String> = r.get(3);
        let known = JOB_COLUMNS
            .iter()
            .chain(&ADDED_COLUMNS)
            .any(|c| c.name == name);
        if !known && !nullable && default.is_none() {
            drift.push(format!(
                "extra column upload_jobs.{name} is NOT NULL without a default (inserts would fail)"
            ));
        }
    }
    let id_default = find(rows, "id").and_then(|r| r.get::<_, Option<String>>(3));
    if !id_default
        .as_deref()
        .is_some_and(|d| d.contains("gen_random_uuid"))
    {
        drift.push("column upload_jobs.id has no gen_random_uuid() default".to_owned());
    }
}

fn check_indexes(rows: &[Row], drift: &mut Vec<String>) {
    for (name, unique, columns) in EXPECTED_INDEXES {
        let Some(r) = find(rows, name) else {
            drift.push(format!("index {name} does not exist"));
            continue;
        };
        let got_unique: bool = r.get(1);
        let got_cols: Vec<String> = r.get(2);
        if got_unique != *unique {
            drift.push(format!(
                "index {name} is {}, expected {}",
                if got_unique { "unique" } else { "not unique" },
                if *unique { "unique" } else { "not unique" }
            ));
        }
        if got_cols != *columns {
            drift.push(format!(
                "index {name} is on {got_cols:?}, expected {columns:?}"
            ));
        }
        // What a failed CREATE INDEX CONCURRENTLY leaves behind: queries do
        // not use it, and `IF NOT EXISTS` would not rebuild it.
        let valid: bool = r.get(3);
        if !valid {
            drift.push(format!(
                "index {name} is invalid (a failed CREATE INDEX CONCURRENTLY?): drop it, then run migrate up again"
            ));
        }
    }
}

fn check_primary_key(rows: &[Row], drift: &mut Vec<String>) {
    let pk_cols: Option<Vec<String>> = rows.first().and_then(|r| r.get(0));
    if pk_cols.as_deref() != Some(&["id".to_owned()][..]) {
        drift.push(format!(
            "primary key of upload_jobs is {pk_cols:?}, expected [\"id\"]"
        ));
    }
}
