//! Inserting the job, and the idempotent repeat: the same request gets the
//! existing job back, anything else is a conflict.

use upload_core::repo::{self, Created, InitColumns, NewJob};
use upload_core::{Db, JobStatus, UploadJob};
use uuid::Uuid;

use crate::error::ApiError;

/// Inserts the job (one autocommit statement). A row already there for the
/// same Idempotency-Key is read (a second statement, on this path only) and
/// returned (`true`) when it describes the same request and is still
/// queued; its upload window then moves forward to the new URL's expiry (a
/// third).
pub async fn create_or_replay(
    db: &Db,
    new: &NewJob,
    init: &InitColumns,
    requested_interaction: Option<Uuid>,
) -> Result<(UploadJob, bool), ApiError> {
    let (j, stored) = match repo::create_queued_job_with(db, new, init).await? {
        (Created::New(j), _) => return Ok((j, false)),
        (Created::Existing(j), stored) => (j, stored),
    };
    let interaction_differs = requested_interaction.is_some_and(|i| i != j.interaction_id);
    if !same_request(&j, &stored, new, init) || interaction_differs {
        return Err(ApiError::conflict(
            "This Idempotency-Key was already used with a different request body.",
        ));
    }
    if j.status != JobStatus::Queued {
        return Err(ApiError::conflict(format!(
            "The job for this Idempotency-Key is no longer waiting for an upload (it is {}{}).",
            j.status,
            j.error_code
                .as_deref()
                .map(|c| format!(", {c}"))
                .unwrap_or_default()
        )));
    }
    if let Some(expires_at) = init.upload_expires_at {
        repo::extend_upload_window(db, j.tenant_id, j.id, expires_at)
            .await?
            // The job left `queued` since the insert: no new URL.
            .ok_or_else(|| {
                ApiError::conflict(
                    "The job for this Idempotency-Key is no longer waiting for an upload.",
                )
            })?;
    }
    Ok((j, true))
}

/// Does the stored job describe the same request? The checksum counts (one
/// given and one not differ), and so do the participants.
fn same_request(
    stored: &UploadJob,
    stored_init: &InitColumns,
    new: &NewJob,
    init: &InitColumns,
) -> bool {
    stored.user_id == new.user_id
        && stored.job_type == new.job_type
        && stored.file_name.as_deref() == Some(new.file_name.as_str())
        && stored.mime_type.as_deref() == Some(new.mime_type.as_str())
        && stored.file_size == new.file_size
        && stored.account_id == new.account_id
        && stored.metadata_json == new.metadata_json
        && stored_init.checksum_sha256 == init.checksum_sha256
        && stored_init.participants_json == init.participants_json
}
