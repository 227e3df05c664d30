//! The API Lambda: wires config, logging, the pool, the S3 client and the
//! presigner and the metrics once at init, then serves the router through
//! `lambda_http`.

use std::sync::Arc;

use upload_api::{AppState, router};
use upload_core::metrics::Metrics;
use upload_core::s3::{self, S3Objects};
use upload_core::{Config, Db, logging};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    logging::init_json();
    let config = Config::from_env_or_exit();
    let db = Db::new(config.db_settings("upload-api"));
    // Credentials from the environment, as Lambda provides them.
    let sdk = s3::sdk_config(&config);
    let client = s3::client_from_sdk_config(&config, &sdk);
    let objects = Arc::new(S3Objects {
        client: client.clone(),
        bucket: config.upload_bucket.clone(),
    });
    let state = Arc::new(
        AppState::new(config, db, client, sdk.credentials_provider(), objects)
            // EMF lines on stdout, FunctionName from AWS_LAMBDA_FUNCTION_NAME.
            .with_metrics(Metrics::from_env("upload-api")),
    );
    // Connect early, in the background: an unreachable database must not
    // fail init (requests answer 503 until it is back).
    let db = state.db.clone();
    tokio::spawn(async move { db.warm_up().await });
    lambda_http::run(router(state)).await
}
