//! Line formats: [`Format::Console`] for people ([`console`]) and [`Format::Json`] for log
//! pipelines ([`json`]), and the formatter that renders one event with redaction applied.

pub mod console;
pub mod json;

use std::sync::Arc;

use llm_telemetry_core::{Clock, Event};

use crate::level::Level;
use crate::redact::{KeyCache, Redactor};
use crate::time::event_time;

/// How each event is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// One readable line: time, level, event, measurements with units, metadata, short ids.
    #[default]
    Console,
    /// One JSON object per line with stable fields (see [`json`]).
    Json,
}

/// Whether console lines carry ANSI colours.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    /// Colour when the sink is a terminal and `NO_COLOR` is unset or empty.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

impl ColorChoice {
    /// Resolves `Auto` for a sink that is (or is not) a terminal, reading `NO_COLOR`.
    pub fn resolve(self, sink_is_terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                sink_is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        }
    }
}

/// Renders events as lines: format, redaction, global fields, clock.
#[derive(Clone)]
pub(crate) struct Formatter {
    pub(crate) format: Format,
    pub(crate) redactor: Redactor,
    pub(crate) globals: Vec<(String, String)>,
    pub(crate) colour: bool,
    pub(crate) clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Formatter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Formatter")
            .field("format", &self.format)
            .field("globals", &self.globals)
            .field("colour", &self.colour)
            .finish_non_exhaustive()
    }
}

impl Formatter {
    /// Appends the line for `event` at `level` to `out`, without the newline. Returns how many
    /// keys or values redaction changed. `cache` remembers key verdicts between calls.
    pub(crate) fn write(
        &self,
        out: &mut Vec<u8>,
        cache: &mut KeyCache,
        event: &Event<'_>,
        level: Level,
    ) -> u64 {
        let unix_nanos = event_time(event, &*self.clock);
        match self.format {
            Format::Json => json::write(
                out,
                event,
                level,
                unix_nanos,
                &self.redactor,
                cache,
                &self.globals,
            ),
            Format::Console => console::write(
                out,
                event,
                level,
                unix_nanos,
                &self.redactor,
                cache,
                &self.globals,
                self.colour,
            ),
        }
    }
}
