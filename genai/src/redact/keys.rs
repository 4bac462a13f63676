//! Which keys name a secret: `api_key`, `authorization`, `password`, `access_token`, `x-api-key`,
//! `Cookie`, … but not token counts such as `input_tokens` or timings such as
//! `time_to_first_token`.
//!
//! A key is split into lowercase words at every character that is not a letter or digit and at
//! camelCase boundaries (`X-Api-Key` → `x api key`, `accessToken` → `access token`). It is
//! sensitive when it is one of the exact sensitive keys, or holds a sensitive word (`password`,
//! `secret`, `token`, …) or a sensitive word pair (`api key`, `private key`, …), unless it is an
//! allowed key. The singular word `token` is not sensitive next to a counting or timing word
//! (`first token`, `token count`, …); the plural `tokens` never is, so every token count passes.

use std::collections::HashSet;

use crate::catalog::keys;

/// Single words that make a key sensitive.
pub const DEFAULT_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "passphrase",
    "secret",
    "secrets",
    "token",
    "authorization",
    "auth",
    "cookie",
    "cookies",
    "credential",
    "credentials",
    "apikey",
    "bearer",
    "jwt",
    "privatekey",
    "signature",
];

/// Word pairs (adjacent, in order) that make a key sensitive.
const SENSITIVE_PAIRS: &[(&str, &str)] = &[
    ("api", "key"),
    ("private", "key"),
    ("access", "key"),
    ("secret", "key"),
    ("signing", "key"),
    ("encryption", "key"),
    ("master", "key"),
    ("account", "key"),
    ("session", "id"),
    ("session", "key"),
    ("connection", "string"),
];

/// Words before `token` that make it a count or a timing, not a credential.
const TOKEN_COUNT_BEFORE: &[&str] = &[
    "first",
    "last",
    "next",
    "per",
    "input",
    "output",
    "prompt",
    "completion",
    "max",
    "min",
    "num",
    "total",
    "cached",
    "reasoning",
    "each",
    "stop",
];

/// Words after `token` that make it a count or a timing, not a credential.
const TOKEN_COUNT_AFTER: &[&str] = &[
    "count",
    "counts",
    "usage",
    "limit",
    "limits",
    "budget",
    "index",
    "position",
    "logprob",
    "logprobs",
    "probability",
    "rate",
    "length",
    "len",
    "type",
    "estimate",
];

/// Words after `auth` that describe the mechanism, not the credential.
const AUTH_DESCRIPTIVE_AFTER: &[&str] = &["type", "method", "scheme", "mode", "provider", "status"];

/// Catalog keys that are never credentials even though a word looks like one.
const DEFAULT_ALLOWED: &[&str] = &[keys::TIME_TO_FIRST_TOKEN, keys::TIME_PER_OUTPUT_TOKEN];

/// The key rules: which metadata keys name secrets.
#[derive(Clone, Debug)]
pub struct KeyRules {
    /// Exact keys, lowercased.
    exact: HashSet<String>,
    /// Sensitive single words, lowercased.
    words: HashSet<String>,
    /// Whether the built-in word pairs apply.
    pairs: bool,
    /// Keys never redacted by name, lowercased.
    allowed: HashSet<String>,
}

impl KeyRules {
    /// The built-in words and word pairs.
    pub fn with_defaults() -> Self {
        Self {
            exact: HashSet::new(),
            words: DEFAULT_WORDS.iter().map(|w| (*w).to_owned()).collect(),
            pairs: true,
            allowed: DEFAULT_ALLOWED.iter().map(|k| (*k).to_owned()).collect(),
        }
    }

    /// No sensitive words or pairs (the catalog's timing keys stay allowed).
    pub fn empty() -> Self {
        Self {
            exact: HashSet::new(),
            words: HashSet::new(),
            pairs: false,
            allowed: DEFAULT_ALLOWED.iter().map(|k| (*k).to_owned()).collect(),
        }
    }

    /// Hides values under exactly `key` (case-insensitive).
    pub fn add_exact(&mut self, key: &str) {
        self.exact.insert(key.to_ascii_lowercase());
    }

    /// Hides values under any key holding `word`.
    pub fn add_word(&mut self, word: &str) {
        self.words.insert(word.to_ascii_lowercase());
    }

    /// Never treats `key` as sensitive by its name.
    pub fn allow(&mut self, key: &str) {
        self.allowed.insert(key.to_ascii_lowercase());
    }

    /// Whether `key` names a secret.
    pub fn is_sensitive(&self, key: &str) -> bool {
        let mut lowered = [0u8; 128];
        let lowered: &str = if key.len() <= lowered.len() && key.is_ascii() {
            for (slot, b) in lowered.iter_mut().zip(key.bytes()) {
                *slot = b.to_ascii_lowercase();
            }
            // Infallible: lowercasing ASCII bytes keeps them ASCII, hence UTF-8.
            std::str::from_utf8(&lowered[..key.len()]).unwrap_or("")
        } else {
            return self.is_sensitive_lowered(&key.to_lowercase(), key);
        };
        self.is_sensitive_lowered(lowered, key)
    }

    fn is_sensitive_lowered(&self, lowered: &str, original: &str) -> bool {
        if self.allowed.contains(lowered) {
            return false;
        }
        if self.exact.contains(lowered) {
            return true;
        }
        let mut words: [&str; 16] = [""; 16];
        let count = split_words(original, lowered, &mut words);
        let words = &words[..count];
        for (i, word) in words.iter().enumerate() {
            if self.words.contains(*word) {
                let before = i.checked_sub(1).map(|j| words[j]);
                let after = words.get(i + 1).copied();
                let descriptive = match *word {
                    "token" => {
                        before.is_some_and(|w| TOKEN_COUNT_BEFORE.contains(&w))
                            || after.is_some_and(|w| TOKEN_COUNT_AFTER.contains(&w))
                    }
                    "auth" => after.is_some_and(|w| AUTH_DESCRIPTIVE_AFTER.contains(&w)),
                    _ => false,
                };
                if !descriptive {
                    return true;
                }
            }
        }
        if self.pairs {
            for pair in words.windows(2) {
                if SENSITIVE_PAIRS.contains(&(pair[0], pair[1])) {
                    return true;
                }
            }
        }
        false
    }
}

/// Splits a key into lowercase words (slices of `lowered`): at every non-alphanumeric character
/// and where a lowercase letter or digit is followed by an uppercase one in `original`. At most
/// `words.len()` words; returns how many.
fn split_words<'a>(original: &str, lowered: &'a str, words: &mut [&'a str]) -> usize {
    let original = original.as_bytes();
    let bytes = lowered.as_bytes();
    let same_shape = original.len() == bytes.len();
    let mut count = 0;
    let mut start: Option<usize> = None;
    for i in 0..=bytes.len() {
        let alnum = i < bytes.len() && bytes[i].is_ascii_alphanumeric();
        let camel_break = alnum
            && same_shape
            && i > 0
            && original[i].is_ascii_uppercase()
            && (original[i - 1].is_ascii_lowercase() || original[i - 1].is_ascii_digit());
        if let Some(s) = start {
            if !alnum || camel_break {
                if count < words.len() {
                    words[count] = &lowered[s..i];
                    count += 1;
                }
                start = None;
            }
        }
        if alnum && start.is_none() {
            start = Some(i);
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_sensitive() {
        let rules = KeyRules::with_defaults();
        for key in [
            "api_key",
            "API_KEY",
            "apiKey",
            "x-api-key",
            "X-Api-Key",
            "openai.api_key",
            "authorization",
            "Authorization",
            "proxy-authorization",
            "password",
            "db_password",
            "secret",
            "client_secret",
            "access_token",
            "accessToken",
            "refresh_token",
            "id_token",
            "token",
            "x-auth-token",
            "cookie",
            "Set-Cookie",
            "aws_secret_access_key",
            "private_key",
            "session_id",
            "credentials",
        ] {
            assert!(rules.is_sensitive(key), "{key} should be sensitive");
        }
    }

    #[test]
    fn counts_and_timings_are_not() {
        let rules = KeyRules::with_defaults();
        for key in [
            keys::INPUT_TOKENS,
            keys::OUTPUT_TOKENS,
            keys::TOTAL_TOKENS,
            keys::CACHE_READ_TOKENS,
            keys::REASONING_TOKENS,
            keys::TIME_TO_FIRST_TOKEN,
            keys::TIME_PER_OUTPUT_TOKEN,
            keys::TOKENS_PER_SECOND,
            keys::MAX_TOKENS,
            keys::KEY_HASH,
            keys::MODEL,
            keys::TENANT,
            "token_count",
            "prompt_token_count",
            "auth_type",
            "author",
            "duration",
        ] {
            assert!(!rules.is_sensitive(key), "{key} should not be sensitive");
        }
    }

    #[test]
    fn configured_keys_words_and_allowances() {
        let mut rules = KeyRules::empty();
        assert!(!rules.is_sensitive("password"));
        rules.add_exact("X-Internal-Signature");
        rules.add_word("pin");
        assert!(rules.is_sensitive("x-internal-signature"));
        assert!(rules.is_sensitive("card_pin"));
        let mut rules = KeyRules::with_defaults();
        rules.allow("auth_refresh_count");
        assert!(!rules.is_sensitive("auth_refresh_count"));
    }
}
