//! CloudWatch metrics in the Embedded Metric Format (EMF): one JSON line per
//! emission, written to stdout, which Lambda ships to CloudWatch Logs, which
//! extracts the metrics. No SDK, no request, nothing to flush.
//!
//! ```
//! use upload_core::metrics::{Metrics, Sink, Unit};
//!
//! let (sink, lines) = Sink::capture();
//! let metrics = Metrics::new(sink, "upload-api");
//! metrics.emit(&[("Route", "/upload/init")], &[("Requests", 1.0, Unit::Count)]);
//! assert!(lines.lock().unwrap()[0].contains(r#""Namespace":"UploadJobs""#));
//! ```
//!
//! Each line carries one metric directive with one dimension set:
//! `FunctionName` first, then the caller's dimensions; every listed metric
//! gets that dimension set ([`Metrics::emit_rolled_up`] adds the set
//! `[FunctionName]` alone). The line's other members are the dimension
//! values (strings) and the metric values (numbers). A function's state
//! holds a [`Metrics`]: [`Metrics::from_env`] in a Lambda's `main.rs`,
//! [`Metrics::off`] elsewhere.
//!
//! Specification: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// The CloudWatch namespace of every metric the service emits.
pub const NAMESPACE: &str = "UploadJobs";
/// The dimension every line carries first.
pub const FUNCTION_NAME: &str = "FunctionName";
/// At most this many dimensions in a dimension set (`FunctionName` included).
pub const MAX_DIMENSIONS: usize = 30;
/// At most this many metrics in a directive, so in one line.
pub const MAX_METRICS: usize = 100;
/// Longest metric or dimension name CloudWatch accepts.
pub const MAX_NAME_LEN: usize = 255;
/// Longest dimension value CloudWatch accepts.
pub const MAX_VALUE_LEN: usize = 1024;

/// A metric's unit, as CloudWatch names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    /// The CloudWatch unit name (`Count`, `Milliseconds`).
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// Where lines go. Cloning is cheap (a captured buffer is shared).
#[derive(Debug, Clone, Default)]
pub enum Sink {
    /// The process's stdout, one `write_all` of the whole line under the
    /// stdout lock, so it never interleaves with log lines. Write errors are
    /// ignored.
    Stdout,
    /// Nothing is written (the local stack, tests that do not look).
    #[default]
    Off,
    /// Lines (without the newline) are appended here, for tests.
    Capture(Arc<Mutex<Vec<String>>>),
}

impl Sink {
    /// A capturing sink and the buffer it appends to.
    pub fn capture() -> (Sink, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        (Sink::Capture(lines.clone()), lines)
    }

    fn write(&self, line: String) {
        match self {
            Sink::Off => {}
            Sink::Stdout => {
                let mut bytes = line.into_bytes();
                bytes.push(b'\n');
                let _ = std::io::stdout().lock().write_all(&bytes);
            }
            Sink::Capture(lines) => {
                if let Ok(mut g) = lines.lock() {
                    g.push(line);
                }
            }
        }
    }
}

/// Why a line was not built: a caller's mistake (names are constants in
/// the code), never something a request can cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmfError {
    #[error("{0} dimensions, at most {MAX_DIMENSIONS} (FunctionName included)")]
    TooManyDimensions(usize),
    #[error("{0} metrics, at most {MAX_METRICS}")]
    TooManyMetrics(usize),
    #[error("invalid name {0:?}: 1 to {MAX_NAME_LEN} ASCII characters, not blank, not `_aws`")]
    InvalidName(String),
    #[error(
        "invalid value {value:?} of dimension {name}: 1 to {MAX_VALUE_LEN} ASCII characters, not blank"
    )]
    InvalidDimensionValue { name: String, value: String },
    #[error("metric {0} is not a finite number")]
    NotFinite(String),
    #[error("{0} is named twice in one line")]
    Duplicate(String),
}

/// The handle a function keeps in its state. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct Metrics {
    sink: Sink,
    function_name: Arc<str>,
}

impl Default for Metrics {
    /// Off, named `unknown`.
    fn default() -> Self {
        Metrics::new(Sink::Off, "unknown")
    }
}

impl Metrics {
    /// Lines to `sink`, with `FunctionName` = `function_name`.
    pub fn new(sink: Sink, function_name: impl Into<Arc<str>>) -> Self {
        Metrics {
            sink,
            function_name: function_name.into(),
        }
    }

    /// What a Lambda's `main.rs` uses: lines to stdout, `FunctionName` from
    /// `AWS_LAMBDA_FUNCTION_NAME` (`default_name` when it is unset or empty).
    pub fn from_env(default_name: &str) -> Self {
        let name = std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| default_name.to_owned());
        Metrics::new(Sink::Stdout, name)
    }

    /// Nothing is written.
    pub fn off() -> Self {
        Metrics::default()
    }

    /// The `FunctionName` dimension's value.
    pub fn function_name(&self) -> &str {
        &self.function_name
    }

    /// Whether emitting writes anything.
    pub fn is_off(&self) -> bool {
        matches!(self.sink, Sink::Off)
    }

    /// Writes one line: the metrics `values` (name, value, unit) with the
    /// dimensions `FunctionName` and then `dims` (name, value). No metrics,
    /// no line. Never fails: an invalid line (see [`EmfError`]) is dropped
    /// with a warning.
    pub fn emit(&self, dims: &[(&str, &str)], values: &[(&str, f64, Unit)]) {
        self.write(dims, values, Rollup::No);
    }

    /// As [`emit`](Self::emit), and the same values also count under
    /// `FunctionName` alone: the line has a second dimension set,
    /// `[FunctionName]`. One line gives, say, `Rejected` by `Code` and
    /// `Rejected` in total.
    pub fn emit_rolled_up(&self, dims: &[(&str, &str)], values: &[(&str, f64, Unit)]) {
        self.write(dims, values, Rollup::Yes);
    }

    fn write(&self, dims: &[(&str, &str)], values: &[(&str, f64, Unit)], rollup: Rollup) {
        if self.is_off() {
            return;
        }
        match self.line(dims, values, now_ms(), rollup) {
            Ok(Some(line)) => self.sink.write(line),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "metrics line dropped"),
        }
    }

    /// The line [`emit`](Self::emit) would write, stamped `timestamp_ms`
    /// (milliseconds since the Unix epoch); `None` when `values` is empty.
    pub fn render(
        &self,
        dims: &[(&str, &str)],
        values: &[(&str, f64, Unit)],
        timestamp_ms: u64,
    ) -> Result<Option<String>, EmfError> {
        self.line(dims, values, timestamp_ms, Rollup::No)
    }

    /// The line [`emit_rolled_up`](Self::emit_rolled_up) would write.
    pub fn render_rolled_up(
        &self,
        dims: &[(&str, &str)],
        values: &[(&str, f64, Unit)],
        timestamp_ms: u64,
    ) -> Result<Option<String>, EmfError> {
        self.line(dims, values, timestamp_ms, Rollup::Yes)
    }

    fn line(
        &self,
        dims: &[(&str, &str)],
        values: &[(&str, f64, Unit)],
        timestamp_ms: u64,
        rollup: Rollup,
    ) -> Result<Option<String>, EmfError> {
        if values.is_empty() {
            return Ok(None);
        }
        if dims.len() + 1 > MAX_DIMENSIONS {
            return Err(EmfError::TooManyDimensions(dims.len() + 1));
        }
        if values.len() > MAX_METRICS {
            return Err(EmfError::TooManyMetrics(values.len()));
        }
        let mut root = Map::new();
        let mut dim_names = Vec::with_capacity(dims.len() + 1);
        for &(name, value) in std::iter::once(&(FUNCTION_NAME, &*self.function_name)).chain(dims) {
            check_name(name)?;
            if !valid_text(value, MAX_VALUE_LEN) {
                return Err(EmfError::InvalidDimensionValue {
                    name: name.to_owned(),
                    value: value.to_owned(),
                });
            }
            insert_once(&mut root, name, Value::from(value))?;
            dim_names.push(name);
        }
        let mut definitions = Vec::with_capacity(values.len());
        for &(name, value, unit) in values {
            check_name(name)?;
            if !value.is_finite() {
                return Err(EmfError::NotFinite(name.to_owned()));
            }
            insert_once(&mut root, name, Value::from(value))?;
            definitions.push(json!({"Name": name, "Unit": unit.as_str()}));
        }
        let sets = if rollup == Rollup::Yes && dim_names.len() > 1 {
            json!([[FUNCTION_NAME], dim_names])
        } else {
            json!([dim_names])
        };
        let directive = json!({
            "Namespace": NAMESPACE,
            "Dimensions": sets,
            "Metrics": definitions,
        });
        root.insert(
            "_aws".to_owned(),
            json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": [directive]}),
        );
        Ok(Some(Value::Object(root).to_string()))
    }
}

/// Whether a line also has the dimension set `[FunctionName]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rollup {
    No,
    Yes,
}

/// Milliseconds since the Unix epoch (0 for a clock before it).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Not blank, ASCII, at most `max` bytes.
fn valid_text(s: &str, max: usize) -> bool {
    !s.trim().is_empty() && s.len() <= max && s.is_ascii()
}

fn check_name(name: &str) -> Result<(), EmfError> {
    if valid_text(name, MAX_NAME_LEN) && name != "_aws" && !name.starts_with(':') {
        Ok(())
    } else {
        Err(EmfError::InvalidName(name.to_owned()))
    }
}

fn insert_once(root: &mut Map<String, Value>, name: &str, value: Value) -> Result<(), EmfError> {
    if root.insert(name.to_owned(), value).is_some() {
        return Err(EmfError::Duplicate(name.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
