//! One short line per event: the upload's steps by name (`init`, `stored`,
//! `advanced`, `rejected`, `expired`, `timed out`, `handed off`,
//! `succeeded`), a reaper run only when it did something, requests only
//! when they failed, anything else as `warning`/`error`/`info` with its
//! message and fields.

use tracing::Level;

use super::{Fields, level_tag};

/// How a line's tag (and, for some, its text) is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// A step of the upload.
    Step,
    /// The step that moves a job forward.
    Good,
    /// A job failed.
    Bad,
    Warn,
    Error,
    /// Nothing changed (a duplicate, a replay).
    Dim,
    Plain,
}

impl Style {
    fn ansi(self) -> &'static str {
        match self {
            Style::Step => "\x1b[36m",
            Style::Good => "\x1b[32m",
            Style::Bad => "\x1b[31m",
            Style::Warn => "\x1b[33m",
            Style::Error => "\x1b[1;31m",
            Style::Dim => "\x1b[2m",
            Style::Plain => "",
        }
    }
}

/// A rendered line, without its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub tag: &'static str,
    pub style: Style,
    pub text: String,
}

const RESET: &str = "\x1b[0m";

impl Line {
    fn new(tag: &'static str, style: Style, text: impl Into<String>) -> Option<Self> {
        Some(Self {
            tag,
            style,
            text: text.into(),
        })
    }

    /// `HH:MM:SS  tag        text`, with ANSI colours when `colour`.
    pub fn display(&self, time: &str, colour: bool) -> String {
        let tag = format!("{:<10}", self.tag);
        if !colour {
            return format!("{time}  {tag} {}", self.text);
        }
        let (on, text_on) = (self.style.ansi(), self.text_style().ansi());
        let text_off = if text_on.is_empty() { "" } else { RESET };
        format!(
            "{dim}{time}{RESET}  {on}{tag}{RESET} {text_on}{}{text_off}",
            self.text,
            dim = Style::Dim.ansi()
        )
    }

    /// Warnings, errors and no-ops colour their whole text.
    fn text_style(&self) -> Style {
        match self.style {
            Style::Warn | Style::Error | Style::Dim => self.style,
            _ => Style::Plain,
        }
    }
}

/// Events rendered as `tag  job 5b0a4b8e  text`: (event, tag, style, text).
const STEPS: &[(&str, &str, Style, &str)] = &[
    ("advanced", "advanced", Style::Good, "→ processing"),
    (
        "init_replayed",
        "init",
        Style::Dim,
        "replayed (same Idempotency-Key)",
    ),
    (
        "expired",
        "expired",
        Style::Bad,
        "no upload arrived → failed (UPLOAD_EXPIRED)",
    ),
    (
        "timed_out",
        "timed out",
        Style::Bad,
        "processing took too long → failed (PROCESSING_TIMEOUT)",
    ),
    (
        "handed_off",
        "handed off",
        Style::Step,
        "\"Upload Received\" put on the hand-off bus",
    ),
    ("worker_succeeded", "succeeded", Style::Good, "(worker)"),
    (
        "worker_duplicate",
        "worker",
        Style::Dim,
        "already handled; skipped",
    ),
    (
        "worker_object_replaced",
        "worker",
        Style::Warn,
        "the object was replaced; not processed",
    ),
    (
        "worker_object_missing",
        "failed",
        Style::Bad,
        "the worker cannot read the object → failed (OBJECT_MISSING)",
    ),
];

/// The line for one event, `None` when a person needs none.
pub fn render(level: Level, f: &Fields) -> Option<Line> {
    let job = job(f);
    let source = via(f.get("source"));
    let event = f.get("event").unwrap_or_default();
    if let Some((_, tag, style, text)) = STEPS.iter().find(|s| s.0 == event) {
        return Line::new(tag, *style, format!("{job}  {text}{source}"));
    }
    match event {
        "job_queued" => init(&job, f),
        "object_stored" => stored(&job, f),
        "rejected" => Line::new("rejected", Style::Bad, failed(&job, f, source)),
        "replaced" => Line::new("replaced", Style::Bad, failed(&job, f, source)),
        "duplicate" => {
            let status = f.get("status").unwrap_or("handled");
            let text = format!("{job}  already {status}; nothing changed{source}");
            Line::new("duplicate", Style::Dim, text)
        }
        "other_object" => {
            let status = f.get("status").unwrap_or("?");
            let text = format!("{job}  another object than the job's (job {status}){source}");
            Line::new("ignored", Style::Dim, text)
        }
        "unknown_key" => {
            let key = f.get("key").unwrap_or("?");
            let text = format!("{key}  no job for this key; skipped{source}");
            Line::new("unknown", Style::Warn, text)
        }
        "reaper_run" => reaper(f),
        _ if f.message == "request" && f.get("route").is_some() => request(level, &job, f),
        _ => other(level, &job, f),
    }
}

/// `job 5b0a4b8e  SIZE_MISMATCH → failed`
fn failed(job: &str, f: &Fields, source: &str) -> String {
    let code = f.get("code").map(|c| format!("{c} ")).unwrap_or_default();
    format!("{job}  {code}→ failed{source}")
}

/// `init  job 5b0a4b8e  take 1.wav (12.3 MB, audio/wav)  tenant 0000…0001`
fn init(job: &str, f: &Fields) -> Option<Line> {
    let size = f
        .get("file_size")
        .and_then(|s| s.parse().ok())
        .map_or_else(|| "size not declared".to_owned(), bytes);
    let mime = f.get("mime_type").unwrap_or("?");
    let what = match file_name(f) {
        Some(name) => format!("{name} ({size}, {mime})"),
        None => format!("{size}, {mime}"),
    };
    let tenant = f.get("tenant_id").map(short_tenant).unwrap_or_default();
    Line::new(
        "init",
        Style::Step,
        format!("{job}  {what}  tenant {tenant}"),
    )
}

/// `stored  job 5b0a4b8e  take 1.wav  12.3 MB  etag 9f2c…`
fn stored(job: &str, f: &Fields) -> Option<Line> {
    let size = f.get("size").and_then(|s| s.parse().ok()).map(bytes);
    let mut text = if job.is_empty() {
        f.get("key").unwrap_or("?").to_owned()
    } else {
        format!("{job}  {}", file_name(f).unwrap_or("?"))
    };
    if let Some(size) = size {
        text.push_str(&format!("  {size}"));
    }
    if let Some(e) = f.get("etag").filter(|e| !e.is_empty()) {
        text.push_str(&format!("  etag {}", short_etag(e)));
    }
    Line::new("stored", Style::Step, text)
}

/// A reaper run that did something: its non-zero counts.
fn reaper(f: &Fields) -> Option<Line> {
    let counts: Vec<String> = [
        ("claimed", "claimed"),
        ("recovered", "recovered"),
        ("expired", "expired"),
        ("timed_out", "timed out"),
        ("head_errors", "HEAD errors"),
        ("multipart_in_progress", "multipart uploads in progress"),
        ("handoffs_published", "handed off"),
        ("handoff_failures", "hand-off failures"),
    ]
    .iter()
    .filter_map(|(field, word)| match f.count(field) {
        0 => None,
        n => Some(format!("{word} {n}")),
    })
    .collect();
    if counts.is_empty() {
        return None;
    }
    Line::new("reaper", Style::Step, counts.join("  "))
}

/// An API request: only a failed one (4xx, 5xx), and not a browser's
/// request for a page that does not exist (`/favicon.ico`).
fn request(level: Level, job: &str, f: &Fields) -> Option<Line> {
    let status: u16 = f.get("status").and_then(|s| s.parse().ok()).unwrap_or(0);
    let route = f.get("route").unwrap_or("?");
    if status < 400 || (status == 404 && route == "unmatched") {
        return None;
    }
    let method = f.get("method").unwrap_or("?");
    let code = f.get("code").map(|c| format!(" {c}")).unwrap_or_default();
    let job = if job.is_empty() {
        String::new()
    } else {
        format!("  {job}")
    };
    let style = if level == Level::ERROR || status >= 500 {
        Style::Error
    } else {
        Style::Warn
    };
    Line::new(
        "request",
        style,
        format!("{method} {route} → {status}{code}{job}"),
    )
}

/// Fields a generic line leaves out: shown elsewhere on it, or only useful
/// to correlate JSON lines.
const QUIET: &[&str] = &[
    "event",
    "job_id",
    "tenant_id",
    "trace_id",
    "interaction_id",
    "sequencer",
];

/// Any other event: its message, job and fields.
fn other(level: Level, job: &str, f: &Fields) -> Option<Line> {
    let (tag, style) = level_tag(level);
    let mut text = f.message.clone();
    if !job.is_empty() {
        text.push_str(&format!("  {job}"));
    }
    for (k, v) in f.iter().filter(|(k, _)| !QUIET.contains(k)) {
        if v.is_empty() || v.contains(char::is_whitespace) {
            text.push_str(&format!("  {k}={v:?}"));
        } else {
            text.push_str(&format!("  {k}={v}"));
        }
    }
    Line::new(tag, style, text)
}

/// `job 5b0a4b8e` from `job_id`, else from the key; empty without either.
fn job(f: &Fields) -> String {
    let id = f.get("job_id").or_else(|| {
        let rest = f.get("key")?.strip_prefix("tenant/")?;
        let (_, rest) = rest.split_once("/uploads/")?;
        rest.split_once('/').map(|(job, _)| job)
    });
    id.map(|id| format!("job {}", id.get(..8).unwrap_or(id)))
        .unwrap_or_default()
}

/// The file name: `file_name`, else the key's last segment.
fn file_name(f: &Fields) -> Option<&str> {
    f.get("file_name")
        .or_else(|| f.get("key")?.rsplit('/').next())
        .filter(|n| !n.is_empty())
}

/// Where a transition came from, when it is not the usual S3 notification.
fn via(source: Option<&str>) -> &'static str {
    match source {
        Some("reaper") => "  (by the reaper)",
        Some("complete") => "  (POST /upload/complete)",
        Some("sqs") => "  (via SQS)",
        _ => "",
    }
}

/// `0000…0001`
fn short_tenant(id: &str) -> String {
    match (id.get(..4), id.get(id.len().saturating_sub(4)..)) {
        (Some(a), Some(b)) if id.len() > 9 => format!("{a}…{b}"),
        _ => id.to_owned(),
    }
}

/// `9f2c…`
fn short_etag(etag: &str) -> String {
    let e = etag.trim_matches('"');
    match e.get(..4) {
        Some(head) if e.len() > 4 => format!("{head}…"),
        _ => e.to_owned(),
    }
}

/// `27 B`, `12.3 kB`, `12.3 MB`, `1.2 GB` (decimal units, as S3's console).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1000.0;
    let mut unit = 0;
    while v >= 999.95 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}
