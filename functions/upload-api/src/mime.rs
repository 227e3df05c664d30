//! MIME normalisation and the per-job-type allow-list.

use upload_core::JobType;

/// Trims, lower-cases, drops parameters (`audio/webm;codecs=opus`) and maps
/// aliases to one canonical type.
pub fn normalize(raw: &str) -> String {
    let base = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let canonical = match base.as_str() {
        "audio/x-m4a" | "audio/m4a" => "audio/mp4",
        "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => "audio/wav",
        "audio/x-mpeg" | "audio/mp3" | "audio/x-mp3" => "audio/mpeg",
        "video/webm" => "audio/webm",
        "audio/x-flac" => "audio/flac",
        "audio/x-aac" => "audio/aac",
        "text/x-markdown" => "text/markdown",
        other => other,
    };
    canonical.to_owned()
}

pub fn allowed(job_type: JobType) -> &'static [&'static str] {
    match job_type {
        JobType::AudioTranscription => &[
            "audio/wav",
            "audio/mpeg",
            "audio/mp4",
            "audio/webm",
            "audio/ogg",
            "audio/flac",
            "audio/aac",
        ],
        JobType::TextProcessing => &["text/plain", "text/markdown", "application/json"],
    }
}

pub fn is_allowed(job_type: JobType, normalized: &str) -> bool {
    allowed(job_type).contains(&normalized)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_and_allow_list() {
        for (raw, want) in [
            ("  Audio/X-M4A ", "audio/mp4"),
            ("audio/m4a", "audio/mp4"),
            ("audio/x-wav", "audio/wav"),
            ("audio/wave", "audio/wav"),
            ("audio/x-mpeg", "audio/mpeg"),
            ("video/webm", "audio/webm"),
            ("audio/webm;codecs=opus", "audio/webm"),
            ("audio/ogg", "audio/ogg"),
        ] {
            assert_eq!(normalize(raw), want, "{raw}");
            assert!(is_allowed(JobType::AudioTranscription, want));
        }
        assert!(!is_allowed(JobType::AudioTranscription, "video/mp4"));
        assert!(!is_allowed(JobType::AudioTranscription, "text/plain"));
        assert!(is_allowed(JobType::TextProcessing, "text/plain"));
        assert!(!is_allowed(JobType::TextProcessing, "audio/wav"));
    }
}
