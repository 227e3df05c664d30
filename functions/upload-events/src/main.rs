//! The events Lambda: wires config, logging, the pool and the S3 client once
//! at init, then hands every payload, deserialized by the runtime into a
//! `Payload`, to `upload_events::handle`.

use std::sync::Arc;

use lambda_runtime::{LambdaEvent, service_fn};
use upload_core::s3::S3Objects;
use upload_core::{Config, Db, logging};
use upload_events::handoff::EventBridge;
use upload_events::{EventsState, Payload, handle};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init_json();
    let config = Config::from_env_or_exit();
    let db = Db::new(config.db_settings("upload-events"));
    let sdk = upload_core::s3::sdk_config(&config);
    let client = upload_core::s3::client_from_sdk_config(&config, &sdk);
    let objects = Arc::new(S3Objects {
        client,
        bucket: config.upload_bucket.clone(),
    });
    // AWS_ENDPOINT_URL_EVENTBRIDGE points the hand-off at another endpoint.
    let endpoint = upload_core::aws::eventbridge_endpoint(|v| std::env::var(v).ok());
    let handoff = config.handoff_event_bus.as_deref().map(|bus| {
        Arc::new(EventBridge::new(&sdk, bus, endpoint.as_deref()))
            as Arc<dyn upload_events::handoff::Publish>
    });
    let warm = db.clone();
    tokio::spawn(async move { warm.warm_up().await });
    let state = Arc::new(EventsState {
        config,
        db,
        objects,
        handoff,
        metrics: upload_core::metrics::Metrics::from_env("upload-events"),
    });
    lambda_runtime::run(service_fn(move |ev: LambdaEvent<Payload>| {
        let state = state.clone();
        async move { handle(&state, ev.payload).await }
    }))
    .await
}
