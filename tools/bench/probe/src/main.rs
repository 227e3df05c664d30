//! `bench-probe`: the floor lambda-bench measures the API against. The least
//! a Lambda of this design can do per request: `lambda_http` on tokio, the
//! same pool as the functions (`upload_core::Db`: deadpool-postgres and
//! tokio-postgres, the same size, timeouts, TLS connector and unnamed
//! `query_typed` statements, built from the same `Config`, so `DATABASE_URL`,
//! `DB_*` and `DATABASE_EXTRA_ROOT_CERT` are read exactly as the functions
//! read them), and one statement per request:
//!
//! * `POST` (any path): one `INSERT INTO upload_jobs ... RETURNING id` of the
//!   columns the table requires, answered `201 {"job_id": ...}`;
//! * `GET .../{job_id}`: one `SELECT id, status FROM upload_jobs WHERE
//!   tenant_id = $1 AND id = $2`, answered `200 {"job_id", "status"}` or 404.
//!
//! No S3, no presigning, no JWT or identity (one fixed tenant), no logging,
//! no request body parsing. Like the API it opens its first connection in
//! the background at init. Database errors answer 503 with the error.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response, service_fn};
use tokio_postgres::types::Type;
use upload_core::{Config, Db};

/// lambda-bench's tenant (`tools/bench/src/fixtures.rs`).
const TENANT: uuid::Uuid = uuid::uuid!("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f");

const INSERT: &str = "INSERT INTO upload_jobs (id, tenant_id, user_id, file_key, interaction_id) \
                      VALUES ($1, $2, $3, $4, $5) RETURNING id";
const SELECT: &str = "SELECT id, status::text FROM upload_jobs WHERE tenant_id = $1 AND id = $2";

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = Config::from_env()?;
    let db = Db::new(config.db_settings("bench-probe"));
    let warm = db.clone();
    tokio::spawn(async move { warm.warm_up().await });
    lambda_http::run(service_fn(move |req: Request| {
        let db = db.clone();
        async move { answer(&db, &req).await }
    }))
    .await
}

async fn answer(db: &Db, req: &Request) -> Result<Response<Body>, Error> {
    let result = if req.method() == Method::POST {
        insert(db).await
    } else {
        let last = req.uri().path().rsplit('/').next().unwrap_or_default();
        match uuid::Uuid::parse_str(last) {
            Ok(id) => select(db, id).await,
            Err(_) => Ok((
                StatusCode::BAD_REQUEST,
                r#"{"error":"no job id"}"#.to_owned(),
            )),
        }
    };
    let (status, body) = result.unwrap_or_else(|e| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{{\"error\":{:?}}}", e.to_string()),
        )
    });
    Ok(Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body))?)
}

async fn insert(db: &Db) -> Result<(StatusCode, String), upload_core::DbError> {
    let id = uuid::Uuid::new_v4();
    let key = format!("{TENANT}/{id}/probe");
    let interaction = uuid::Uuid::new_v4();
    let rows = db
        .query(
            INSERT,
            &[
                (&id, Type::UUID),
                (&TENANT, Type::UUID),
                (&"bench-probe", Type::TEXT),
                (&key, Type::TEXT),
                (&interaction, Type::UUID),
            ],
        )
        .await?;
    let id: uuid::Uuid = rows.first().map(|r| r.get(0)).unwrap_or(id);
    Ok((StatusCode::CREATED, format!("{{\"job_id\":\"{id}\"}}")))
}

async fn select(db: &Db, id: uuid::Uuid) -> Result<(StatusCode, String), upload_core::DbError> {
    let row = db
        .query_opt(SELECT, &[(&TENANT, Type::UUID), (&id, Type::UUID)])
        .await?;
    Ok(match row {
        Some(r) => {
            let (id, status): (uuid::Uuid, String) = (r.get(0), r.get(1));
            let body = format!("{{\"job_id\":\"{id}\",\"status\":\"{status}\"}}");
            (StatusCode::OK, body)
        }
        None => (StatusCode::NOT_FOUND, r#"{"error":"not found"}"#.to_owned()),
    })
}
