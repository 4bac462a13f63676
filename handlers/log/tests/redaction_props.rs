//! Properties of the redactor on arbitrary text: it never panics (any UTF-8, any position), it
//! is idempotent, text without a match comes back unchanged, and a secret embedded anywhere
//! between word boundaries never survives.

use std::borrow::Cow;

use llm_telemetry_log::Redactor;
use proptest::prelude::*;

/// Secrets the scanner must find wherever they sit (fake values).
const SECRETS: &[&str] = &[
    "sk-proj-Abc123Def456Ghi789Jkl012Mno345",
    "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv0123",
    "AKIAIOSFODNN7EXAMPLE",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "xoxb-123456789012-1234567890123-AbCdEf",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "Bearer abcDEF123456ghiJKL789",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_and_is_idempotent(text in "\\PC{0,200}") {
        let redactor = Redactor::default();
        let once = redactor.redact_text(&text);
        let twice = redactor.redact_text(&once);
        prop_assert_eq!(once.as_ref(), twice.as_ref());
        if let Cow::Borrowed(same) = once {
            prop_assert_eq!(same, text.as_str());
        }
    }

    #[test]
    fn ascii_soup_with_separators_never_panics(text in "[ -~\\n\\t]{0,300}") {
        let redactor = Redactor::default();
        let _ = redactor.redact_text(&text);
    }

    #[test]
    fn embedded_secrets_never_survive(
        before in "\\PC{0,40}",
        after in "\\PC{0,40}",
        index in 0..SECRETS.len(),
        left in prop::sample::select(vec![" ", "(", "\"", "\n", "=", ": ", ",", "'"]),
        right in prop::sample::select(vec![" ", ")", "\"", "\n", "&", ";", ",", "'", ""]),
    ) {
        let secret = SECRETS[index];
        let text = format!("{before}{left}{secret}{right}{after}");
        let redactor = Redactor::default();
        let clean = redactor.redact_text(&text);
        // The credential part (after any scheme word) must be gone.
        let credential = secret.rsplit(' ').next().unwrap_or(secret);
        prop_assert!(!clean.contains(credential), "{:?} -> {:?}", text, clean);
        prop_assert!(clean.contains("[REDACTED]"));
    }
}
