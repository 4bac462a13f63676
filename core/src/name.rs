//! Event names and attach patterns.
//!
//! An [`EventName`] is a validated, dot-separated path such as `llm.chat.stop`. Names are interned
//! once per process into a small registry, which gives each distinct name a dense integer id; the
//! bus indexes its per-name interest cache and dispatch table with that id, so the hot path never
//! hashes or compares strings. Names are meant to be static (written in code, as in the
//! [`crate::catalog`]); the registry is capped at [`MAX_EVENT_NAMES`] so that a name accidentally
//! built from request data fails loudly instead of growing memory forever.
//!
//! [`StaticEventName`] declares a name in a `static`, validated at compile time and registered on
//! first use (the cold path, like a `tracing-core` callsite). [`Pattern`] is what a handler attaches
//! to: an exact name, or a name with `*` segments.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::error::{NameError, PatternError};

/// The most distinct event names one process may register.
pub const MAX_EVENT_NAMES: usize = 16_384;
const _: () = assert!(MAX_EVENT_NAMES.is_power_of_two());
/// The most segments an event name may have.
pub const MAX_SEGMENTS: usize = 8;
/// The longest an event name may be, in bytes.
pub const MAX_NAME_LEN: usize = 256;

struct NameEntry {
    text: &'static str,
    segments: &'static [&'static str],
}

/// Registered names by id. Each slot is written once, when its name is registered.
static ENTRIES: [OnceLock<NameEntry>; MAX_EVENT_NAMES] =
    [const { OnceLock::new() }; MAX_EVENT_NAMES];

/// A validated, interned event name such as `llm.chat.stop`.
///
/// Cheap to copy and compare (it is the name's id). Create one with [`EventName::new`]
/// (validates, then interns) or declare a [`StaticEventName`].
///
/// ```
/// use llm_telemetry_core::EventName;
/// let name = EventName::new("llm.chat.stop").unwrap();
/// assert_eq!(name.segments(), ["llm", "chat", "stop"]);
/// assert_eq!(name.phase(), "stop");
/// assert!(EventName::new("llm..stop").is_err());
/// ```
#[derive(Clone, Copy)]
pub struct EventName {
    id: u32,
}

impl EventName {
    /// Validates `text` and returns its interned name, registering it on first use.
    pub fn new(text: &str) -> Result<Self, NameError> {
        validate_event_name(text)?;
        intern(text)
    }

    /// Builds a name from segments, e.g. `["llm", "chat", "stop"]`.
    pub fn from_segments(segments: &[&str]) -> Result<Self, NameError> {
        Self::new(&segments.join("."))
    }

    fn entry(&self) -> Option<&'static NameEntry> {
        ENTRIES[self.id as usize].get()
    }

    /// The full dotted name.
    pub fn as_str(&self) -> &'static str {
        // Always `Some`: an `EventName` exists only after its entry was registered.
        self.entry().map_or("", |e| e.text)
    }

    /// The segments between the dots.
    pub fn segments(&self) -> &'static [&'static str] {
        self.entry().map_or(&[], |e| e.segments)
    }

    /// The last segment (`start`, `stop`, `exception`, `hit`, …).
    pub fn phase(&self) -> &'static str {
        self.segments().last().copied().unwrap_or("")
    }

    /// Whether this name is `prefix` or lies under it by whole segments: `llm.chat.stop` is
    /// within `llm`, `llm.chat` and `llm.chat.stop`, not within `llm.ch`.
    ///
    /// ```
    /// use llm_telemetry_core::EventName;
    /// let name = EventName::new("llm.chat.stop").unwrap();
    /// assert!(name.is_within("llm.chat") && name.is_within("llm.chat.stop"));
    /// assert!(!name.is_within("llm.ch") && !name.is_within("cache"));
    /// ```
    pub fn is_within(&self, prefix: &str) -> bool {
        let text = self.as_str();
        text.starts_with(prefix)
            && (text.len() == prefix.len() || text.as_bytes()[prefix.len()] == b'.')
    }

    /// The name without its last segment (`llm.chat` for `llm.chat.stop`): the span prefix.
    pub fn prefix(&self) -> &'static str {
        let text = self.as_str();
        match text.rfind('.') {
            Some(dot) => &text[..dot],
            None => "",
        }
    }

    /// The dense registry id, used to index per-name tables.
    #[inline(always)]
    pub(crate) fn id(&self) -> usize {
        // Ids are below MAX_EVENT_NAMES (a power of two), so the mask changes nothing; it lets
        // the compiler drop the bounds check when indexing a MAX_EVENT_NAMES-long array.
        self.id as usize & (MAX_EVENT_NAMES - 1)
    }
}

impl PartialEq for EventName {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}
impl Eq for EventName {}
impl std::hash::Hash for EventName {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}
impl fmt::Debug for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventName({})", self.as_str())
    }
}
impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
impl PartialEq<str> for EventName {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for EventName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// An event name declared in a `static`: validated at compile time, registered on first use.
///
/// ```
/// use llm_telemetry_core::{Bus, StaticEventName};
/// static QUEUE_DEPTH: StaticEventName = StaticEventName::new("myapp.queue.depth");
/// let bus = Bus::new();
/// bus.execute(&QUEUE_DEPTH, &[("depth", 3.0)], &[]);
/// ```
///
/// An invalid literal fails the build:
/// ```compile_fail
/// static BAD: llm_telemetry_core::StaticEventName = llm_telemetry_core::StaticEventName::new("llm..stop");
/// # let _ = &BAD;
/// ```
pub struct StaticEventName {
    text: &'static str,
    /// The registered id plus one; 0 until the first use.
    id: AtomicU32,
}

impl StaticEventName {
    /// Declares a name; panics at compile time (in a `static`/`const`) if it is invalid.
    pub const fn new(text: &'static str) -> Self {
        if !is_valid_name_const(text) {
            panic!("invalid event name: use dot-separated segments of [A-Za-z0-9_-]");
        }
        Self {
            text,
            id: AtomicU32::new(0),
        }
    }

    /// The dotted name, without registering it.
    pub const fn as_str(&self) -> &'static str {
        self.text
    }

    /// The interned name (registers it on first call).
    #[inline(always)]
    pub fn get(&self) -> EventName {
        match self.id.load(Ordering::Relaxed) {
            0 => self.register(),
            id => EventName { id: id - 1 },
        }
    }

    #[cold]
    #[inline(never)]
    fn register(&self) -> EventName {
        let name = match intern(self.text) {
            Ok(name) => name,
            // The registry is full: static names are few and known at build time, so this only
            // happens when a program interned thousands of dynamic names. Share the overflow
            // name rather than panicking in instrumented code.
            Err(_) => overflow_name(),
        };
        // Racing registrations store the same id: interning is idempotent.
        self.id.store(name.id + 1, Ordering::Relaxed);
        name
    }
}

impl fmt::Debug for StaticEventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StaticEventName({})", self.text)
    }
}

impl From<&StaticEventName> for EventName {
    #[inline(always)]
    fn from(name: &StaticEventName) -> Self {
        name.get()
    }
}
impl From<&EventName> for EventName {
    #[inline(always)]
    fn from(name: &EventName) -> Self {
        *name
    }
}

/// The name static declarations fall back to when the registry is full (never in practice).
fn overflow_name() -> EventName {
    static OVERFLOW: OnceLock<EventName> = OnceLock::new();
    *OVERFLOW.get_or_init(|| {
        let registry = registry();
        let mut guard = registry.lock().unwrap_or_else(PoisonError::into_inner);
        guard.insert_unchecked("telemetry.registry.overflow")
    })
}

/// Checks that `text` is a valid event name without registering it.
pub fn validate_event_name(text: &str) -> Result<(), NameError> {
    validate(text, false).map_err(|e| match e {
        Invalid::Empty => NameError::Empty,
        Invalid::EmptySegment(position) => NameError::EmptySegment {
            name: text.to_owned(),
            position,
        },
        Invalid::Character(character) => NameError::InvalidCharacter {
            name: text.to_owned(),
            character,
        },
        Invalid::TooManySegments(segments) => NameError::TooManySegments {
            name: text.to_owned(),
            segments,
            max: MAX_SEGMENTS,
        },
        Invalid::TooLong(len) => NameError::TooLong {
            len,
            max: MAX_NAME_LEN,
            prefix: text.chars().take(32).collect(),
        },
    })
}

enum Invalid {
    Empty,
    EmptySegment(usize),
    Character(char),
    TooManySegments(usize),
    TooLong(usize),
}

fn validate(text: &str, allow_wildcard: bool) -> Result<(), Invalid> {
    if text.is_empty() {
        return Err(Invalid::Empty);
    }
    if text.len() > MAX_NAME_LEN {
        return Err(Invalid::TooLong(text.len()));
    }
    let mut count = 0;
    for (position, segment) in text.split('.').enumerate() {
        count += 1;
        if segment.is_empty() {
            return Err(Invalid::EmptySegment(position));
        }
        if allow_wildcard && segment == "*" {
            continue;
        }
        if let Some(character) = segment.chars().find(|c| !is_segment_char(*c)) {
            return Err(Invalid::Character(character));
        }
    }
    if count > MAX_SEGMENTS {
        return Err(Invalid::TooManySegments(count));
    }
    Ok(())
}

fn is_segment_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

const fn is_valid_name_const(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_NAME_LEN {
        return false;
    }
    let mut i = 0;
    let mut segment_len = 0;
    let mut segments = 1;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'.' {
            if segment_len == 0 {
                return false;
            }
            segments += 1;
            segment_len = 0;
        } else if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            segment_len += 1;
        } else {
            return false;
        }
        i += 1;
    }
    segment_len > 0 && segments <= MAX_SEGMENTS
}

// ---------------------------------------------------------------------------------------------
// The registry
// ---------------------------------------------------------------------------------------------

struct Registry {
    by_text: HashMap<&'static str, EventName>,
    names: Vec<EventName>,
}

impl Registry {
    fn insert_unchecked(&mut self, text: &str) -> EventName {
        if let Some(name) = self.by_text.get(text) {
            return *name;
        }
        // Leaked on purpose: names live for the whole process and are capped in number.
        let text: &'static str = Box::leak(text.to_owned().into_boxed_str());
        let segments: &'static [&'static str] =
            Box::leak(text.split('.').collect::<Vec<_>>().into_boxed_slice());
        let id = self.names.len() as u32;
        // Each id is handed out once, under the registry lock, so the slot is still empty.
        let _ = ENTRIES[id as usize].set(NameEntry { text, segments });
        let name = EventName { id };
        self.by_text.insert(text, name);
        self.names.push(name);
        name
    }
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        Mutex::new(Registry {
            by_text: HashMap::new(),
            names: Vec::new(),
        })
    })
}

fn intern(text: &str) -> Result<EventName, NameError> {
    let mut guard = registry().lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(name) = guard.by_text.get(text) {
        return Ok(*name);
    }
    // Keep one slot for the overflow name.
    if guard.names.len() >= MAX_EVENT_NAMES - 1 {
        return Err(NameError::RegistryFull {
            name: text.to_owned(),
            max: MAX_EVENT_NAMES,
        });
    }
    Ok(guard.insert_unchecked(text))
}

/// The names registered with an id of `first` or more, in id order (ids are dense: the name with
/// id `n` is the `n`th registered). The dispatch table asks for the names it has not seen yet.
pub(crate) fn registered_from(first: usize) -> Vec<EventName> {
    let registry = registry().lock().unwrap_or_else(PoisonError::into_inner);
    registry.names.get(first..).unwrap_or_default().to_vec()
}

// ---------------------------------------------------------------------------------------------
// Patterns
// ---------------------------------------------------------------------------------------------

/// What a handler attaches to: an exact event name, or a name with `*` segments.
///
/// - `llm.chat.stop`: exactly that event.
/// - `llm.*.stop`: a `*` in the middle matches exactly one segment (`llm.chat.stop`,
///   `llm.embed.stop`, not `llm.provider.request.stop`).
/// - `llm.*`: a trailing `*` matches one or more segments: every event under `llm`.
/// - `*`: every event.
///
/// ```
/// use llm_telemetry_core::{EventName, Pattern};
/// let stops = Pattern::parse("llm.*.stop").unwrap();
/// assert!(stops.matches(&EventName::new("llm.chat.stop").unwrap()));
/// assert!(!stops.matches(&EventName::new("llm.chat.start").unwrap()));
/// assert!(Pattern::parse("llm.*").unwrap().matches(&EventName::new("llm.provider.request.stop").unwrap()));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Pattern {
    text: String,
    segments: Vec<String>,
}

impl Pattern {
    /// Parses and validates a pattern.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        validate(text, true).map_err(|e| PatternError::Invalid {
            pattern: text.to_owned(),
            reason: match e {
                Invalid::Empty => "it is empty".to_owned(),
                Invalid::EmptySegment(p) => format!("segment {p} is empty"),
                Invalid::Character(c) => format!(
                    "it contains {c:?}; segments use ASCII letters, digits, '_', '-', or are a lone '*'"
                ),
                Invalid::TooManySegments(n) => format!("it has {n} segments, at most {MAX_SEGMENTS}"),
                Invalid::TooLong(n) => format!("it is {n} bytes long, at most {MAX_NAME_LEN}"),
            },
        })?;
        Ok(Self {
            text: text.to_owned(),
            segments: text.split('.').map(str::to_owned).collect(),
        })
    }

    /// Whether `name` matches this pattern.
    pub fn matches(&self, name: &EventName) -> bool {
        let names = name.segments();
        let last = self.segments.len() - 1;
        for (i, pattern) in self.segments.iter().enumerate() {
            let Some(segment) = names.get(i) else {
                return false;
            };
            if pattern == "*" {
                if i == last {
                    return true;
                }
                continue;
            }
            if pattern != segment {
                return false;
            }
        }
        names.len() == self.segments.len()
    }

    /// Whether this pattern can match some event whose name starts with `prefix` segments
    /// (used by `list_handlers`).
    pub fn overlaps_prefix(&self, prefix: &[&str]) -> bool {
        let last = self.segments.len() - 1;
        for (i, wanted) in prefix.iter().enumerate() {
            match self.segments.get(i) {
                None => return false,
                Some(p) if p == "*" && i == last => return true,
                Some(p) if p == "*" || p == wanted => {}
                Some(_) => return false,
            }
        }
        true
    }

    /// The one name this pattern matches, if it has no `*` segment (`llm.chat.stop`); `None`
    /// for a wildcard pattern.
    pub fn exact(&self) -> Option<&str> {
        (!self.segments.iter().any(|s| s == "*")).then_some(self.text.as_str())
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pattern({})", self.text)
    }
}
impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_returns_the_same_id() {
        let a = EventName::new("test.name.a").unwrap();
        let b = EventName::new("test.name.a").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.id(), b.id());
        assert_ne!(a, EventName::new("test.name.b").unwrap());
    }

    #[test]
    fn invalid_names_are_typed_errors() {
        assert_eq!(EventName::new(""), Err(NameError::Empty));
        assert!(matches!(
            EventName::new("a..b"),
            Err(NameError::EmptySegment { position: 1, .. })
        ));
        assert!(matches!(
            EventName::new("a.b c"),
            Err(NameError::InvalidCharacter { character: ' ', .. })
        ));
        assert!(matches!(
            EventName::new("a.b.c.d.e.f.g.h.i"),
            Err(NameError::TooManySegments { segments: 9, .. })
        ));
        assert!(matches!(
            EventName::new(&"a".repeat(300)),
            Err(NameError::TooLong { len: 300, .. })
        ));
    }

    #[test]
    fn const_validation_agrees_with_runtime_validation() {
        for text in [
            "a",
            "a.b",
            "a..b",
            ".a",
            "a.",
            "a b",
            "llm.chat.stop",
            "x-y_z.1",
            "ü",
        ] {
            assert_eq!(
                is_valid_name_const(text),
                validate_event_name(text).is_ok(),
                "{text}"
            );
        }
    }

    #[test]
    fn pattern_matching() {
        let n = |s| EventName::new(s).unwrap();
        let p = |s| Pattern::parse(s).unwrap();
        assert!(p("*").matches(&n("a.b.c")));
        assert!(p("a.*").matches(&n("a.b.c")));
        assert!(!p("a.*").matches(&n("a")));
        assert!(p("a.*.c").matches(&n("a.b.c")));
        assert!(!p("a.*.c").matches(&n("a.b.d.c")));
        assert!(!p("a.b").matches(&n("a.b.c")));
        assert!(p("a.b.c").matches(&n("a.b.c")));
        assert!(Pattern::parse("a.**").is_err());
        assert!(p("llm.*").overlaps_prefix(&["llm", "chat"]));
        assert!(p("llm.chat.stop").overlaps_prefix(&["llm"]));
        assert!(!p("cache.*").overlaps_prefix(&["llm"]));
        assert!(p("llm.chat.stop").overlaps_prefix(&[]));
    }
}
