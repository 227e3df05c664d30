//! `participants`: who takes part in the recording, stored in
//! `participants_json` exactly as the Python service writes it (Python's
//! `json.dumps` with default settings).

use std::fmt::Write as _;

use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// Most entries in `participants`.
pub const MAX_PARTICIPANTS: usize = 100;
/// Longest `email`, in characters (64 for the local part, `@`, 255 for the
/// domain).
pub const MAX_EMAIL_CHARS: usize = 320;
/// Longest `display_name`, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 255;

/// One participant, as sent. An absent field and `null` are the same;
/// unknown fields are ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = Participant)]
pub struct ParticipantBody {
    /// Not empty, contains `@`, at most 320 characters.
    #[schema(required = true, value_type = String, min_length = 1, max_length = 320, pattern = "@")]
    email: Option<String>,
    /// At most 255 characters.
    #[schema(value_type = String, max_length = 255)]
    display_name: Option<String>,
}

/// `participants`, validated and serialized: `[]` for an explicit empty
/// list, none when absent (or `null`).
#[derive(Debug, PartialEq, Eq)]
pub struct Participants(String);

impl Participants {
    pub fn from_body(raw: Option<Vec<ParticipantBody>>) -> Result<Option<Self>, ApiError> {
        let Some(list) = raw else {
            return Ok(None);
        };
        if list.len() > MAX_PARTICIPANTS {
            return Err(ApiError::invalid(
                "participants",
                format!(
                    "participants has {} entries; at most {MAX_PARTICIPANTS}.",
                    list.len()
                ),
            ));
        }
        let mut json = String::from("[");
        for (i, p) in list.iter().enumerate() {
            let email = checked_email(i, p.email.as_deref())?;
            if let Some(name) = &p.display_name
                && name.chars().count() > MAX_DISPLAY_NAME_CHARS
            {
                return Err(ApiError::invalid(
                    &format!("participants[{i}].display_name"),
                    format!(
                        "participants[{i}].display_name is longer than {MAX_DISPLAY_NAME_CHARS} characters."
                    ),
                ));
            }
            if i > 0 {
                json.push_str(", ");
            }
            json.push_str("{\"email\": ");
            push_json_string(&mut json, email);
            if let Some(name) = &p.display_name {
                json.push_str(", \"display_name\": ");
                push_json_string(&mut json, name);
            }
            json.push('}');
        }
        json.push(']');
        Ok(Some(Self(json)))
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The entry's email: present, not blank, contains `@`, at most
/// [`MAX_EMAIL_CHARS`]. Stored as sent.
fn checked_email(i: usize, email: Option<&str>) -> Result<&str, ApiError> {
    let field = format!("participants[{i}].email");
    let invalid = |why: &str| ApiError::invalid(&field, format!("{field} {why}."));
    let email = email.ok_or_else(|| invalid("is required"))?;
    if email.trim().is_empty() {
        return Err(invalid("must not be empty"));
    }
    if !email.contains('@') {
        return Err(invalid("must be an email address (it has no @)"));
    }
    if email.chars().count() > MAX_EMAIL_CHARS {
        return Err(invalid(&format!(
            "is longer than {MAX_EMAIL_CHARS} characters"
        )));
    }
    Ok(email)
}

/// Appends `s` as a JSON string the way Python's `json.dumps` writes it by
/// default (`ensure_ascii=True`): printable ASCII as is, `"` and `\` and
/// `\b \f \n \r \t` with their short escapes, everything else (other control
/// characters, DEL, non-ASCII) as lower-case `\uXXXX`, characters beyond
/// U+FFFF as their UTF-16 surrogate pair.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    // Writing to a String cannot fail.
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(email: Option<&str>, name: Option<&str>) -> ParticipantBody {
        ParticipantBody {
            email: email.map(str::to_owned),
            display_name: name.map(str::to_owned),
        }
    }

    fn serialized(list: Vec<ParticipantBody>) -> String {
        Participants::from_body(Some(list))
            .unwrap()
            .unwrap()
            .into_string()
    }

    #[test]
    fn writes_what_python_json_dumps_writes() {
        // Expected output from Python 3:
        //   json.dumps([{"email": "a@b.c", "display_name": "Zoë \"Z\" \\ \n\t\x00\x7f 😀 é"},
        //               {"email": "x@y"}])
        let got = serialized(vec![
            entry(Some("a@b.c"), Some("Zoë \"Z\" \\ \n\t\u{0}\u{7f} 😀 é")),
            entry(Some("x@y"), None),
        ]);
        assert_eq!(
            got,
            r#"[{"email": "a@b.c", "display_name": "Zo\u00eb \"Z\" \\ \n\t\u0000\u007f \ud83d\ude00 \u00e9"}, {"email": "x@y"}]"#
        );
        assert_eq!(serialized(vec![]), "[]");
        // The text is JSON that reads back as what was sent.
        let back: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert_eq!(back[0]["display_name"], "Zoë \"Z\" \\ \n\t\u{0}\u{7f} 😀 é");
        assert_eq!(
            serialized(vec![entry(Some("a@b"), Some("\u{1}\u{8}\u{c}\r/"))]),
            r#"[{"email": "a@b", "display_name": "\u0001\b\f\r/"}]"#
        );
    }

    #[test]
    fn absent_is_none_and_bad_entries_name_their_field() {
        assert_eq!(Participants::from_body(None).unwrap(), None);
        let field = |list: Vec<ParticipantBody>| {
            Participants::from_body(Some(list))
                .unwrap_err()
                .field
                .unwrap()
        };
        let ok = || entry(Some("a@b"), None);
        assert_eq!(
            field(vec![ok(), entry(None, None)]),
            "participants[1].email"
        );
        assert_eq!(field(vec![entry(Some(" "), None)]), "participants[0].email");
        assert_eq!(
            field(vec![entry(Some("ab"), None)]),
            "participants[0].email"
        );
        let long = format!("{}@b", "a".repeat(MAX_EMAIL_CHARS));
        assert_eq!(
            field(vec![entry(Some(&long), None)]),
            "participants[0].email"
        );
        let name = "n".repeat(MAX_DISPLAY_NAME_CHARS + 1);
        assert_eq!(
            field(vec![entry(Some("a@b"), Some(&name))]),
            "participants[0].display_name"
        );
        let many = (0..=MAX_PARTICIPANTS).map(|_| ok()).collect();
        assert_eq!(field(many), "participants");
        let most: Vec<_> = (0..MAX_PARTICIPANTS).map(|_| ok()).collect();
        assert!(Participants::from_body(Some(most)).is_ok());
    }
}
