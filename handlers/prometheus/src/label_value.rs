//! Label values as series keys: one rendered text, one key, and a bounded length.
//!
//! A series is identified by the *text* its labels render to, because that is all Prometheus
//! sees: `Int(200)`, `Str("200")` and `Float(200.0)` all render `status="200"`, so they must be
//! one series (two series with the same labels would make the renderer merge their handles and
//! lose events). Formatting every value on the hot path would cost a format per event, so each
//! value is turned into a **canonical key** whose equality is exactly equality of the rendered
//! text, and which costs one byte check for an ordinary string:
//!
//! - a string that is exactly the rendering of an integer (`"200"`, `"-7"`, not `"007"` or
//!   `"+1"`) keys as that integer; one that is exactly the rendering of a float (`"2.5"`,
//!   `"-0"`, `"NaN"`, `"inf"`, `"100000000000000000000"`) keys as that float;
//! - an integral float whose rendering is an integer's (`200.0` → `"200"`) keys as the integer,
//!   any NaN as one NaN; a boolean keys as the text `"true"` / `"false"`;
//! - any other string keys as its text, **cut to the label value cap** (default
//!   [`DEFAULT_MAX_LABEL_VALUE_BYTES`]) on a UTF-8 character boundary and rendered with
//!   [`TRUNCATION_MARKER`] appended. The cut keeps at least `cap − 3` bytes, and the marker is
//!   longer than 3 bytes, so a cut value always renders longer than the cap and can never meet
//!   an uncut value's text. Values sharing their first `cap` bytes share one series.
//!
//! Only strings can be long: a number renders in at most a few hundred bytes and is never cut.

use std::fmt::Write as _;

use llm_telemetry_core::Value;

use crate::sanitize::prepare_label_value;

/// The default cap on a label value's length, in bytes.
pub const DEFAULT_MAX_LABEL_VALUE_BYTES: usize = 256;
/// The smallest accepted cap on label value length.
pub const MIN_LABEL_VALUE_BYTES: usize = 16;
/// The largest accepted cap on label value length (1 MiB).
pub const MAX_LABEL_VALUE_BYTES: usize = 1 << 20;
/// Appended to a label value cut at the cap.
pub const TRUNCATION_MARKER: &str = "…[truncated]";

/// The longest text that can be the rendering of an `f64` (`-5e-324` renders in 327 bytes).
const MAX_NUMBER_TEXT: usize = 400;

pub(crate) const KIND_TEXT: u64 = 0;
pub(crate) const KIND_INT: u64 = 1;
pub(crate) const KIND_FLOAT: u64 = 2;
pub(crate) const KIND_CUT: u64 = 3;

/// A borrowed label value as a canonical key, in a flat, word-sized layout. Copying `Value`
/// itself through `Option`/`SmallVec` made the compiler move its padding with overlapping
/// partial stores and stall store forwarding (a fifth of the hot path in `perf`); this layout
/// copies as three words.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LabelValue<'a> {
    /// `KIND_*`.
    pub(crate) kind: u64,
    /// The integer, or the float's bits (`KIND_INT`, `KIND_FLOAT`).
    pub(crate) number: u64,
    /// The text, or the kept prefix of a cut text (`KIND_TEXT`, `KIND_CUT`).
    pub(crate) text: &'a str,
}

impl<'a> LabelValue<'a> {
    /// The canonical key of `value`, strings cut at `max_bytes`.
    #[inline]
    pub(crate) fn new(value: Value<'a>, max_bytes: usize) -> Self {
        match value {
            Value::Str(s) => Self::of_str(s, max_bytes),
            Value::Int(i) => Self::int(i),
            Value::Float(f) => float_key(f),
            Value::Bool(b) => Self::text(if b { "true" } else { "false" }),
        }
    }

    #[inline]
    fn of_str(s: &'a str, max_bytes: usize) -> Self {
        // Only a text starting like a number (a digit, `-`, `NaN`, `inf`) can render like one.
        if let Some(&first) = s.as_bytes().first() {
            if (first.is_ascii_digit() || matches!(first, b'-' | b'N' | b'i'))
                && let Some(number) = number_key(s)
            {
                return number;
            }
        }
        if s.len() > max_bytes {
            return cut(s, max_bytes);
        }
        Self::text(s)
    }

    #[inline]
    fn text(text: &'a str) -> Self {
        Self {
            kind: KIND_TEXT,
            number: 0,
            text,
        }
    }

    #[inline]
    fn int(i: i64) -> Self {
        Self {
            kind: KIND_INT,
            number: i as u64,
            text: "",
        }
    }

    fn float(bits: u64) -> Self {
        Self {
            kind: KIND_FLOAT,
            number: bits,
            text: "",
        }
    }

    /// Whether the value was cut at the cap.
    #[inline]
    pub(crate) fn is_cut(&self) -> bool {
        self.kind == KIND_CUT
    }

    /// The text the value renders to, prepared for the exporter's renderer (cold path only).
    pub(crate) fn render(&self) -> String {
        match self.kind {
            KIND_INT => (self.number as i64).to_string(),
            KIND_FLOAT => f64::from_bits(self.number).to_string(),
            KIND_CUT => prepare_label_value(self.text) + TRUNCATION_MARKER,
            _ => prepare_label_value(self.text),
        }
    }
}

/// `s` cut to at most `max_bytes` on a character boundary (cold: only over-long values).
#[cold]
#[inline(never)]
fn cut(s: &str, max_bytes: usize) -> LabelValue<'_> {
    let mut end = max_bytes.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    LabelValue {
        kind: KIND_CUT,
        number: 0,
        text: &s[..end],
    }
}

/// The number key of a text that is exactly a number's rendering, if it is one.
#[inline(never)]
fn number_key(s: &str) -> Option<LabelValue<'static>> {
    if s.len() > MAX_NUMBER_TEXT {
        return None;
    }
    if let Some(i) = canonical_int(s) {
        return Some(LabelValue::int(i));
    }
    let f: f64 = s.parse().ok()?;
    if !renders_as(f, s) {
        return None;
    }
    // `f` renders as `s`, which is not an integer's rendering: the float key, NaN canonical.
    Some(LabelValue::float(if f.is_nan() {
        f64::NAN.to_bits()
    } else {
        f.to_bits()
    }))
}

/// The integer `s` is the rendering of (`i64`'s `Display`), if any: no sign but `-`, no leading
/// zero, no `-0`.
fn canonical_int(s: &str) -> Option<i64> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let first = *digits.as_bytes().first()?;
    if !first.is_ascii_digit() || (first == b'0' && (digits.len() > 1 || s.len() > 1)) {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The key of a float value: the integer key when it renders as an integer.
fn float_key(f: f64) -> LabelValue<'static> {
    /// Below 2^53 every integral float renders as its exact integer.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if f.is_nan() {
        return LabelValue::float(f64::NAN.to_bits());
    }
    if f.fract() == 0.0 && f.abs() < EXACT && !(f == 0.0 && f.is_sign_negative()) {
        return LabelValue::int(f as i64);
    }
    if f.fract() == 0.0 && f.abs() < 1e19 {
        // Large integral floats render their shortest digits padded with zeros, which may or
        // may not be an `i64`'s rendering: render and look (rare, cold).
        let mut text = StackText::default();
        if write!(text, "{f}").is_ok()
            && let Some(i) = text.as_str().and_then(canonical_int)
        {
            return LabelValue::int(i);
        }
    }
    LabelValue::float(f.to_bits())
}

/// Whether `f` renders (`Display`) exactly as `s`, without allocating.
fn renders_as(f: f64, s: &str) -> bool {
    struct Compare<'s> {
        rest: &'s [u8],
        equal: bool,
    }
    impl std::fmt::Write for Compare<'_> {
        fn write_str(&mut self, part: &str) -> std::fmt::Result {
            match self.rest.strip_prefix(part.as_bytes()) {
                Some(rest) => self.rest = rest,
                None => self.equal = false,
            }
            if self.equal {
                Ok(())
            } else {
                Err(std::fmt::Error)
            }
        }
    }
    let mut compare = Compare {
        rest: s.as_bytes(),
        equal: true,
    };
    write!(compare, "{f}").is_ok() && compare.equal && compare.rest.is_empty()
}

/// A small stack buffer for rendering one number.
#[derive(Default)]
struct StackText {
    bytes: [u8; 32],
    len: usize,
}

impl StackText {
    fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes[..self.len]).ok()
    }
}

impl std::fmt::Write for StackText {
    fn write_str(&mut self, part: &str) -> std::fmt::Result {
        let end = self.len + part.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(part.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(v: Value<'_>) -> (u64, u64, String) {
        let l = LabelValue::new(v, DEFAULT_MAX_LABEL_VALUE_BYTES);
        (l.kind, l.number, l.text.to_owned())
    }

    /// The text a value renders to, as `label_text` of a series did before canonical keys.
    fn rendered(v: Value<'_>) -> String {
        v.to_string()
    }

    proptest! {
        /// Same key ⇔ same rendered text, across every pair of value types.
        #[test]
        fn keys_are_equal_exactly_when_texts_are(
            i in any::<i64>(),
            f in any::<f64>(),
            s in "-?[0-9]{0,21}(\\.[0-9]{0,4})?|NaN|inf|-inf|true|false|[a-z]{0,5}",
            small in -1000i64..1000,
        ) {
            let values = [
                Value::Int(i),
                Value::Int(small),
                Value::Float(f),
                Value::Float(small as f64),
                Value::Float(small as f64 / 4.0),
                Value::Str(&s),
                Value::Bool(small % 2 == 0),
            ];
            let texts: Vec<String> = values.iter().map(|v| rendered(*v)).collect();
            let strings: Vec<String> = texts.clone();
            let more: Vec<Value<'_>> = strings.iter().map(|t| Value::Str(t)).collect();
            let all: Vec<Value<'_>> = values.iter().copied().chain(more).collect();
            for a in &all {
                for b in &all {
                    prop_assert_eq!(
                        key(*a) == key(*b),
                        rendered(*a) == rendered(*b),
                        "{:?} vs {:?}", a, b
                    );
                }
            }
            for v in &all {
                prop_assert_eq!(
                    LabelValue::new(*v, DEFAULT_MAX_LABEL_VALUE_BYTES).render(),
                    prepare_label_value(&rendered(*v))
                );
            }
        }

        /// Large integral floats near and past 2^53 meet the integer rendering the same text.
        #[test]
        fn large_integral_floats_meet_their_integer_text(e in 50u32..64, m in 1u64..1024) {
            let f = (m as f64) * 2f64.powi(e as i32 - 10);
            let text = f.to_string();
            prop_assert_eq!(key(Value::Float(f)), key(Value::Str(&text)));
            if let Ok(i) = text.parse::<i64>() {
                prop_assert_eq!(key(Value::Float(f)), key(Value::Int(i)));
            }
        }
    }

    #[test]
    fn long_text_is_cut_on_a_char_boundary_with_a_marker() {
        let long = "é".repeat(100); // 200 bytes
        let v = LabelValue::new(Value::Str(&long), 17);
        assert!(v.is_cut());
        assert_eq!(v.text, "é".repeat(8)); // 16 bytes: 17 is inside a character
        assert_eq!(v.render(), format!("{}{TRUNCATION_MARKER}", "é".repeat(8)));
        assert!(v.render().len() > 17);
        let exact = "a".repeat(17);
        assert!(!LabelValue::new(Value::Str(&exact), 17).is_cut());
        // Values alike in their first `cap` bytes share a key.
        let a = format!("{}{}", "p".repeat(20), "x");
        let b = format!("{}{}", "p".repeat(20), "y");
        assert_eq!(
            LabelValue::new(Value::Str(&a), 16).text,
            LabelValue::new(Value::Str(&b), 16).text
        );
        // A long number-like text that is no number's rendering is cut too.
        let digits = "1".repeat(1000);
        assert!(LabelValue::new(Value::Str(&digits), 256).is_cut());
        assert!(TRUNCATION_MARKER.len() > 3);
    }
}
