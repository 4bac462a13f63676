//! Prometheus naming rules: validating and sanitizing metric names and label keys, and preparing
//! label values for the renderer.
//!
//! Metric names match `[a-zA-Z_:][a-zA-Z0-9_:]*` and label keys `[a-zA-Z_][a-zA-Z0-9_]*`; label
//! keys starting with `__` are reserved for Prometheus itself. The sanitizers replace every
//! invalid character by `_` (and never return an empty string), so that
//! `is_valid_metric_name(&sanitize_metric_name(x))` holds for every `x` (property-tested).
//!
//! Label values may hold any Unicode; they are escaped when rendered. `metrics-exporter-prometheus`
//! escapes quotes and newlines but treats a backslash as the start of an escape sequence that the
//! caller already wrote, so a raw `\"` would lose its backslash. [`prepare_label_value`] doubles
//! backslashes first, which makes the rendered value read back exactly as it was emitted.

/// Whether `c` may start a metric name.
fn metric_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

/// Whether `c` may appear after the first character of a metric name.
fn metric_rest(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Whether `c` may start a label key.
fn label_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

/// Whether `c` may appear after the first character of a label key.
fn label_rest(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn sanitize(text: &str, start: fn(char) -> bool, rest: fn(char) -> bool) -> String {
    if text.is_empty() {
        return "_".to_owned();
    }
    text.chars()
        .enumerate()
        .map(|(i, c)| {
            let ok = if i == 0 { start(c) } else { rest(c) };
            if ok { c } else { '_' }
        })
        .collect()
}

/// Whether `name` is a valid Prometheus metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
///
/// ```
/// use llm_telemetry_prometheus::sanitize::is_valid_metric_name;
/// assert!(is_valid_metric_name("gen_ai_client_token_usage"));
/// assert!(!is_valid_metric_name("gen_ai.client.token.usage"));
/// ```
pub fn is_valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(metric_start) && chars.all(metric_rest)
}

/// Whether `key` is a valid Prometheus label key (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting `__`).
///
/// ```
/// use llm_telemetry_prometheus::sanitize::is_valid_label_key;
/// assert!(is_valid_label_key("gen_ai_request_model"));
/// assert!(!is_valid_label_key("gen_ai.request.model"));
/// assert!(!is_valid_label_key("__name__"));
/// ```
pub fn is_valid_label_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(label_start) && chars.all(label_rest) && !key.starts_with("__")
}

/// Turns any text into a valid metric name: invalid characters become `_`; empty text becomes `_`.
///
/// ```
/// use llm_telemetry_prometheus::sanitize::sanitize_metric_name;
/// assert_eq!(sanitize_metric_name("gen_ai.client.token.usage"), "gen_ai_client_token_usage");
/// assert_eq!(sanitize_metric_name("1st"), "_st");
/// ```
pub fn sanitize_metric_name(name: &str) -> String {
    sanitize(name, metric_start, metric_rest)
}

/// Turns any text into a valid label key: invalid characters become `_`, a reserved leading `__`
/// gets an `l` prefix, and empty text becomes `_`.
///
/// ```
/// use llm_telemetry_prometheus::sanitize::sanitize_label_key;
/// assert_eq!(sanitize_label_key("gen_ai.request.model"), "gen_ai_request_model");
/// assert_eq!(sanitize_label_key("__name__"), "l__name__");
/// assert_eq!(sanitize_label_key("http:status"), "http_status");
/// ```
pub fn sanitize_label_key(key: &str) -> String {
    let sanitized = sanitize(key, label_start, label_rest);
    if sanitized.starts_with("__") {
        format!("l{sanitized}")
    } else {
        sanitized
    }
}

/// Prepares a label value for `metrics-exporter-prometheus`'s renderer so that it renders as an
/// exact, correctly escaped copy of `value` (see the module docs): backslashes are doubled.
pub fn prepare_label_value(value: &str) -> String {
    if value.contains('\\') {
        value.replace('\\', "\\\\")
    } else {
        value.to_owned()
    }
}

/// Reverses the exposition format's label-value escaping (`\\`, `\"`, `\n`); used by tests and
/// tools that read `/metrics` back.
pub fn unescape_label_value(rendered: &str) -> String {
    let mut out = String::with_capacity(rendered.len());
    let mut chars = rendered.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn sanitized_metric_names_are_valid(text in ".{0,64}") {
            let name = sanitize_metric_name(&text);
            prop_assert!(is_valid_metric_name(&name), "{text:?} -> {name:?}");
        }

        #[test]
        fn sanitized_label_keys_are_valid(text in ".{0,64}") {
            let key = sanitize_label_key(&text);
            prop_assert!(is_valid_label_key(&key), "{text:?} -> {key:?}");
        }

        #[test]
        fn valid_names_are_unchanged(text in "[a-zA-Z_:][a-zA-Z0-9_:]{0,40}") {
            prop_assert_eq!(sanitize_metric_name(&text), text);
        }

        #[test]
        fn valid_label_keys_are_unchanged(text in "[a-zA-Z][a-zA-Z0-9_]{0,40}") {
            prop_assert_eq!(sanitize_label_key(&text), text);
        }

        #[test]
        fn label_values_round_trip_through_the_renderer(text in "\\PC{0,64}|[\\\\\"\n a]{0,32}") {
            let rendered = metrics_exporter_prometheus::formatting::sanitize_label_value(
                &prepare_label_value(&text),
            );
            prop_assert!(!rendered.contains('\n'));
            prop_assert_eq!(unescape_label_value(&rendered), text);
        }
    }

    #[test]
    fn hostile_label_values_round_trip() {
        for value in [
            "a\"b",
            "a\\b",
            "\\\"",
            "line\nbreak",
            "trailing\\",
            "é🌍\u{0}",
            "",
        ] {
            let rendered = metrics_exporter_prometheus::formatting::sanitize_label_value(
                &prepare_label_value(value),
            );
            assert_eq!(unescape_label_value(&rendered), value, "{rendered}");
        }
    }
}
