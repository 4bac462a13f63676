//! [`TextAssembler`]: turns the decoded text of the tokens generated so far into the pieces a
//! caller may see, honouring stop strings.
//!
//! After each token the backend decodes every generated token and passes the whole text; the
//! assembler returns the new part that is safe to show. It holds back a trailing U+FFFD (a
//! multi-byte character split across tokens) and any tail that could still become a stop string,
//! and when a stop string appears it cuts the text right before it and reports the stop.

/// What one step produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Piece {
    /// New text safe to show (may be empty).
    pub(crate) text: String,
    /// Whether a stop string was found: generation must end and the stop string is not shown.
    pub(crate) stopped: bool,
}

/// Incremental stop-string matching over the decoded text.
#[derive(Clone, Debug)]
pub(crate) struct TextAssembler {
    stops: Vec<String>,
    /// Bytes of the decoded text already handed out.
    emitted: usize,
}

impl TextAssembler {
    /// An assembler stopping at any of `stops` (empty strings are ignored).
    pub(crate) fn new(stops: &[String]) -> Self {
        Self {
            stops: stops.iter().filter(|s| !s.is_empty()).cloned().collect(),
            emitted: 0,
        }
    }

    /// Takes the decoded text of all tokens so far; `last` says generation ends after this step
    /// (end of sequence or `max_tokens`), so nothing is held back.
    pub(crate) fn push(&mut self, full: &str, last: bool) -> Piece {
        // Earliest stop string at or after what was already shown.
        let search_from = floor_char_boundary(full, self.emitted);
        let stop_at = self
            .stops
            .iter()
            .filter_map(|s| full[search_from..].find(s.as_str()))
            .min()
            .map(|i| search_from + i);
        if let Some(at) = stop_at {
            let text = full.get(self.emitted..at).unwrap_or_default().to_owned();
            self.emitted = self.emitted.max(at);
            return Piece {
                text,
                stopped: true,
            };
        }
        let mut safe = full.len();
        if !last {
            safe = full.trim_end_matches('\u{FFFD}').len();
            let held = self
                .stops
                .iter()
                .map(|s| longest_suffix_prefix(&full[..safe], s))
                .max()
                .unwrap_or(0);
            safe -= held;
        }
        match full.get(self.emitted..safe) {
            Some(text) if safe > self.emitted => {
                self.emitted = safe;
                Piece {
                    text: text.to_owned(),
                    stopped: false,
                }
            }
            _ => Piece::default(),
        }
    }
}

/// The largest char boundary of `s` at or below `index`.
fn floor_char_boundary(s: &str, index: usize) -> usize {
    let mut i = index.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The length of the longest suffix of `text` that is a proper prefix of `stop`.
fn longest_suffix_prefix(text: &str, stop: &str) -> usize {
    let longest = stop.len().saturating_sub(1).min(text.len());
    (1..=longest)
        .rev()
        .find(|&n| {
            let start = text.len() - n;
            text.is_char_boundary(start) && stop.as_bytes().starts_with(&text.as_bytes()[start..])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], steps: &[&str]) -> (Vec<String>, bool) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut a = TextAssembler::new(&stops);
        let mut out = Vec::new();
        for (i, full) in steps.iter().enumerate() {
            let piece = a.push(full, i + 1 == steps.len());
            out.push(piece.text);
            if piece.stopped {
                return (out, true);
            }
        }
        (out, false)
    }

    #[test]
    fn without_stops_text_flows_through() {
        let (out, stopped) = run(&[], &["Hel", "Hello", "Hello world"]);
        assert_eq!(out, ["Hel", "lo", " world"]);
        assert!(!stopped);
    }

    #[test]
    fn a_possible_stop_prefix_is_held_then_released() {
        let (out, stopped) = run(&["###"], &["a #", "a ##", "a ##b", "a ##b!"]);
        assert_eq!(out, ["a ", "", "##b", "!"]);
        assert!(!stopped);
    }

    #[test]
    fn a_stop_string_cuts_the_text_even_across_tokens() {
        let (out, stopped) = run(&["\n\nUser:"], &["Hi.", "Hi.\n\nUs", "Hi.\n\nUser: more"]);
        assert_eq!(out, ["Hi.", "", ""]);
        assert!(stopped);
        let (out, stopped) = run(&["END", "STOP"], &["xSTOPyEND"]);
        assert_eq!(out, ["x"]);
        assert!(stopped);
    }

    #[test]
    fn split_characters_are_held_until_complete() {
        let (out, _) = run(&[], &["caf\u{FFFD}", "café", "café!"]);
        assert_eq!(out, ["caf", "é", "!"]);
    }

    #[test]
    fn the_last_step_flushes_what_was_held() {
        let (out, stopped) = run(&["###"], &["done #", "done ##"]);
        assert_eq!(out, ["done ", "##"]);
        assert!(!stopped);
    }

    #[test]
    fn multibyte_stop_prefixes_respect_char_boundaries() {
        assert_eq!(longest_suffix_prefix("añ", "ñb"), 2);
        assert_eq!(longest_suffix_prefix("a", "ñb"), 0);
        assert_eq!(floor_char_boundary("ñ", 1), 0);
    }
}
