//! The events Lambda: wires config, logging, the pool and the S3 client once
//! at init, then hands every payload, deserialized by the runtime into a
//! `Payload`, to `upload_events::handle`.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use upload_core::s3::S3Objects;
use upload_core::{Config, Db, logging};
use upload_events::{EventsState, Payload, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init_json();
    let config = Config::from_env_or_exit();
    let db = Db::new(config.db_settings("upload-events"));
    let client = upload_core::s3::client(&config).await;
    let objects = Arc::new(S3Objects {
        client,
        bucket: config.upload_bucket.clone(),
    });
    let warm = db.clone();
    tokio::spawn(async move { warm.warm_up().await });
    let state = Arc::new(EventsState {
        config,
        db,
        objects,
    });
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Payload>| {
        let state = state.clone();
        async move { handle(&state, ev.payload).await }
    }))
    .await
}
