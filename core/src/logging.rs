//! JSON logs for Lambda (CloudWatch).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: one JSON object per line with the event's
/// fields flattened, no ANSI colours, level from `RUST_LOG` (default `info`).
/// Calling it twice is harmless.
pub fn init_json() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_env_filter(filter)
        .try_init();
}
