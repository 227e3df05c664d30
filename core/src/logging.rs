//! JSON logs for Lambda (CloudWatch).

use tracing::Level;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global subscriber: one JSON object per line with the event's
/// fields flattened, no ANSI colours, levels from `RUST_LOG` (see
/// [`filter`]). Calling it twice is harmless.
pub fn init_json() {
    let json = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false);
    let spec = std::env::var("RUST_LOG").ok();
    let _ = tracing_subscriber::registry()
        .with(json.with_filter(filter(spec.as_deref())))
        .try_init();
}

/// The levels a `RUST_LOG` value enables: comma-separated `level` and
/// `target=level` directives (`info,tokio_postgres=warn`); empty directives
/// (`info,`) are dropped. Unset, empty or not parseable: `info` everywhere.
/// A bare word that is not a level names a target (as with `EnvFilter`):
/// `RUST_LOG=verbose` enables that target only.
///
/// `tracing-subscriber`'s `Targets`, not its `EnvFilter`: span and field
/// filters are not supported, and the Lambdas do not link the regex engine
/// `EnvFilter` needs.
pub fn filter(spec: Option<&str>) -> Targets {
    let default = || Targets::new().with_default(Level::INFO);
    // Targets would read an empty directive as "every target at TRACE".
    let directives: Vec<&str> = spec
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    if directives.is_empty() {
        return default();
    }
    directives.join(",").parse().unwrap_or_else(|_| default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_log_sets_levels_per_target_and_defaults_to_info() {
        for unset in [None, Some(""), Some("  "), Some("info,[span{x=1}]=debug")] {
            let f = filter(unset);
            assert!(f.would_enable("upload_api", &Level::INFO), "{unset:?}");
            assert!(!f.would_enable("upload_api", &Level::DEBUG), "{unset:?}");
        }
        let f = filter(Some("warn,tokio_postgres=debug"));
        assert!(!f.would_enable("upload_api", &Level::INFO));
        assert!(f.would_enable("upload_api", &Level::WARN));
        assert!(f.would_enable("tokio_postgres::query", &Level::DEBUG));
        let f = filter(Some("DEBUG"));
        assert!(f.would_enable("anything", &Level::DEBUG));
        for trailing in ["info,", "info,,", " , info , "] {
            let f = filter(Some(trailing));
            assert!(f.would_enable("hyper", &Level::INFO), "{trailing:?}");
            assert!(!f.would_enable("hyper", &Level::TRACE), "{trailing:?}");
        }
        let f = filter(Some("warn,,tokio_postgres=debug"));
        assert!(f.would_enable("tokio_postgres", &Level::DEBUG));
        assert!(!f.would_enable("hyper", &Level::INFO));
    }
}
