//! [`TelemetryLevel`]: how much the instrumentation helpers emit.
//!
//! The level is data, carried by an [`crate::instrument::Instrumentation`] handle (no global
//! state). It only gates what the helpers emit; events emitted by hand with [`llm_telemetry_core::Bus::execute`]
//! are not affected.

use std::fmt;
use std::str::FromStr;

/// How much the instrumentation helpers emit. Levels are ordered: each includes the one before.
///
/// | level | spans, token counts, cache and provider events, first token | prompt and response text | per-token events |
/// |---|---|---|---|
/// | `disabled` | no | no | no |
/// | `basic` | yes | no | no |
/// | `detailed` | yes | yes | no |
/// | `verbose` | yes | yes | yes |
///
/// `llm.stream.first_token` is emitted from `basic` on: time to first token is a latency figure,
/// not content, and dashboards need it.
///
/// ```
/// use llm_telemetry_genai::instrument::TelemetryLevel;
/// let level: TelemetryLevel = "detailed".parse().unwrap();
/// assert!(level.records_content());
/// assert!(!level.records_tokens());
/// assert!(TelemetryLevel::Verbose > level);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TelemetryLevel {
    /// Emit nothing.
    Disabled,
    /// Spans and events with measurements and low-cardinality metadata; no prompt or response text.
    Basic,
    /// Basic plus prompt and response text (`input.value`, `output.value`).
    #[default]
    Detailed,
    /// Detailed plus one `llm.stream.token` event per streamed token.
    Verbose,
}

impl TelemetryLevel {
    /// Every level, lowest first.
    pub const ALL: [TelemetryLevel; 4] = [
        TelemetryLevel::Disabled,
        TelemetryLevel::Basic,
        TelemetryLevel::Detailed,
        TelemetryLevel::Verbose,
    ];

    /// Whether anything is emitted.
    pub fn is_enabled(self) -> bool {
        self > TelemetryLevel::Disabled
    }
    /// Whether prompt and response text is attached (`detailed` and `verbose`).
    pub fn records_content(self) -> bool {
        self >= TelemetryLevel::Detailed
    }
    /// Whether one event per streamed token is emitted (`verbose`).
    pub fn records_tokens(self) -> bool {
        self >= TelemetryLevel::Verbose
    }
    /// The lowercase name (`"basic"`), as written in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            TelemetryLevel::Disabled => "disabled",
            TelemetryLevel::Basic => "basic",
            TelemetryLevel::Detailed => "detailed",
            TelemetryLevel::Verbose => "verbose",
        }
    }
}

impl fmt::Display for TelemetryLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not a telemetry level.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown telemetry level `{0}`: expected one of disabled, basic, detailed, verbose")]
pub struct ParseLevelError(pub String);

impl FromStr for TelemetryLevel {
    type Err = ParseLevelError;
    /// Parses a level name, ignoring ASCII case and surrounding blanks (`off` means `disabled`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        TelemetryLevel::ALL
            .into_iter()
            .find(|level| level.as_str().eq_ignore_ascii_case(trimmed))
            .or_else(|| {
                trimmed
                    .eq_ignore_ascii_case("off")
                    .then_some(TelemetryLevel::Disabled)
            })
            .ok_or_else(|| ParseLevelError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_case_insensitively_and_rejects_others() {
        for level in TelemetryLevel::ALL {
            assert_eq!(level.as_str().parse::<TelemetryLevel>(), Ok(level));
            assert_eq!(
                level.as_str().to_uppercase().parse::<TelemetryLevel>(),
                Ok(level)
            );
        }
        assert_eq!(
            " off ".parse::<TelemetryLevel>(),
            Ok(TelemetryLevel::Disabled)
        );
        let error = "loud".parse::<TelemetryLevel>().unwrap_err();
        assert_eq!(error, ParseLevelError("loud".to_owned()));
        assert!(
            error
                .to_string()
                .contains("disabled, basic, detailed, verbose")
        );
    }

    #[test]
    fn each_level_includes_the_one_before() {
        use TelemetryLevel::*;
        assert!(!Disabled.is_enabled());
        assert!(Basic.is_enabled() && !Basic.records_content());
        assert!(Detailed.records_content() && !Detailed.records_tokens());
        assert!(Verbose.records_content() && Verbose.records_tokens());
    }
}
