//! The local stack's console (`--log-format`): the functions' JSON lines on
//! stdout (`json`, what the Lambdas write to CloudWatch, what scripts read),
//! or one short readable line per step of an upload on stderr (`pretty`,
//! for a person watching), rendered from the same structured events.

mod render;

use std::fmt;
use std::io::{IsTerminal, Write};
use std::str::FromStr;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

pub use render::{Line, Style, render};

/// `--log-format` (or `LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line on stdout, as the Lambdas log.
    Json,
    /// One readable line per upload step on stderr.
    Pretty,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "json" => Ok(Self::Json),
            "pretty" => Ok(Self::Pretty),
            other => Err(format!("must be json or pretty, got {other:?}")),
        }
    }
}

impl LogFormat {
    /// `pretty` when stderr is a terminal (a person is watching), `json`
    /// otherwise (a script or a file is).
    pub fn for_terminal() -> Self {
        if std::io::stderr().is_terminal() {
            Self::Pretty
        } else {
            Self::Json
        }
    }
}

/// Installs the global subscriber for `format`, level from `RUST_LOG`
/// (default `info`). Pretty lines are coloured only when stderr is a
/// terminal and `NO_COLOR` is unset.
pub fn init(format: LogFormat) {
    match format {
        LogFormat::Json => upload_core::logging::init_json(),
        LogFormat::Pretty => {
            let colour = std::io::stderr().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
            let filter =
                EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
            let _ = tracing_subscriber::registry()
                .with(filter)
                .with(Pretty { colour })
                .try_init();
        }
    }
}

/// The pretty layer: each event's fields rendered by [`render`], written to
/// stderr; events it has nothing to say about (an idle reaper run, a
/// successful request) are dropped.
pub struct Pretty {
    pub colour: bool,
}

impl<S: Subscriber> Layer<S> for Pretty {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let Some(line) = render(*event.metadata().level(), &fields) else {
            return;
        };
        let time = chrono::Local::now().format("%H:%M:%S").to_string();
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{}", line.display(&time, self.colour));
    }
}

/// An event's message and fields, as text.
#[derive(Debug, Default, Clone)]
pub struct Fields {
    pub message: String,
    values: Vec<(&'static str, String)>,
}

impl Fields {
    /// Fields from pairs (tests).
    pub fn of(message: &str, pairs: &[(&'static str, &str)]) -> Self {
        Self {
            message: message.to_owned(),
            values: pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric field; 0 when absent or not a number.
    pub fn count(&self, name: &str) -> u64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Every field but the message, in the order logged.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.values.iter().map(|(k, v)| (*k, v.as_str()))
    }

    fn put(&mut self, name: &'static str, value: String) {
        if name == "message" {
            self.message = value;
        } else {
            self.values.push((name, value));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field.name(), value.to_owned());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field.name(), value.to_string());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field.name(), value.to_string());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field.name(), value.to_string());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field.name(), value.to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field.name(), format!("{value:?}"));
    }
}

/// The level's word when a line has no better tag.
fn level_tag(level: Level) -> (&'static str, Style) {
    match level {
        Level::ERROR => ("error", Style::Error),
        Level::WARN => ("warning", Style::Warn),
        Level::INFO => ("info", Style::Plain),
        _ => ("debug", Style::Dim),
    }
}

#[cfg(test)]
mod tests;
