//! What `attach` accepts as the events to listen to: [`IntoPatterns`].
//!
//! Anything naming events is accepted wherever a pattern is: a pattern string (`"llm.*.stop"`,
//! as a `&str`, `String` or `&String`), a declared name (`&StaticEventName`, `EventName`,
//! `&EventName`), a span name (`&StaticSpanName`, `SpanName`, `&SpanName`: its three events
//! `prefix.start`, `prefix.stop` and `prefix.exception`, not `prefix.*`, which would also match
//! deeper names such as `prefix.chunk.stop`), a parsed [`Pattern`], and arrays, slices and vectors
//! of any of these (all of one type).
//!
//! ```
//! use llm_telemetry_core::{Bus, StaticEventName, StaticSpanName, testing::Capture};
//!
//! static CHAT: StaticSpanName = StaticSpanName::new("myapp.chat");
//! static HIT: StaticEventName = StaticEventName::new("myapp.cache.hit");
//! static MISS: StaticEventName = StaticEventName::new("myapp.cache.miss");
//!
//! let bus = Bus::new();
//! bus.attach("stops", "myapp.*.stop", |e| println!("{}", e.name())).unwrap();
//! bus.attach("chat", &CHAT, |_| {}).unwrap(); // myapp.chat.{start,stop,exception}
//! bus.attach("cache", [&HIT, &MISS], |_| {}).unwrap();
//! bus.attach("several", &["myapp.a.*", "myapp.b.*"], |_| {}).unwrap();
//! let owned: Vec<String> = vec!["myapp.c.*".into()];
//! let capture = Capture::attach(&bus, &owned).unwrap();
//! # let _ = capture;
//! assert_eq!(bus.list_handlers("myapp.chat")[1].patterns, ["myapp.chat.start", "myapp.chat.stop", "myapp.chat.exception"]);
//! ```

use crate::error::PatternError;
use crate::name::{EventName, Pattern, StaticEventName};
use crate::span_name::{SpanName, StaticSpanName};

/// One or more event names or patterns to attach a handler to (see the [module docs](self)).
///
/// An empty list is accepted here; `attach` then fails with [`PatternError::NoPatterns`].
pub trait IntoPatterns {
    /// The parsed patterns, in order.
    fn into_patterns(self) -> Result<Vec<Pattern>, PatternError>;
}

/// One element of a list given to [`IntoPatterns`]: a pattern string, an event name or a span
/// name (its three events). Implement it to make your own type attachable.
pub trait PatternItem {
    /// Appends this item's patterns to `out`.
    fn push_patterns(&self, out: &mut Vec<Pattern>) -> Result<(), PatternError>;
}

impl PatternItem for str {
    fn push_patterns(&self, out: &mut Vec<Pattern>) -> Result<(), PatternError> {
        out.push(Pattern::parse(self)?);
        Ok(())
    }
}

impl PatternItem for String {
    fn push_patterns(&self, out: &mut Vec<Pattern>) -> Result<(), PatternError> {
        self.as_str().push_patterns(out)
    }
}

impl PatternItem for Pattern {
    fn push_patterns(&self, out: &mut Vec<Pattern>) -> Result<(), PatternError> {
        out.push(self.clone());
        Ok(())
    }
}

impl PatternItem for EventName {
    fn push_patterns(&self, out: &mut Vec<Pattern>) -> Result<(), PatternError> {
        self.as_str().push_patterns(out)
    }
}

impl PatternItem for StaticEventName {
    fn push_patterns(&self, out: &mut Vec<Pattern>) -> Result<(), PatternError> {
        self.get().push_patterns(out)
    }
}

impl PatternItem for SpanName {
    /// `prefix.start`, `prefix.stop` and `prefix.exception`.
    fn push_patterns(&self, out: &mut Vec<Pattern>) -> Result<(), PatternError> {
        self.start.push_patterns(out)?;
        self.stop.push_patterns(out)?;
        self.exception.push_patterns(out)
    }
}

impl PatternItem for StaticSpanName {
    /// `prefix.start`, `prefix.stop` and `prefix.exception`.
    fn push_patterns(&self, out: &mut Vec<Pattern>) -> Result<(), PatternError> {
        self.get().push_patterns(out)
    }
}

impl<T: PatternItem + ?Sized> PatternItem for &T {
    fn push_patterns(&self, out: &mut Vec<Pattern>) -> Result<(), PatternError> {
        (**self).push_patterns(out)
    }
}

fn collect<'a, T: PatternItem + 'a>(
    items: impl IntoIterator<Item = &'a T>,
) -> Result<Vec<Pattern>, PatternError> {
    let mut out = Vec::new();
    for item in items {
        item.push_patterns(&mut out)?;
    }
    Ok(out)
}

/// `&str`, `&String`, `&StaticEventName`, `&EventName`, `&StaticSpanName`, `&SpanName`, …
impl<T: PatternItem + ?Sized> IntoPatterns for &T {
    fn into_patterns(self) -> Result<Vec<Pattern>, PatternError> {
        let mut out = Vec::new();
        self.push_patterns(&mut out)?;
        Ok(out)
    }
}

macro_rules! owned_item {
    ($($t:ty),*) => {$(
        impl IntoPatterns for $t {
            fn into_patterns(self) -> Result<Vec<Pattern>, PatternError> {
                (&self).into_patterns()
            }
        }
    )*};
}
owned_item!(String, EventName, SpanName, Pattern);

impl<T: PatternItem> IntoPatterns for &[T] {
    fn into_patterns(self) -> Result<Vec<Pattern>, PatternError> {
        collect(self)
    }
}

impl<T: PatternItem, const N: usize> IntoPatterns for [T; N] {
    fn into_patterns(self) -> Result<Vec<Pattern>, PatternError> {
        collect(&self)
    }
}

impl<T: PatternItem, const N: usize> IntoPatterns for &[T; N] {
    fn into_patterns(self) -> Result<Vec<Pattern>, PatternError> {
        collect(self)
    }
}

impl<T: PatternItem> IntoPatterns for Vec<T> {
    fn into_patterns(self) -> Result<Vec<Pattern>, PatternError> {
        collect(&self)
    }
}

impl<T: PatternItem> IntoPatterns for &Vec<T> {
    fn into_patterns(self) -> Result<Vec<Pattern>, PatternError> {
        collect(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(patterns: impl IntoPatterns) -> Vec<String> {
        patterns
            .into_patterns()
            .unwrap()
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect()
    }

    #[test]
    // The borrowed forms are what is being tested.
    #[allow(clippy::needless_borrows_for_generic_args)]
    fn every_accepted_shape() {
        static HIT: StaticEventName = StaticEventName::new("patterns.cache.hit");
        static CHAT: StaticSpanName = StaticSpanName::new("patterns.chat");
        let owned = String::from("a.b");
        assert_eq!(texts("a.*"), ["a.*"]);
        assert_eq!(texts(owned.clone()), ["a.b"]);
        assert_eq!(texts(&owned), ["a.b"]);
        assert_eq!(texts(&["a.*", "b"][..]), ["a.*", "b"]);
        assert_eq!(texts(["a.*", "b"]), ["a.*", "b"]);
        assert_eq!(texts(&["a.*", "b"]), ["a.*", "b"]);
        assert_eq!(texts(vec!["a.*"]), ["a.*"]);
        assert_eq!(texts(&vec![owned.clone()]), ["a.b"]);
        assert_eq!(texts(&[owned.clone()][..]), ["a.b"]);
        assert_eq!(texts(&HIT), ["patterns.cache.hit"]);
        assert_eq!(texts(HIT.get()), ["patterns.cache.hit"]);
        assert_eq!(texts(&HIT.get()), ["patterns.cache.hit"]);
        assert_eq!(texts([&HIT, &HIT]), ["patterns.cache.hit"; 2]);
        assert_eq!(texts(&[&HIT][..]), ["patterns.cache.hit"]);
        assert_eq!(
            texts(&CHAT),
            [
                "patterns.chat.start",
                "patterns.chat.stop",
                "patterns.chat.exception"
            ]
        );
        assert_eq!(texts(Vec::<&str>::new()), Vec::<String>::new());
        assert!(["ok", "not ok"].into_patterns().is_err());
    }
}
