//! Secret rules shared by every handler that writes metadata somewhere (log lines, span
//! attributes): which keys name a secret ([`KeyRules`]: `api_key`, `authorization`, `password`,
//! `x-api-key`, … but not `input_tokens`) and which shapes of text are one ([`Scanner`]: bearer
//! tokens, `sk-…` keys, AWS ids, GitHub and Slack tokens, JWTs, `password=…` pairs, URL
//! passwords, PEM private keys, configured prefixes and literals).
//!
//! [`SecretRules`] bundles both with a marker: the OpenTelemetry handler uses the defaults as they
//! are; the log handler's `Redactor` configures its own and adds content rules on top.
//!
//! ```
//! use llm_telemetry_genai::redact::SecretRules;
//! let rules = SecretRules::default();
//! assert!(rules.is_sensitive_key("api_key"));
//! assert_eq!(rules.redact_text("Authorization: Bearer abc123def456ghi789"), "Authorization: [REDACTED]");
//! ```

mod keys;
mod scan;

use std::borrow::Cow;

pub use keys::{DEFAULT_WORDS, KeyRules};
pub use scan::{DEFAULT_PREFIXES, PrefixPattern, Scanner};

/// What replaces a secret by default.
pub const DEFAULT_MARKER: &str = "[REDACTED]";

/// Key rules, a scanner and the marker that replaces what they find.
#[derive(Clone, Debug)]
pub struct SecretRules {
    /// Which keys name a secret.
    pub keys: KeyRules,
    /// Which shapes of text are a secret.
    pub scanner: Scanner,
    /// What replaces a secret.
    pub marker: Box<str>,
}

impl Default for SecretRules {
    /// The built-in key and value rules and the `[REDACTED]` marker.
    fn default() -> Self {
        Self {
            keys: KeyRules::with_defaults(),
            scanner: Scanner::with_defaults(),
            marker: DEFAULT_MARKER.into(),
        }
    }
}

impl SecretRules {
    /// Whether a value under `key` is hidden whole because the key names a secret.
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        self.keys.is_sensitive(key)
    }

    /// `text` with every recognised secret replaced by the marker; borrowed when nothing matched.
    pub fn redact_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        self.scanner.find(text, &self.keys, &mut ranges);
        replace_ranges(text, ranges, &self.marker)
    }
}

/// `text` with the byte `ranges` (unsorted, possibly overlapping, on char boundaries as the
/// scanner reports them) replaced by `marker`, overlapping ranges by one marker; borrowed when
/// there are none.
pub fn replace_ranges<'a>(
    text: &'a str,
    mut ranges: Vec<(usize, usize)>,
    marker: &str,
) -> Cow<'a, str> {
    if ranges.is_empty() {
        return Cow::Borrowed(text);
    }
    ranges.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut current: Option<(usize, usize)> = None;
    for (start, end) in ranges {
        match current {
            Some((s, e)) if start <= e => current = Some((s, e.max(end))),
            Some((s, e)) => {
                out.push_str(&text[copied..s]);
                out.push_str(marker);
                copied = e;
                current = Some((start, end));
            }
            None => current = Some((start, end)),
        }
    }
    if let Some((s, e)) = current {
        out.push_str(&text[copied..s]);
        out.push_str(marker);
        copied = e;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}
