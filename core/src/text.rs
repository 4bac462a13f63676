//! The one grammar that configuration text shares across the workspace: [`parse_bool`], used by
//! the facade's configuration and by every handler that reads its own environment variables, so
//! a boolean means the same thing wherever it is written.

/// The words [`parse_bool`] accepts, for error messages: `"true", "false", "1", "0", "yes",
/// "no", "on", "off"` (any case, surrounding spaces ignored).
pub const BOOL_WORDS: &str = "a boolean: true, false, 1, 0, yes, no, on or off (any case)";

/// Reads a boolean from configuration text: `true`/`1`/`yes`/`on` and `false`/`0`/`no`/`off`,
/// in any case, surrounding spaces ignored. Anything else is `None` (the caller's error names
/// the setting and [`BOOL_WORDS`]).
///
/// ```
/// use llm_telemetry_core::text::parse_bool;
/// assert_eq!(parse_bool(" On "), Some(true));
/// assert_eq!(parse_bool("NO"), Some(false));
/// assert_eq!(parse_bool("enabled"), None);
/// ```
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}
