//! Property tests of the one key layout and the file-name sanitiser.

use proptest::prelude::*;
use upload_core::domain::{MAX_KEY_BYTES, MAX_SAFE_NAME_BYTES};
use upload_core::{FileKey, JobId, SafeFileName, TenantId};
use uuid::Uuid;

fn any_uuid() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn build_then_parse_round_trips(t in any_uuid(), j in any_uuid(), raw in "\\PC{0,300}|.{0,300}") {
        let name = SafeFileName::new(&raw);
        let key = FileKey::build(TenantId(t), JobId(j), name.clone());
        prop_assert!(key.as_str().len() <= MAX_KEY_BYTES);
        let parsed = FileKey::parse(key.as_str()).unwrap();
        prop_assert_eq!(parsed.tenant(), TenantId(t));
        prop_assert_eq!(parsed.job(), JobId(j));
        prop_assert_eq!(parsed.name(), &name);
        prop_assert_eq!(parsed.as_str(), key.as_str());
    }

    #[test]
    fn sanitised_names_are_safe(raw in any::<String>()) {
        let name = SafeFileName::new(&raw);
        let s = name.as_str();
        prop_assert!(!s.is_empty());
        prop_assert!(s.len() <= MAX_SAFE_NAME_BYTES);
        prop_assert!(!s.contains('/'));
        prop_assert!(!s.contains('\\'));
        prop_assert!(!s.chars().any(char::is_control));
        prop_assert!(!s.starts_with('.'));
        prop_assert!(!s.starts_with(char::is_whitespace));
        // Idempotent: a safe name is its own safe form.
        let again = SafeFileName::new(s);
        prop_assert_eq!(again.as_str(), s);
    }

    #[test]
    fn long_names_keep_a_short_extension(stem in "\\PC{200,400}", ext in "[a-z0-9]{1,8}") {
        let raw = format!("{stem}.{ext}");
        let name = SafeFileName::new(&raw);
        prop_assert!(name.as_str().len() <= MAX_SAFE_NAME_BYTES);
        let want = format!(".{ext}");
        let sanitised_stem = SafeFileName::new(&stem);
        // Unless the stem itself sanitised away entirely, the extension survives.
        if sanitised_stem.as_str() != "upload" && !stem.contains(['/', '\\']) {
            prop_assert!(name.as_str().ends_with(&want), "{} lost {}", name.as_str(), want);
        }
    }
}
