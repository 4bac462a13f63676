//! Redaction: what keeps API keys, passwords and prompts out of log lines.
//!
//! A [`Redactor`] looks at every key and value a line would carry:
//! - a value under a **sensitive key** (`api_key`, `authorization`, `password`, `secret`,
//!   `access_token`, `x-api-key`, `cookie`, …; not token counts such as `input_tokens`) is replaced
//!   whole by the marker, whatever its type;
//! - a value under a **content key** (`input.value`, `output.value`: prompts and responses) is
//!   replaced by the marker unless [`RedactorBuilder::include_content`] is set;
//! - every other string, and every key and event name, is **scanned** for secret shapes (bearer
//!   tokens, `sk-…` keys, AWS `AKIA…` ids, GitHub `ghp_…` tokens, Slack `xoxb-…` tokens, JWTs,
//!   `password=…` pairs, URL passwords, PEM private keys, configured prefixes and literals), and
//!   each match is replaced by the marker in place.
//!
//! Both lists are configurable through [`Redactor::builder`]; the marker defaults to
//! [`DEFAULT_MARKER`]. The key rules and the scanner are the genai crate's
//! ([`llm_telemetry_genai::redact`]), which the OpenTelemetry handler applies to span attributes
//! too.
//!
//! ```
//! use llm_telemetry_log::Redactor;
//! let redactor = Redactor::default();
//! assert_eq!(
//!     redactor.redact_text("calling with Authorization: Bearer abc123def456ghi789"),
//!     "calling with Authorization: [REDACTED]"
//! );
//! assert!(redactor.is_sensitive_key("x-api-key"));
//! assert!(!redactor.is_sensitive_key("input_tokens"));
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use llm_telemetry_core::Value;
use llm_telemetry_genai::catalog::keys as catalog_keys;

use llm_telemetry_genai::redact::{KeyRules, PrefixPattern, Scanner, replace_ranges};

use crate::error::LogError;

/// What replaces a secret unless [`RedactorBuilder::marker`] says otherwise.
pub const DEFAULT_MARKER: &str = llm_telemetry_genai::redact::DEFAULT_MARKER;

/// Metadata keys that carry prompts and responses, redacted unless content logging is enabled.
const DEFAULT_CONTENT_KEYS: &[&str] = &[
    catalog_keys::INPUT,
    catalog_keys::OUTPUT,
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
];

/// Removes secrets from keys and values; see the [module docs](self).
#[derive(Clone, Debug)]
pub struct Redactor {
    keys: KeyRules,
    scanner: Scanner,
    marker: Box<str>,
    content_keys: Vec<String>,
    include_content: bool,
}

impl Default for Redactor {
    /// The built-in key and value rules, the `[REDACTED]` marker, prompts and responses hidden.
    fn default() -> Self {
        Self {
            keys: KeyRules::with_defaults(),
            scanner: Scanner::with_defaults(),
            marker: DEFAULT_MARKER.into(),
            content_keys: DEFAULT_CONTENT_KEYS
                .iter()
                .map(|k| (*k).to_owned())
                .collect(),
            include_content: false,
        }
    }
}

/// One metadata or measurement value after redaction.
#[derive(Clone, Debug, PartialEq)]
pub enum CleanValue<'a> {
    /// Nothing to hide: the original value.
    Value(Value<'a>),
    /// The value was replaced whole by the marker, or a string had secrets cut out of it.
    Redacted(Cow<'a, str>),
}

impl Redactor {
    /// A builder starting from the defaults.
    pub fn builder() -> RedactorBuilder {
        RedactorBuilder {
            redactor: Self::default(),
            error: None,
        }
    }

    /// The marker secrets are replaced with.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    /// Whether a value under `key` is hidden whole because the key names a secret.
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        self.keys.is_sensitive(key)
    }

    /// Whether `key` carries prompt or response text that is hidden (content logging off).
    pub fn is_hidden_content_key(&self, key: &str) -> bool {
        !self.include_content && self.content_keys.iter().any(|k| k == key)
    }

    /// `text` with every recognised secret replaced by the marker; borrowed when nothing matched.
    pub fn redact_text<'a>(&'a self, text: &'a str) -> Cow<'a, str> {
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        self.scanner.find(text, &self.keys, &mut ranges);
        replace_ranges(text, ranges, &self.marker)
    }

    /// The value to log for metadata `key`: the marker for sensitive keys and hidden content,
    /// a scanned string for other strings, the value itself for numbers and bools.
    pub fn redact_value<'a>(&'a self, key: &str, value: Value<'a>) -> CleanValue<'a> {
        let hide = self.is_sensitive_key(key) || self.is_hidden_content_key(key);
        self.clean_value(hide, value)
    }

    /// The value to log for measurement `key`: the marker if the key names a secret.
    pub fn redact_measurement<'a>(&'a self, key: &str, value: f64) -> CleanValue<'a> {
        if self.is_sensitive_key(key) {
            CleanValue::Redacted(Cow::Borrowed(&self.marker))
        } else {
            CleanValue::Value(Value::Float(value))
        }
    }
}

/// What redaction does with one key: hide its value, and the key text to print.
#[derive(Clone, Debug)]
pub(crate) struct Verdict {
    /// The value is replaced whole by the marker (sensitive key or hidden content).
    pub(crate) hide_value: bool,
    /// The key with secrets cut out, when the key text itself holds one.
    pub(crate) clean_key: Option<Box<str>>,
}

/// Verdicts for `'static` keys and event names, remembered by address: a `&'static str` is never
/// freed, so its address and length always denote the same text. Keys are few and fixed in
/// practice; the cache starts over past [`KeyCache::LIMIT`] entries in case they are not.
#[derive(Debug, Default)]
pub(crate) struct KeyCache {
    map: HashMap<(usize, usize), Verdict, BuildHasherDefault<AddressHasher>>,
}

impl KeyCache {
    const LIMIT: usize = 4096;
}

/// FxHash over the address and length: one multiply per word.
#[derive(Default)]
pub(crate) struct AddressHasher(u64);

impl Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Redactor {
    /// The verdict for `key`, computed once per distinct key.
    pub(crate) fn verdict<'c>(&self, cache: &'c mut KeyCache, key: &'static str) -> &'c Verdict {
        if cache.map.len() >= KeyCache::LIMIT {
            cache.map.clear();
        }
        cache
            .map
            .entry((key.as_ptr() as usize, key.len()))
            .or_insert_with(|| Verdict {
                hide_value: self.is_sensitive_key(key) || self.is_hidden_content_key(key),
                clean_key: match self.redact_text(key) {
                    Cow::Borrowed(_) => None,
                    Cow::Owned(clean) => Some(clean.into_boxed_str()),
                },
            })
    }

    /// The value to log under a key whose verdict is known.
    pub(crate) fn clean_value<'a>(&'a self, hide_value: bool, value: Value<'a>) -> CleanValue<'a> {
        if hide_value {
            return CleanValue::Redacted(Cow::Borrowed(&self.marker));
        }
        match value {
            Value::Str(s) => match self.redact_text(s) {
                Cow::Borrowed(_) => CleanValue::Value(value),
                owned => CleanValue::Redacted(owned),
            },
            other => CleanValue::Value(other),
        }
    }
}

/// Configures a [`Redactor`]. Starts from the defaults; errors are reported by [`Self::build`].
#[derive(Debug)]
pub struct RedactorBuilder {
    redactor: Redactor,
    error: Option<LogError>,
}

impl RedactorBuilder {
    /// What secrets are replaced with (default [`DEFAULT_MARKER`]).
    pub fn marker(mut self, marker: impl Into<String>) -> Self {
        self.redactor.marker = marker.into().into_boxed_str();
        self
    }

    /// Drops the built-in sensitive key words and pairs (configured keys still apply).
    pub fn without_default_keys(mut self) -> Self {
        self.redactor.keys = KeyRules::empty();
        self
    }

    /// Drops the built-in value patterns (prefixes, JWTs, auth schemes, `key=value` pairs, URL
    /// passwords, private keys); configured prefixes and literals still apply.
    pub fn without_default_patterns(mut self) -> Self {
        let literals = std::mem::take(&mut self.redactor.scanner.literals);
        self.redactor.scanner = Scanner::empty();
        self.redactor.scanner.literals = literals;
        self
    }

    /// Hides values under exactly this key (case-insensitive), e.g. `x-internal-signature`.
    pub fn sensitive_key(mut self, key: &str) -> Self {
        self.redactor.keys.add_exact(key);
        self
    }

    /// Hides values under any key holding this word (`pin` covers `card_pin`, `pinCode`).
    pub fn sensitive_word(mut self, word: &str) -> Self {
        self.redactor.keys.add_word(word);
        self
    }

    /// Never hides values because of this key's name (values are still scanned).
    pub fn allow_key(mut self, key: &str) -> Self {
        self.redactor.keys.allow(key);
        self
    }

    /// Recognises credentials that start with `prefix` followed by at least `min_tail` letters,
    /// digits, `_` or `-` (e.g. `("acme_live_", 24)`). The prefix needs at least 3 characters.
    pub fn value_prefix(mut self, prefix: &str, min_tail: usize) -> Self {
        if prefix.chars().count() < 3 {
            self.error
                .get_or_insert(LogError::RedactionPatternTooShort {
                    pattern: prefix.to_owned(),
                });
        } else {
            self.redactor.scanner.add_prefix(PrefixPattern {
                prefix: prefix.to_owned(),
                min_tail,
            });
        }
        self
    }

    /// Removes this exact secret wherever it appears (e.g. the API key the process was started
    /// with). Needs at least 3 characters.
    pub fn literal(mut self, secret: &str) -> Self {
        if secret.chars().count() < 3 {
            self.error
                .get_or_insert(LogError::RedactionPatternTooShort {
                    pattern: secret.to_owned(),
                });
        } else {
            self.redactor.scanner.literals.push(secret.to_owned());
        }
        self
    }

    /// Also treats `key` as prompt or response content.
    pub fn content_key(mut self, key: &str) -> Self {
        self.redactor.content_keys.push(key.to_owned());
        self
    }

    /// Logs prompts and responses (`input.value`, `output.value`, …) instead of hiding them.
    /// They are still scanned for secrets. Off by default.
    pub fn include_content(mut self, include: bool) -> Self {
        self.redactor.include_content = include;
        self
    }

    /// The redactor, or the first configuration error.
    pub fn build(self) -> Result<Redactor, LogError> {
        match self.error {
            Some(error) => Err(error),
            None => Ok(self.redactor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        let r = Redactor::default();
        for text in [
            "gpt-4o-mini",
            "task-force risk-free desk-lamp",
            "the model ran out of tokens at 12:30:00",
            "https://api.openai.com/v1/chat/completions",
            "Bearer of bad news",
            "user@example.com",
        ] {
            assert!(matches!(r.redact_text(text), Cow::Borrowed(_)), "{text}");
        }
    }

    #[test]
    fn embedded_secrets_are_cut_out() {
        let r = Redactor::default();
        assert_eq!(
            r.redact_text("key sk-proj-abcdefghijklmnop1234 rejected"),
            "key [REDACTED] rejected"
        );
        assert_eq!(
            r.redact_text("password=hunter2&user=bob"),
            "password=[REDACTED]&user=bob"
        );
        assert_eq!(
            r.redact_text(r#"{"api_key": "abc", "model": "x"}"#),
            r#"{"api_key": "[REDACTED]", "model": "x"}"#
        );
        assert_eq!(
            r.redact_text("postgres://app:s3cr3t@db:5432/x"),
            "postgres://app:[REDACTED]@db:5432/x"
        );
        assert_eq!(
            r.redact_text(
                "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- tail"
            ),
            "[REDACTED] tail"
        );
    }

    #[test]
    fn values_under_sensitive_and_content_keys_are_hidden() {
        let r = Redactor::default();
        assert_eq!(
            r.redact_value("api_key", Value::Int(1234)),
            CleanValue::Redacted(Cow::Borrowed("[REDACTED]"))
        );
        assert_eq!(
            r.redact_value(catalog_keys::INPUT, Value::Str("my prompt")),
            CleanValue::Redacted(Cow::Borrowed("[REDACTED]"))
        );
        assert_eq!(
            r.redact_value(catalog_keys::MODEL, Value::Str("gpt-4o")),
            CleanValue::Value(Value::Str("gpt-4o"))
        );
        let with_content = Redactor::builder().include_content(true).build().unwrap();
        assert_eq!(
            with_content.redact_value(catalog_keys::INPUT, Value::Str("my prompt")),
            CleanValue::Value(Value::Str("my prompt"))
        );
    }

    #[test]
    fn configuration_is_validated_and_applied() {
        assert!(matches!(
            Redactor::builder().value_prefix("a", 4).build(),
            Err(LogError::RedactionPatternTooShort { .. })
        ));
        let r = Redactor::builder()
            .marker("***")
            .value_prefix("acme_", 8)
            .literal("correct horse battery staple")
            .sensitive_key("x-sig")
            .build()
            .unwrap();
        assert_eq!(r.redact_text("id acme_12345678 ok"), "id *** ok");
        assert_eq!(
            r.redact_text("pw is correct horse battery staple."),
            "pw is ***."
        );
        assert!(r.is_sensitive_key("X-Sig"));
        let bare = Redactor::builder()
            .without_default_patterns()
            .build()
            .unwrap();
        assert_eq!(
            bare.redact_text("sk-abcdefghijklmnopqrstu"),
            "sk-abcdefghijklmnopqrstu"
        );
    }
}
