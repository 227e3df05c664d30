//! MIME normalisation and the per-job-type allow-list.

use serde_json::Value;
use upload_core::JobType;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaType, Type};

/// Other names clients use, and the canonical type each stands for.
const ALIASES: &[(&str, &str)] = &[
    ("audio/x-m4a", "audio/mp4"),
    ("audio/m4a", "audio/mp4"),
    ("audio/x-wav", "audio/wav"),
    ("audio/wave", "audio/wav"),
    ("audio/vnd.wave", "audio/wav"),
    ("audio/x-mpeg", "audio/mpeg"),
    ("audio/mp3", "audio/mpeg"),
    ("audio/x-mp3", "audio/mpeg"),
    ("video/webm", "audio/webm"),
    ("audio/x-flac", "audio/flac"),
    ("audio/x-aac", "audio/aac"),
    ("text/x-markdown", "text/markdown"),
];

/// Trims, lower-cases, drops parameters (`audio/webm;codecs=opus`) and maps
/// aliases to one canonical type.
pub fn normalize(raw: &str) -> String {
    let base = raw
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == base)
        .map_or(base.clone(), |(_, canonical)| (*canonical).to_owned())
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

/// `mime_type` in the document: every type some job type accepts and every
/// alias, as written after normalisation (the API also takes them in any
/// case, padded, with parameters), or null.
pub fn schema() -> Schema {
    let mut values: Vec<Value> = JobType::ALL
        .iter()
        .flat_map(|t| allowed(*t).iter())
        .chain(ALIASES.iter().map(|(alias, _)| alias))
        .map(|m| Value::from(*m))
        .collect();
    values.push(Value::Null);
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(values))
        .default(Some(Value::from("audio/wav")))
        .description(Some(
            "Normalised (trimmed, lower-cased, parameters such as `;codecs=opus` dropped, \
             aliases mapped) and signed as Content-Type. audio_transcription accepts audio/wav, \
             audio/mpeg, audio/mp4, audio/webm, audio/ogg, audio/flac, audio/aac; \
             text_processing accepts text/plain, text/markdown, application/json; anything \
             else is 415.",
        ))
        .into()
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
