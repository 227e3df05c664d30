//! The example worker: what a transcription worker does with the hand-off,
//! reading the events the local stack writes to `{data-dir}/handoff.jsonl`
//! (in AWS the same JSON arrives as the body of an SQS message, through the
//! template's rule and queue).
//!
//! For each "Upload Received" event it reads the object pinned to the
//! event's ETag (`If-Match`), and marks the job `succeeded` with a summary
//! (bytes read, and the duration when the file is a WAV it can measure).
//! At least once: an event for a job already finished is a duplicate,
//! logged and skipped (the state machine refuses the second transition).

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;
use upload_core::handoff::{HandoffEvent, UploadReceived};
use upload_core::repo::{self, Transition};
use upload_core::s3::{PinnedReadError, read_handed_off};
use upload_core::{Db, DbError};

/// Why an event is left for a later pass (as a queue would redeliver it).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error(transparent)]
    Read(PinnedReadError),
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    Succeeded,
    /// The job is not `processing` any more (a redelivered event).
    AlreadyDone,
    /// The key holds another object now; the events function fails the job
    /// with `OBJECT_REPLACED` when that object's event arrives.
    Replaced,
    /// The object is gone: the job is failed (`OBJECT_MISSING`).
    Missing,
    /// A line that is not a hand-off event: skipped.
    NotAHandoff,
}

pub struct Worker {
    pub db: Db,
    pub s3: aws_sdk_s3::Client,
    /// The file the events are appended to.
    pub events: PathBuf,
}

impl Worker {
    /// Follows the file from its start, forever, every `poll`. An event that
    /// fails (database or S3 unavailable) is tried again on the next passes,
    /// as a queue would redeliver it, and skipped after the fifth failure
    /// (a queue would move it to its dead-letter queue).
    pub async fn run(self, poll: Duration) {
        let (mut offset, mut failures) = (0usize, 0u32);
        loop {
            match self.handle_new(&mut offset).await {
                Ok(_) => {
                    failures = 0;
                    tokio::time::sleep(poll).await;
                }
                Err(e) if failures >= 4 => {
                    tracing::error!(event = "worker_gave_up", error = %e, "event failed 5 times; skipped");
                    skip_line(&self.events, &mut offset);
                    failures = 0;
                }
                Err(e) => {
                    failures += 1;
                    tracing::warn!(event = "worker_retry", error = %e, "event left for the next pass");
                    tokio::time::sleep(poll * 5).await;
                }
            }
        }
    }

    /// Handles the complete lines after `offset`, moving it past each line
    /// handled; a failure stops there (the line is tried again). A file
    /// shorter than `offset` was replaced: it is read from its start.
    pub async fn handle_new(&self, offset: &mut usize) -> Result<Vec<Handled>, WorkerError> {
        let text = std::fs::read_to_string(&self.events).unwrap_or_default();
        if text.len() < *offset {
            *offset = 0;
        }
        let mut handled = Vec::new();
        while let Some(end) = text.get(*offset..).and_then(|rest| rest.find('\n')) {
            let line = &text[*offset..*offset + end];
            handled.push(self.handle_line(line).await?);
            *offset += end + 1;
        }
        Ok(handled)
    }

    /// One event.
    pub async fn handle_line(&self, line: &str) -> Result<Handled, WorkerError> {
        let event = match HandoffEvent::parse(line) {
            Ok(e) => e.detail,
            Err(e) => {
                tracing::warn!(event = "worker_skipped", error = %e, "not a hand-off event; skipped");
                return Ok(Handled::NotAHandoff);
            }
        };
        let result = match read_handed_off(&self.s3, &event).await {
            Ok(object) => measure(&event.file_key, object).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(summary) => Ok(self.succeed(&event, &summary).await?),
            Err(PinnedReadError::Replaced { .. }) => {
                log(
                    &event,
                    "worker_object_replaced",
                    "the object was replaced; not processed",
                );
                Ok(Handled::Replaced)
            }
            Err(e @ PinnedReadError::Missing { .. }) => {
                let message = e.to_string();
                repo::fail(
                    &self.db,
                    event.tenant_id,
                    event.job_id,
                    "OBJECT_MISSING",
                    &message,
                )
                .await?;
                log(
                    &event,
                    "worker_object_missing",
                    "the object cannot be read; job failed",
                );
                Ok(Handled::Missing)
            }
            Err(e) => Err(WorkerError::Read(e)),
        }
    }

    async fn succeed(&self, event: &UploadReceived, summary: &str) -> Result<Handled, DbError> {
        match repo::succeed(&self.db, event.tenant_id, event.job_id, summary).await? {
            Transition::Moved(_) => {
                log(event, "worker_succeeded", "job succeeded");
                Ok(Handled::Succeeded)
            }
            Transition::Refused(_) | Transition::NotFound => {
                log(
                    event,
                    "worker_duplicate",
                    "job not processing (already handled); skipped",
                );
                Ok(Handled::AlreadyDone)
            }
        }
    }
}

/// Moves `offset` past the line it points at.
fn skip_line(events: &std::path::Path, offset: &mut usize) {
    let text = std::fs::read_to_string(events).unwrap_or_default();
    if let Some(end) = text.get(*offset..).and_then(|rest| rest.find('\n')) {
        *offset += end + 1;
    }
}

fn log(event: &UploadReceived, name: &str, message: &str) {
    tracing::info!(event = name, job_id = %event.job_id, tenant_id = %event.tenant_id, trace_id = event.trace_id.as_deref(), interaction_id = %event.interaction_id, key = %event.file_key, "{message}");
}

/// Reads the whole object; the summary JSON names its size and, for a WAV
/// file, its duration.
async fn measure(
    key: &str,
    object: aws_sdk_s3::operation::get_object::GetObjectOutput,
) -> Result<String, PinnedReadError> {
    let mut body = object.body;
    let mut header = Vec::new();
    let mut bytes: u64 = 0;
    while let Some(chunk) = body.try_next().await.map_err(|e| PinnedReadError::Other {
        key: key.to_owned(),
        message: e.to_string(),
    })? {
        bytes += chunk.len() as u64;
        if header.len() < WAV_HEADER_SCAN {
            let take = chunk.len().min(WAV_HEADER_SCAN - header.len());
            header.extend_from_slice(&chunk[..take]);
        }
    }
    let duration = wav_duration_seconds(&header);
    Ok(json!({"bytes": bytes, "duration_seconds": duration, "worker": "local-stack example worker"})
        .to_string())
}

/// How much of the file's start is searched for the WAV chunks.
const WAV_HEADER_SCAN: usize = 4096;

/// The duration of a RIFF/WAVE file from its `fmt ` byte rate and `data`
/// chunk size; `None` for anything else.
pub fn wav_duration_seconds(header: &[u8]) -> Option<f64> {
    if header.len() < 12 || &header[0..4] != b"RIFF" || &header[8..12] != b"WAVE" {
        return None;
    }
    let u32_at = |i: usize| -> Option<u32> {
        Some(u32::from_le_bytes(header.get(i..i + 4)?.try_into().ok()?))
    };
    let (mut at, mut byte_rate) = (12usize, None);
    while at + 8 <= header.len() {
        let (id, size) = (&header[at..at + 4], u32_at(at + 4)? as usize);
        match id {
            b"fmt " => byte_rate = u32_at(at + 16).filter(|r| *r > 0),
            b"data" => return byte_rate.map(|r| size as f64 / f64::from(r)),
            _ => {}
        }
        at = at.checked_add(8 + size + (size & 1))?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::wav_duration_seconds;

    fn header(byte_rate: u32, data_len: u32, extra_chunk: bool) -> Vec<u8> {
        let mut w = b"RIFF\0\0\0\0WAVE".to_vec();
        if extra_chunk {
            w.extend_from_slice(b"LIST\x03\0\0\0abc\0"); // odd size: padded
        }
        w.extend_from_slice(b"fmt \x10\0\0\0\x01\0\x02\0\x44\xac\0\0");
        w.extend_from_slice(&byte_rate.to_le_bytes());
        w.extend_from_slice(b"\x04\0\x10\0data");
        w.extend_from_slice(&data_len.to_le_bytes());
        w
    }

    #[test]
    fn a_wav_duration_comes_from_the_byte_rate_and_the_data_size() {
        assert_eq!(
            wav_duration_seconds(&header(176_400, 352_800, false)),
            Some(2.0)
        );
        assert_eq!(
            wav_duration_seconds(&header(176_400, 88_200, true)),
            Some(0.5)
        );
    }

    #[test]
    fn anything_else_has_no_duration() {
        assert_eq!(wav_duration_seconds(b"ID3\x04 an mp3"), None);
        assert_eq!(wav_duration_seconds(&header(0, 100, false)), None);
        let h = header(176_400, 352_800, false);
        assert_eq!(
            wav_duration_seconds(&h[..30]),
            None,
            "truncated before data"
        );
        assert_eq!(wav_duration_seconds(&[]), None);
    }
}
