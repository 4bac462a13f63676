//! Event categories and severities: metadata conventions every handler can read (TinyLLM's
//! `EventCategory` and `EventSeverity`).
//!
//! An event says its own with the metadata keys [`CATEGORY_KEY`] (`event.category`) and
//! [`SEVERITY_KEY`] (`event.severity`). One that does not gets its catalog's defaults: a
//! catalog crate declares [`CategoryRules`] (an event name or a prefix of segments, its category
//! and optionally its severity; the longest match wins) and [`register`]s them once (the LLM
//! catalog of `llm-telemetry-genai` does, for `llm.*`, `cache.*`, ...). The bus's own
//! `telemetry.*` events are [`Category::System`]. Without a rule the severity follows the
//! phase: `exception` is [`Severity::Error`], `start` is [`Severity::Debug`], the rest
//! [`Severity::Info`]; the category is unknown (`None`).
//!
//! ```
//! use llm_telemetry_core::category::{self, Category, CategoryRules, Severity};
//! use llm_telemetry_core::EventName;
//!
//! static RULES: CategoryRules = CategoryRules::new(&[
//!     ("auth", Category::Security, None),
//!     ("auth.login.denied", Category::Security, Some(Severity::Warning)),
//! ]);
//! category::register(&RULES);
//! let denied = EventName::new("auth.login.denied").unwrap();
//! assert_eq!(Category::of(denied, None), Some(Category::Security));
//! assert_eq!(Severity::of(denied, None), Severity::Warning);
//! assert_eq!(Severity::of(denied, Some("critical")), Severity::Critical); // the event's own
//! ```
//!
//! Reading the rules takes no lock (a few atomic loads); registering takes none either (a
//! compare-and-swap into one of [`MAX_RULE_SETS`] slots).

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicPtr, Ordering};

use crate::name::EventName;

/// The metadata key of an event's category (`event.category`).
pub const CATEGORY_KEY: &str = "event.category";
/// The metadata key of an event's severity (`event.severity`).
pub const SEVERITY_KEY: &str = "event.severity";

/// What an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// The telemetry system and the process itself (handler failures, lifecycle).
    System,
    /// Requests and their steps (a request span, a pipeline stage).
    Execution,
    /// Model calls: generation, chat, embedding, streaming.
    Model,
    /// Caches: lookups, puts, evictions.
    Cache,
    /// Authentication, authorisation, redaction.
    Security,
    /// Latency, throughput, cost and budgets.
    Performance,
    /// What users do (feedback, sessions).
    User,
    /// Calls to other services: providers, rate limits, credentials.
    Integration,
    /// Data moving in and out: loading, indexing, validation.
    Data,
}

impl Category {
    /// Every category, in documentation order.
    pub const ALL: [Category; 9] = [
        Category::System,
        Category::Execution,
        Category::Model,
        Category::Cache,
        Category::Security,
        Category::Performance,
        Category::User,
        Category::Integration,
        Category::Data,
    ];

    /// Its name as written in metadata (`model`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::System => "system",
            Category::Execution => "execution",
            Category::Model => "model",
            Category::Cache => "cache",
            Category::Security => "security",
            Category::Performance => "performance",
            Category::User => "user",
            Category::Integration => "integration",
            Category::Data => "data",
        }
    }

    /// The category of the event `name` whose `event.category` metadata is `explicit`: the
    /// event's own (when it names a known category), else its catalog's rule.
    pub fn of(name: EventName, explicit: Option<&str>) -> Option<Category> {
        explicit
            .and_then(|text| text.parse().ok())
            .or_else(|| rule_for(name).map(|rule| rule.1))
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a category or a severity.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {text:?}: expected one of {expected}")]
pub struct UnknownName {
    /// `category` or `severity`.
    pub kind: &'static str,
    /// The text given.
    pub text: String,
    /// The names accepted.
    pub expected: &'static str,
}

impl FromStr for Category {
    type Err = UnknownName;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        Category::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| UnknownName {
                kind: "category",
                text: text.to_owned(),
                expected: "system, execution, model, cache, security, performance, user, \
                           integration, data",
            })
    }
}

/// How much an event matters, least to most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Diagnostics (span starts by default).
    Debug,
    /// Normal operation (span stops and plain events by default).
    Info,
    /// Deserves attention (rate limits, budget alerts).
    Warning,
    /// A failure (span exceptions by default).
    Error,
    /// A failure that needs someone now.
    Critical,
}

impl Severity {
    /// Every severity, least first.
    pub const ALL: [Severity; 5] = [
        Severity::Debug,
        Severity::Info,
        Severity::Warning,
        Severity::Error,
        Severity::Critical,
    ];

    /// Its name as written in metadata (`warning`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Debug => "debug",
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
            Severity::Critical => "critical",
        }
    }

    /// The event's own severity from its `event.severity` metadata (`explicit`), if that
    /// names one.
    pub fn explicit(explicit: Option<&str>) -> Option<Severity> {
        explicit.and_then(Severity::from_name)
    }

    /// The severity named `text` ([`Severity::as_str`]'s names, any case; `warn` and `fatal`
    /// too), without allocating: the log handler reads it from every event that carries
    /// `event.severity`.
    fn from_name(text: &str) -> Option<Severity> {
        let text = text.trim();
        Severity::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(text))
            .or(if text.eq_ignore_ascii_case("warn") {
                Some(Severity::Warning)
            } else if text.eq_ignore_ascii_case("fatal") {
                Some(Severity::Critical)
            } else {
                None
            })
    }

    /// The catalog's severity for `name` (a rule's, else the phase default): what an event of
    /// that name has unless it says otherwise.
    pub fn default_of(name: EventName) -> Severity {
        if let Some(severity) = rule_for(name).and_then(|rule| rule.2) {
            return severity;
        }
        match name.phase() {
            "exception" => Severity::Error,
            "start" => Severity::Debug,
            _ => Severity::Info,
        }
    }

    /// The severity of the event `name` whose `event.severity` metadata is `explicit`: the
    /// event's own when it names a severity, else [`Severity::default_of`].
    pub fn of(name: EventName, explicit: Option<&str>) -> Severity {
        Severity::explicit(explicit).unwrap_or_else(|| Severity::default_of(name))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = UnknownName;
    /// The names of [`Severity::as_str`], any case; `warn` and `fatal` too.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Severity::from_name(text).ok_or_else(|| UnknownName {
            kind: "severity",
            text: text.trim().to_owned(),
            expected: "debug, info, warning, error, critical",
        })
    }
}

/// A catalog's defaults: (event name or prefix of segments, category, severity if not the
/// phase's).
pub type Rule = (&'static str, Category, Option<Severity>);

/// A catalog's set of [`Rule`]s, declared as a `static` and [`register`]ed once.
#[derive(Debug)]
pub struct CategoryRules {
    rules: &'static [Rule],
}

impl CategoryRules {
    /// Rules for a catalog.
    pub const fn new(rules: &'static [Rule]) -> Self {
        Self { rules }
    }

    /// The rules.
    pub fn rules(&self) -> &'static [Rule] {
        self.rules
    }
}

/// The bus's own events.
static CORE_RULES: CategoryRules = CategoryRules::new(&[
    ("telemetry", Category::System, None),
    // A handler was detached; the application goes on (the log handler's `warn` too).
    (
        "telemetry.handler.failure",
        Category::System,
        Some(Severity::Warning),
    ),
]);

/// How many catalogs can register rules.
pub const MAX_RULE_SETS: usize = 8;

static SETS: [AtomicPtr<CategoryRules>; MAX_RULE_SETS] =
    [const { AtomicPtr::new(std::ptr::null_mut()) }; MAX_RULE_SETS];

/// Makes `rules` count for every event (idempotent for the same `static`). False when
/// [`MAX_RULE_SETS`] catalogs are already registered.
pub fn register(rules: &'static CategoryRules) -> bool {
    let wanted = std::ptr::from_ref(rules).cast_mut();
    for slot in &SETS {
        match slot.compare_exchange(
            std::ptr::null_mut(),
            wanted,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => return true,
            Err(existing) if existing == wanted => return true,
            Err(_) => {}
        }
    }
    false
}

fn registered() -> impl Iterator<Item = &'static CategoryRules> {
    std::iter::once(&CORE_RULES).chain(SETS.iter().filter_map(|slot| {
        // SAFETY: only `register` stores here, and only pointers made from `&'static
        // CategoryRules`, which live for the whole program.
        unsafe { slot.load(Ordering::Acquire).as_ref() }
    }))
}

/// The most specific rule for `name`: an exact name, else the longest prefix of segments.
fn rule_for(name: EventName) -> Option<&'static Rule> {
    let mut best: Option<&'static Rule> = None;
    for rule in registered().flat_map(|set| set.rules.iter()) {
        let prefix = rule.0;
        if name.is_within(prefix) && best.is_none_or(|b| prefix.len() > b.0.len()) {
            best = Some(rule);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> EventName {
        EventName::new(text).unwrap()
    }

    #[test]
    fn phases_give_the_default_severity_and_the_bus_events_are_system() {
        assert_eq!(Severity::of(name("x.y.exception"), None), Severity::Error);
        assert_eq!(Severity::of(name("x.y.start"), None), Severity::Debug);
        assert_eq!(Severity::of(name("x.y.stop"), None), Severity::Info);
        assert_eq!(Category::of(name("x.y.stop"), None), None);
        let failure = name("telemetry.handler.failure");
        assert_eq!(Category::of(failure, None), Some(Category::System));
        assert_eq!(Severity::of(failure, None), Severity::Warning);
        assert_eq!(Severity::of(failure, Some("nonsense")), Severity::Warning);
        assert_eq!(Severity::of(failure, Some("critical")), Severity::Critical);
    }

    #[test]
    fn names_parse_both_ways() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>(), Ok(c));
        }
        for s in Severity::ALL {
            assert_eq!(s.as_str().to_uppercase().parse::<Severity>(), Ok(s));
        }
        assert_eq!("warn".parse::<Severity>(), Ok(Severity::Warning));
        assert!("loud".parse::<Severity>().is_err());
        assert!(Severity::Critical > Severity::Error && Severity::Debug < Severity::Info);
    }
}
