//! Object keys: `tenant/{tenant_id}/uploads/{job_id}/{safe_filename}`, built
//! and parsed in this one place, and the file-name sanitiser.

use std::fmt;

use uuid::Uuid;

use super::{JobId, TenantId};

/// The longest safe file name, in UTF-8 bytes (a common file-system limit;
/// keeps every key far below S3's 1024 bytes).
pub const MAX_SAFE_NAME_BYTES: usize = 255;
/// Longest extension kept when a name is shortened.
const MAX_EXT_BYTES: usize = 16;
/// The name used when nothing usable is left.
const FALLBACK_NAME: &str = "upload";

/// A file name that is safe as the last segment of an object key: no path
/// separators, no control or bidi-override characters, no leading dot or
/// space, at most [`MAX_SAFE_NAME_BYTES`] bytes with the extension kept, never
/// empty. Sanitising is idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SafeFileName(String);

impl SafeFileName {
    pub fn new(raw: &str) -> Self {
        // Browsers (and old IE's "C:\fakepath\x.wav") may send a path: keep
        // the last segment.
        let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
        let cleaned: String = base.chars().filter(|c| !is_unsafe_char(*c)).collect();
        let trimmed = cleaned
            .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
            .trim_end();
        let bounded = truncate_keeping_extension(trimmed, MAX_SAFE_NAME_BYTES);
        // Truncation may expose trailing white space.
        let bounded = bounded.trim_end();
        if bounded.is_empty() {
            SafeFileName(FALLBACK_NAME.to_owned())
        } else {
            SafeFileName(bounded.to_owned())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SafeFileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || c == '/'
        || c == '\\'
        // zero-width and bidirectional formatting characters (spoofing)
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    let mut i = max;
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn truncate_keeping_extension(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_owned();
    }
    let ext = name
        .rfind('.')
        .filter(|&i| i > 0)
        .map(|i| &name[i..])
        .filter(|e| e.len() <= MAX_EXT_BYTES && e[1..].chars().all(|c| c.is_alphanumeric()));
    match ext {
        Some(ext) => {
            let stem = &name[..name.len() - ext.len()];
            let keep = floor_char_boundary(stem, max - ext.len());
            let stem = stem[..keep].trim_end();
            format!("{stem}{ext}")
        }
        None => name[..floor_char_boundary(name, max)].to_owned(),
    }
}

/// An object key in the one layout the service uses:
/// `tenant/{tenant_id}/uploads/{job_id}/{safe_name}`. Built and parsed only here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey {
    tenant: TenantId,
    job: JobId,
    name: SafeFileName,
    key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key is not under tenant/{{tenant_id}}/uploads/{{job_id}}/")]
    Layout,
    #[error("key has an invalid {0}")]
    BadId(&'static str),
    #[error("key's file name is not in its safe form")]
    UnsafeName,
    #[error("key is longer than 1024 bytes")]
    TooLong,
}

/// S3's key length limit.
pub const MAX_KEY_BYTES: usize = 1024;

impl FileKey {
    pub fn build(tenant: TenantId, job: JobId, name: SafeFileName) -> Self {
        let key = format!("tenant/{}/uploads/{}/{}", tenant, job, name.as_str());
        debug_assert!(key.len() <= MAX_KEY_BYTES);
        FileKey {
            tenant,
            job,
            name,
            key,
        }
    }

    /// Parses a (URL-decoded) key. Only keys this service could have built are
    /// accepted: canonical lower-case UUIDs and a file name already in its
    /// safe form.
    pub fn parse(key: &str) -> Result<Self, KeyError> {
        if key.len() > MAX_KEY_BYTES {
            return Err(KeyError::TooLong);
        }
        let rest = key.strip_prefix("tenant/").ok_or(KeyError::Layout)?;
        let (tenant, rest) = rest.split_once('/').ok_or(KeyError::Layout)?;
        let rest = rest.strip_prefix("uploads/").ok_or(KeyError::Layout)?;
        let (job, name) = rest.split_once('/').ok_or(KeyError::Layout)?;
        let tenant = canonical_uuid(tenant).ok_or(KeyError::BadId("tenant id"))?;
        let job = canonical_uuid(job).ok_or(KeyError::BadId("job id"))?;
        if name.is_empty() || name.contains('/') {
            return Err(KeyError::Layout);
        }
        let safe = SafeFileName::new(name);
        if safe.as_str() != name {
            return Err(KeyError::UnsafeName);
        }
        Ok(FileKey {
            tenant: TenantId(tenant),
            job: JobId(job),
            name: safe,
            key: key.to_owned(),
        })
    }

    /// The prefix every key of a tenant starts with.
    pub fn tenant_prefix(tenant: TenantId) -> String {
        format!("tenant/{tenant}/")
    }

    pub fn tenant(&self) -> TenantId {
        self.tenant
    }
    pub fn job(&self) -> JobId {
        self.job
    }
    pub fn name(&self) -> &SafeFileName {
        &self.name
    }
    pub fn as_str(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key)
    }
}

fn canonical_uuid(s: &str) -> Option<Uuid> {
    let u = Uuid::parse_str(s).ok()?;
    (u.hyphenated().to_string() == s).then_some(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitiser_examples() {
        let cases = [
            (
                "Réunion équipe+notes (1).wav",
                "Réunion équipe+notes (1).wav",
            ),
            ("../../etc/passwd", "passwd"),
            ("C:\\fakepath\\take 1.wav", "take 1.wav"),
            (".hidden.wav", "hidden.wav"),
            ("  . .x", "x"),
            ("a\u{0}b\nc\u{7f}.wav", "abc.wav"),
            ("evil\u{202E}vaw.exe", "evilvaw.exe"),
            ("", "upload"),
            ("...", "upload"),
            ("dir/", "upload"),
            ("100% a&b #1.mp3", "100% a&b #1.mp3"),
        ];
        for (raw, want) in cases {
            assert_eq!(SafeFileName::new(raw).as_str(), want, "{raw:?}");
        }
    }

    #[test]
    fn long_names_keep_their_extension() {
        let long = format!("{}.flac", "é".repeat(300));
        let safe = SafeFileName::new(&long);
        assert!(safe.as_str().len() <= MAX_SAFE_NAME_BYTES);
        assert!(safe.as_str().ends_with(".flac"));
        let no_ext = "x".repeat(400);
        assert_eq!(
            SafeFileName::new(&no_ext).as_str().len(),
            MAX_SAFE_NAME_BYTES
        );
    }

    #[test]
    fn key_layout_round_trips_and_rejects_foreign_keys() {
        let t = TenantId(Uuid::new_v4());
        let j = JobId(Uuid::new_v4());
        let k = FileKey::build(t, j, SafeFileName::new("a b+c.wav"));
        assert_eq!(k.as_str(), format!("tenant/{t}/uploads/{j}/a b+c.wav"));
        assert!(k.as_str().starts_with(&FileKey::tenant_prefix(t)));
        let p = FileKey::parse(k.as_str()).unwrap();
        assert_eq!(p, k);

        let bad = [
            "other/x",
            "tenant/not-a-uuid/uploads/00000000-0000-0000-0000-000000000000/a.wav",
            &format!("tenant/{t}/uploads/{j}/"),
            &format!("tenant/{t}/uploads/{j}/sub/a.wav"),
            &format!("tenant/{t}/other/{j}/a.wav"),
            &format!("tenant/{}/uploads/{j}/a.wav", t.0.simple()),
            &format!("tenant/{}/uploads/{j}/a.wav", t.to_string().to_uppercase()),
            &format!("tenant/{t}/uploads/{j}/.a.wav"),
        ];
        for key in bad {
            assert!(FileKey::parse(key).is_err(), "{key}");
        }
    }
}
