//! Log levels: the [`Level`] type and the [`LevelRules`] that give every event its level.
//!
//! By default a span's `exception` event is `error`, `stop` is `info`, `start` is `debug`, and
//! every other event is `info`, except three catalog events that deserve attention and are
//! `warn`: `telemetry.handler.failure`, `llm.provider.rate_limit` and
//! `llm.cost.threshold_exceeded`. Overrides name an exact event or a prefix of segments
//! (`llm.chat` covers `llm.chat.start`, `llm.chat.stop`, …); the longest matching override wins.
//!
//! Severities ([`llm_telemetry_core::category`]) are honoured: an event whose `event.severity`
//! metadata names one is logged at that level ([`Level::from_severity`]: `critical` is
//! `error`) unless an override set with [`LevelRules::set`] covers its name, which wins. The
//! bus asks the logger per name, before any metadata exists, whether it wants an event
//! ([`LevelRules::may_want`]): a name whose default level is below the minimum is still
//! delivered when it is a plain event (not a span phase) that neither an override nor the
//! catalog classifies, since it may carry its own severity; catalog events and span phases are
//! filtered by name, at no cost to the queue.

use std::fmt;
use std::str::FromStr;

use llm_telemetry_core::category::{SEVERITY_KEY, Severity};
use llm_telemetry_core::{Event, EventName, validate_event_name};
use llm_telemetry_genai::catalog;

use crate::error::LogError;

/// How important a line is, from least to most.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Very detailed diagnostics.
    Trace,
    /// Diagnostics (span starts by default).
    Debug,
    /// Normal operation (span stops and plain events by default).
    Info,
    /// Something deserves attention (rate limits, budget alerts, handler failures).
    Warn,
    /// A failure (span exceptions by default).
    Error,
}

impl Level {
    /// The lowercase name used in JSON lines: `trace`, `debug`, `info`, `warn`, `error`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }

    /// The five-character uppercase label used by the console format (`ERROR`, ` INFO`, …).
    pub(crate) const fn label(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => " INFO",
            Level::Warn => " WARN",
            Level::Error => "ERROR",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown log level {0:?}: use one of trace, debug, info, warn, error")]
pub struct ParseLevelError(pub String);

impl FromStr for Level {
    type Err = ParseLevelError;
    /// Parses `trace`, `debug`, `info`, `warn`/`warning` or `error`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "trace" => Ok(Level::Trace),
            "debug" => Ok(Level::Debug),
            "info" => Ok(Level::Info),
            "warn" | "warning" => Ok(Level::Warn),
            "error" => Ok(Level::Error),
            _ => Err(ParseLevelError(s.to_owned())),
        }
    }
}

/// Gives each event a level: phase defaults plus per-event or per-prefix overrides.
///
/// ```
/// use llm_telemetry_core::EventName;
/// use llm_telemetry_log::{Level, LevelRules};
/// let mut rules = LevelRules::default();
/// rules.set("cache", Level::Debug).unwrap();
/// assert_eq!(rules.level_of(EventName::new("cache.lookup.hit").unwrap()), Level::Debug);
/// assert_eq!(rules.level_of(EventName::new("llm.chat.exception").unwrap()), Level::Error);
/// assert_eq!(rules.level_of(EventName::new("llm.chat.start").unwrap()), Level::Debug);
/// ```
#[derive(Clone, Debug)]
pub struct LevelRules {
    /// (exact name or prefix, level), longest first.
    overrides: Vec<(String, Level)>,
    /// The prefixes in `overrides` that are the catalog's `warn` defaults rather than the
    /// user's: those yield to an event's own severity.
    defaults: Vec<String>,
}

impl Level {
    /// The level a [`Severity`] is logged at (`critical` is `error`, the highest level).
    pub fn from_severity(severity: Severity) -> Level {
        match severity {
            Severity::Debug => Level::Debug,
            Severity::Info => Level::Info,
            Severity::Warning => Level::Warn,
            Severity::Error | Severity::Critical => Level::Error,
        }
    }
}

impl Default for LevelRules {
    fn default() -> Self {
        let mut rules = Self::without_overrides();
        for name in [
            &catalog::TELEMETRY_HANDLER_FAILURE,
            &catalog::LLM_PROVIDER_RATE_LIMIT,
            &catalog::LLM_COST_THRESHOLD_EXCEEDED,
        ] {
            rules.insert(name.as_str().to_owned(), Level::Warn);
            rules.defaults.push(name.as_str().to_owned());
        }
        llm_telemetry_genai::catalog::register_categories();
        rules
    }
}

impl LevelRules {
    /// Phase defaults only (no `warn` defaults for the three attention-worthy catalog events).
    pub fn without_overrides() -> Self {
        Self {
            overrides: Vec::new(),
            defaults: Vec::new(),
        }
    }

    /// Gives every event named `name_or_prefix`, or under it, the level `level`. Replaces an earlier
    /// override of the same text. The text must be a valid event name (no `*`).
    pub fn set(&mut self, name_or_prefix: &str, level: Level) -> Result<(), LogError> {
        validate_event_name(name_or_prefix).map_err(|source| LogError::InvalidLevelPrefix {
            prefix: name_or_prefix.to_owned(),
            source,
        })?;
        self.defaults.retain(|d| d != name_or_prefix);
        self.insert(name_or_prefix.to_owned(), level);
        Ok(())
    }

    fn insert(&mut self, prefix: String, level: Level) {
        self.overrides.retain(|(p, _)| *p != prefix);
        self.overrides.push((prefix, level));
        // Longest first, so the first match is the most specific.
        self.overrides.sort_by_key(|o| std::cmp::Reverse(o.0.len()));
    }

    /// The level of `name`: the most specific override, else the phase default.
    pub fn level_of(&self, name: EventName) -> Level {
        match self.override_of(name) {
            Some((_, level)) => level,
            None => match name.phase() {
                "exception" => Level::Error,
                "start" => Level::Debug,
                _ => Level::Info,
            },
        }
    }

    /// The level of `event`: an override the user set for its name, else its own
    /// `event.severity`, else [`LevelRules::level_of`] its name.
    ///
    /// ```
    /// use llm_telemetry_core::{Event, EventName, Value};
    /// use llm_telemetry_log::{Level, LevelRules};
    /// let rules = LevelRules::default();
    /// let name = EventName::new("app.login.denied").unwrap();
    /// let metadata = [("event.severity", Value::Str("critical"))];
    /// assert_eq!(rules.level_for(&Event::new(name, &[], &metadata, None)), Level::Error);
    /// assert_eq!(rules.level_for(&Event::new(name, &[], &[], None)), Level::Info);
    /// ```
    pub fn level_for(&self, event: &Event<'_>) -> Level {
        let name = event.name();
        let user_override = self
            .override_of(name)
            .filter(|(prefix, _)| !self.defaults.iter().any(|d| d == prefix));
        if let Some((_, level)) = user_override {
            return level;
        }
        match Severity::explicit(event.str(SEVERITY_KEY)) {
            Some(severity) => Level::from_severity(severity),
            None => self.level_of(name),
        }
    }

    /// Whether a logger whose minimum is `min` must receive events named `name`: their
    /// default level passes, or they may carry a severity of their own that would (plain
    /// events that no user override and no catalog rule classify).
    pub fn may_want(&self, name: EventName, min: Level) -> bool {
        if self.level_of(name) >= min {
            return true;
        }
        let span_phase = matches!(name.phase(), "start" | "stop" | "exception");
        let classified = self.override_of(name).is_some()
            || llm_telemetry_core::Category::of(name, None).is_some();
        !span_phase && !classified
    }

    /// The most specific override covering `name`: its prefix and level.
    fn override_of(&self, name: EventName) -> Option<(&str, Level)> {
        self.overrides
            .iter()
            .find(|(prefix, _)| name.is_within(prefix))
            .map(|(prefix, level)| (prefix.as_str(), *level))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> EventName {
        EventName::new(s).unwrap()
    }

    #[test]
    fn phase_defaults_and_catalog_warnings() {
        let rules = LevelRules::default();
        assert_eq!(rules.level_of(name("llm.chat.stop")), Level::Info);
        assert_eq!(rules.level_of(name("llm.chat.start")), Level::Debug);
        assert_eq!(rules.level_of(name("llm.chat.exception")), Level::Error);
        assert_eq!(rules.level_of(name("cache.lookup.hit")), Level::Info);
        assert_eq!(
            rules.level_of(name("telemetry.handler.failure")),
            Level::Warn
        );
        assert_eq!(rules.level_of(name("llm.provider.rate_limit")), Level::Warn);
    }

    #[test]
    fn longest_override_wins_and_prefix_respects_segments() {
        let mut rules = LevelRules::without_overrides();
        rules.set("llm", Level::Trace).unwrap();
        rules.set("llm.chat", Level::Warn).unwrap();
        rules.set("llm.chat.exception", Level::Info).unwrap();
        assert_eq!(rules.level_of(name("llm.embed.stop")), Level::Trace);
        assert_eq!(rules.level_of(name("llm.chat.stop")), Level::Warn);
        assert_eq!(rules.level_of(name("llm.chat.exception")), Level::Info);
        // `llm.chat` must not cover `llm.chatter.stop`.
        assert_eq!(rules.level_of(name("llm.chatter.stop")), Level::Trace);
        rules.set("llm.chat", Level::Error).unwrap();
        assert_eq!(rules.level_of(name("llm.chat.stop")), Level::Error);
    }

    #[test]
    fn bad_prefix_and_level_are_typed_errors() {
        let mut rules = LevelRules::default();
        let err = rules.set("llm.*", Level::Info).unwrap_err();
        assert!(err.to_string().contains("llm.*"), "{err}");
        let err = "loud".parse::<Level>().unwrap_err();
        assert_eq!(err, ParseLevelError("loud".into()));
        assert_eq!("WARNING".parse::<Level>().unwrap(), Level::Warn);
        assert!(Level::Error > Level::Warn && Level::Debug < Level::Info);
    }
}
