//! The API Lambda: wires config, logging, the pool and the S3 presigner once
//! at init, then serves the router through `lambda_http`.

use upload_api::{AppState, router};
use upload_shared::{Config, logging};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    logging::init_json();
    let config = Config::from_env_or_exit();
    let state = match AppState::from_config(config).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!("{e}");
            std::process::exit(1);
        }
    };
    // Connect early, in the background: an unreachable database must not
    // fail init (requests answer 503 until it is back).
    let db = state.db.clone();
    tokio::spawn(async move { db.warm_up().await });
    lambda_http::run(router(state)).await
}
