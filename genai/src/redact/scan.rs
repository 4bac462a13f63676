//! The value scanner: finds secrets inside free text and reports the byte ranges to replace.
//!
//! One pass over the bytes, no regex engine. At each word start it checks the known credential
//! prefixes (`sk-`, `sk-ant-`, `sk-proj-`, `AKIA`, `ghp_`, `github_pat_`, `xoxb-`, `hf_`, `AIza`,
//! `glpat-`, JSON Web Tokens `eyJ….….…`, and any configured prefix) and the HTTP auth schemes
//! (`Bearer <credential>`, `Basic <credential>`); at every `=` or `:` it checks whether the word
//! before it is a sensitive key (`password=…`, `"api_key": "…"`, `Authorization: …`); at `://`
//! it checks for a password in a URL (`https://user:pass@host`); and `-----BEGIN … PRIVATE KEY`
//! blocks are removed whole. Configured literal secrets are found with `str::find`.
//! Text with no match is returned borrowed: nothing is allocated.

use super::keys::KeyRules;

/// A credential recognised by a fixed prefix followed by a run of token characters.
#[derive(Clone, Debug)]
pub struct PrefixPattern {
    /// The prefix (`sk-`).
    pub prefix: String,
    /// The fewest token characters after the prefix for a match.
    pub min_tail: usize,
}

/// Built-in prefixes and the shortest tail each needs.
pub const DEFAULT_PREFIXES: &[(&str, usize)] = &[
    // OpenAI (`sk-`, `sk-proj-`), Anthropic (`sk-ant-`), DeepSeek and most OpenAI-compatible APIs.
    ("sk-", 16),
    // Stripe-style secret and restricted keys.
    ("sk_live_", 10),
    ("sk_test_", 10),
    ("rk_live_", 10),
    ("rk_test_", 10),
    // AWS access key ids (long-term and temporary).
    ("AKIA", 16),
    ("ASIA", 16),
    // GitHub tokens.
    ("ghp_", 20),
    ("gho_", 20),
    ("ghu_", 20),
    ("ghs_", 20),
    ("ghr_", 20),
    ("github_pat_", 20),
    // GitLab, Slack, Hugging Face, Google, npm, PyPI, Groq, Replicate.
    ("glpat-", 20),
    ("xoxb-", 10),
    ("xoxp-", 10),
    ("xoxa-", 10),
    ("xoxr-", 10),
    ("xoxs-", 10),
    ("xapp-", 10),
    ("hf_", 30),
    ("AIza", 30),
    ("npm_", 30),
    ("pypi-", 30),
    ("gsk_", 30),
    ("r8_", 30),
];

/// The value scanner: finds secrets inside free text.
#[derive(Clone, Debug)]
pub struct Scanner {
    prefixes: Vec<PrefixPattern>,
    /// For each first byte, the indices of the prefixes starting with it.
    by_first_byte: Vec<Vec<u16>>,
    /// Whether JWTs, auth schemes, URL passwords and private key blocks are recognised.
    pub structural: bool,
    /// Whether `key=value` / `key: value` pairs with a sensitive key are recognised.
    pub key_values: bool,
    /// Exact secrets to remove wherever they appear.
    pub literals: Vec<String>,
}

impl Scanner {
    /// The built-in prefixes and structural and `key=value` rules.
    pub fn with_defaults() -> Self {
        let mut scanner = Self::empty();
        scanner.structural = true;
        scanner.key_values = true;
        for (prefix, min_tail) in DEFAULT_PREFIXES {
            scanner.add_prefix(PrefixPattern {
                prefix: (*prefix).to_owned(),
                min_tail: *min_tail,
            });
        }
        scanner
    }

    /// No rules at all.
    pub fn empty() -> Self {
        Self {
            prefixes: Vec::new(),
            by_first_byte: vec![Vec::new(); 256],
            structural: false,
            key_values: false,
            literals: Vec::new(),
        }
    }

    /// Adds a prefix pattern (the prefix must not be empty).
    pub fn add_prefix(&mut self, pattern: PrefixPattern) {
        if let Some(first) = pattern.prefix.bytes().next() {
            let index = u16::try_from(self.prefixes.len()).unwrap_or(u16::MAX);
            self.by_first_byte[usize::from(first)].push(index);
            self.prefixes.push(pattern);
        }
    }

    /// Appends to `ranges` the byte ranges of `text` that hold secrets (unsorted, may overlap).
    pub fn find(&self, text: &str, keys: &KeyRules, ranges: &mut Vec<(usize, usize)>) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'-' && self.structural && bytes[i..].starts_with(b"-----BEGIN") {
                if let Some(range) = private_key_block(text, i) {
                    ranges.push(range);
                    i = range.1;
                    continue;
                }
            }
            if is_token_byte(b) {
                let word_start = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
                if word_start {
                    if let Some(end) = self.match_at_word(bytes, i) {
                        ranges.push(end);
                        i = end.1;
                        continue;
                    }
                }
                if b.is_ascii_alphanumeric() {
                    // The alphanumeric bytes that follow are no word start (their previous byte
                    // is alphanumeric) and no other rule looks at them: skip the run at once.
                    i += 1 + bytes[i + 1..]
                        .iter()
                        .take_while(|c| c.is_ascii_alphanumeric())
                        .count();
                    continue;
                }
            } else if b == b'=' || b == b':' {
                if self.structural && b == b':' && bytes[i..].starts_with(b"://") {
                    if let Some(range) = url_password(bytes, i + 3) {
                        ranges.push(range);
                    }
                } else if self.key_values {
                    if let Some(range) = key_value(text, i, keys) {
                        ranges.push(range);
                        i = range.1;
                        continue;
                    }
                }
            }
            i += 1;
        }
        for literal in &self.literals {
            let mut from = 0;
            while let Some(at) = text[from..].find(literal.as_str()) {
                let start = from + at;
                ranges.push((start, start + literal.len()));
                from = start + literal.len();
            }
        }
    }

    /// A credential starting at word start `i`: (start, end) of what to replace.
    fn match_at_word(&self, bytes: &[u8], i: usize) -> Option<(usize, usize)> {
        let rest = &bytes[i..];
        for index in &self.by_first_byte[usize::from(bytes[i])] {
            let Some(pattern) = self.prefixes.get(usize::from(*index)) else {
                continue;
            };
            let prefix = pattern.prefix.as_bytes();
            // The second byte first: most words share only the first byte with a prefix, and
            // this rejects them without a slice comparison.
            if rest.len() >= prefix.len()
                && rest.get(1) == prefix.get(1)
                && rest[1..prefix.len()] == prefix[1..]
            {
                let tail = token_run(&rest[prefix.len()..]);
                if tail >= pattern.min_tail {
                    return Some((i, i + prefix.len() + tail));
                }
            }
        }
        if !self.structural {
            return None;
        }
        let first = bytes[i];
        if first != b'e' && first != b'b' && first != b'B' {
            return None;
        }
        if rest.starts_with(b"eyJ") {
            if let Some(len) = jwt_len(rest) {
                return Some((i, i + len));
            }
        }
        for scheme in [&b"bearer"[..], &b"basic"[..]] {
            if rest.len() > scheme.len() && rest[..scheme.len()].eq_ignore_ascii_case(scheme) {
                let mut j = scheme.len();
                let spaces = rest[j..].iter().take_while(|b| **b == b' ').count();
                if spaces == 0 {
                    continue;
                }
                j += spaces;
                let len = rest[j..]
                    .iter()
                    .take_while(|b| is_credential_byte(**b))
                    .count();
                let credential = &rest[j..j + len];
                let letters_only = credential.iter().all(u8::is_ascii_alphabetic);
                if len >= 8 && (!letters_only || len >= 16) {
                    return Some((i + j, i + j + len));
                }
            }
        }
        None
    }
}

/// Letters, digits, `_` and `-`: the characters of API keys and ids.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

/// The characters of an HTTP credential (RFC 6750 b64token, plus base64 padding).
fn is_credential_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

fn token_run(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| is_token_byte(**b)).count()
}

/// The length of a JSON Web Token at the start of `bytes`: three base64url parts joined by dots,
/// the first two at least 8 characters long.
fn jwt_len(bytes: &[u8]) -> Option<usize> {
    let base64url = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-';
    let header = bytes.iter().take_while(|b| base64url(b)).count();
    if header < 8 || bytes.get(header) != Some(&b'.') {
        return None;
    }
    let payload_start = header + 1;
    let payload = bytes[payload_start..]
        .iter()
        .take_while(|b| base64url(b))
        .count();
    if payload < 8 || bytes.get(payload_start + payload) != Some(&b'.') {
        return None;
    }
    let signature_start = payload_start + payload + 1;
    let signature = bytes[signature_start..]
        .iter()
        .take_while(|b| base64url(b))
        .count();
    Some(signature_start + signature)
}

/// `key=value`, `key: value`, `"key": "value"`: when the word before the separator at `at` is a
/// sensitive key, the range of the value.
fn key_value(text: &str, at: usize, keys: &KeyRules) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    // The key: skip spaces and one closing quote backwards, then take key characters.
    let mut end = at;
    while end > 0 && bytes[end - 1] == b' ' {
        end -= 1;
    }
    if end > 0 && matches!(bytes[end - 1], b'"' | b'\'') {
        end -= 1;
    }
    let mut start = end;
    while start > 0 && (is_token_byte(bytes[start - 1]) || bytes[start - 1] == b'.') {
        start -= 1;
    }
    if start == end || !keys.is_sensitive(&text[start..end]) {
        return None;
    }
    // The value: skip spaces and an opening quote, then up to the closing quote or a delimiter.
    let mut value_start = at + 1;
    while value_start < bytes.len() && bytes[value_start] == b' ' {
        value_start += 1;
    }
    let quote = match bytes.get(value_start) {
        Some(q @ (b'"' | b'\'')) => {
            value_start += 1;
            Some(*q)
        }
        _ => None,
    };
    let mut value_end = value_start;
    while value_end < bytes.len() {
        let b = bytes[value_end];
        let stop = match quote {
            Some(q) => b == q,
            None => {
                b.is_ascii_whitespace()
                    || matches!(
                        b,
                        b'&' | b',' | b';' | b'"' | b'\'' | b')' | b']' | b'}' | b'<' | b'>'
                    )
            }
        };
        if stop {
            break;
        }
        value_end += 1;
    }
    // An auth scheme word leaves the credential after it to the scheme rule, which runs on the
    // original text too; redacting the scheme word alone would hide nothing, so take both.
    if quote.is_none() {
        let value = &bytes[value_start..value_end];
        if value.eq_ignore_ascii_case(b"bearer") || value.eq_ignore_ascii_case(b"basic") {
            let mut j = value_end;
            while j < bytes.len() && bytes[j] == b' ' {
                j += 1;
            }
            let more = bytes[j..]
                .iter()
                .take_while(|b| is_credential_byte(**b))
                .count();
            if more > 0 {
                value_end = j + more;
            }
        }
    }
    (value_end > value_start).then_some((value_start, value_end))
}

/// `scheme://user:password@host`: the range of `password`. `from` is just past `://`.
fn url_password(bytes: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut colon = None;
    for (offset, b) in bytes[from..].iter().enumerate() {
        let j = from + offset;
        match *b {
            b':' if colon.is_none() => colon = Some(j),
            b'@' => return colon.map(|c| (c + 1, j)).filter(|(s, e)| e > s),
            b'/' | b'?' | b'#' => return None,
            b if b.is_ascii_whitespace() => return None,
            _ => {}
        }
    }
    None
}

/// A PEM private key block starting at `at`: through its `-----END … -----` line, or to the end.
fn private_key_block(text: &str, at: usize) -> Option<(usize, usize)> {
    let rest = &text[at..];
    let header_end = rest[10..].find("-----").map(|p| p + 10)?;
    if !rest[..header_end].contains("PRIVATE KEY") {
        return None;
    }
    let body_start = header_end + 5;
    match rest[body_start..].find("-----END") {
        Some(end) => {
            let after = body_start + end + 8;
            let close = rest[after..]
                .find("-----")
                .map(|p| after + p + 5)
                .unwrap_or(rest.len());
            Some((at, at + close))
        }
        None => Some((at, text.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The scan loop before the run skip and the second-byte check: one byte at a time, every
    /// prefix compared whole. [`Scanner::find`] must find exactly what this finds.
    fn reference_find(scanner: &Scanner, text: &str, keys: &KeyRules) -> Vec<(usize, usize)> {
        let mut ranges = Vec::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'-' && scanner.structural && bytes[i..].starts_with(b"-----BEGIN") {
                if let Some(range) = private_key_block(text, i) {
                    ranges.push(range);
                    i = range.1;
                    continue;
                }
            }
            if is_token_byte(b) {
                let word_start = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
                if word_start {
                    if let Some(end) = scanner.match_at_word(bytes, i) {
                        ranges.push(end);
                        i = end.1;
                        continue;
                    }
                }
            } else if b == b'=' || b == b':' {
                if scanner.structural && b == b':' && bytes[i..].starts_with(b"://") {
                    if let Some(range) = url_password(bytes, i + 3) {
                        ranges.push(range);
                    }
                } else if scanner.key_values {
                    if let Some(range) = key_value(text, i, keys) {
                        ranges.push(range);
                        i = range.1;
                        continue;
                    }
                }
            }
            i += 1;
        }
        ranges
    }

    fn found(text: &str) -> Vec<(usize, usize)> {
        let mut ranges = Vec::new();
        Scanner::with_defaults().find(text, &KeyRules::with_defaults(), &mut ranges);
        ranges
    }

    #[test]
    fn secrets_inside_words_runs_and_punctuation_are_found_as_before() {
        let keys = KeyRules::with_defaults();
        let scanner = Scanner::with_defaults();
        for text in [
            "plain prose with no secret at all, 42 words or so",
            "key sk-abcdefghijklmnopqrstuvwx here",
            "xsk-abcdefghijklmnopqrstuvwx is inside a word",
            "foo_sk-abcdefghijklmnopqrstuvwx after an underscore",
            "a-ghp_abcdefghijklmnopqrstuvwxyz after a dash",
            "Authorization: Bearer abcdef1234567890",
            "password=hunter2hunter2 and api_key: \"s3cr3t-value\"",
            "https://user:pass@example.com/path",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2ln tail",
        ] {
            let mut ranges = Vec::new();
            scanner.find(text, &keys, &mut ranges);
            assert_eq!(ranges, reference_find(&scanner, text, &keys), "{text:?}");
        }
        assert_eq!(found("key sk-abcdefghijklmnopqrstuvwx here"), vec![(4, 31)]);
        assert!(found("xsk-abcdefghijklmnopqrstuvwx is inside a word").is_empty());
    }

    proptest! {
        #[test]
        fn the_run_skip_finds_what_the_byte_loop_finds(
            text in "([a-z0-9 _:=/@.\"-]{0,12}|sk-|ghp_|Bearer |password=|://|eyJ|-----BEGIN |[A-Za-z0-9]{16,24}){0,12}"
        ) {
            let keys = KeyRules::with_defaults();
            let scanner = Scanner::with_defaults();
            let mut ranges = Vec::new();
            scanner.find(&text, &keys, &mut ranges);
            prop_assert_eq!(ranges, reference_find(&scanner, &text, &keys));
        }
    }
}
