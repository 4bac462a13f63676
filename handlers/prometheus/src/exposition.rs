//! The two exposition formats `/metrics` speaks, and choosing between them.
//!
//! - [`Format::Text`]: the Prometheus text format 0.0.4 (`text/plain; version=0.0.4`), what
//!   every scraper reads.
//! - [`Format::OpenMetrics`]: OpenMetrics 1.0 text (`application/openmetrics-text;
//!   version=1.0.0`), which Prometheus asks for first. It differs in what matters here: a counter
//!   family is named without its `_total` suffix, `# HELP` escapes quotes too, there are no blank
//!   lines, the output ends with `# EOF`, and sample lines may carry an **exemplar**
//!   (` # {trace_id="…",span_id="…"} <value> <timestamp>`): the latest observation made in a span,
//!   on counter samples and histogram buckets (see `crate::exemplar`).
//!
//! The reporter's own series are written straight from their atomics by [`write_table_from`] (no
//! intermediate registry, no per-line allocation); what the `metrics-exporter-prometheus`
//! recorder holds (the self-metrics) is rendered by its handle in the text format and converted
//! by [`openmetrics_from_text`]. [`Format::negotiate`] reads an `Accept` header as Prometheus
//! writes it, with quality values.

use std::ops::ControlFlow;

use crate::definition::MetricKind;
use crate::exemplar::Exemplar;
use crate::histogram::BucketHistogram;
use crate::series::{SeriesHandle, SeriesTable};

/// The content type of the text format 0.0.4.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The content type of OpenMetrics 1.0 text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// An exposition format of `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4 (no exemplars).
    #[default]
    Text,
    /// OpenMetrics 1.0 text, with exemplars.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }

    /// The format to answer a request whose `Accept` header is `accept` (`None`: no header):
    /// OpenMetrics when `application/openmetrics-text` is acceptable (`q` > 0) and preferred at
    /// least as much as `text/plain` (or `text/*`, `*/*`); the text format otherwise.
    /// Prometheus 2.x sends `application/openmetrics-text;version=1.0.0,…,text/plain;
    /// version=0.0.4;q=0.5,*/*;q=0.1`, so it gets OpenMetrics; `curl` (`*/*`) gets text.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let (mut openmetrics, mut text) = (0.0f32, 0.0f32);
        for range in accept.split(',') {
            let mut params = range.split(';');
            let media = params.next().unwrap_or("").trim();
            let q = params
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if media.eq_ignore_ascii_case("application/openmetrics-text") {
                openmetrics = openmetrics.max(q);
            } else if ["text/plain", "text/*", "*/*"]
                .iter()
                .any(|m| media.eq_ignore_ascii_case(m))
            {
                text = text.max(q);
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// Writes one metric family of the reporter (nothing before its first series) from its
/// series at position `from` on (`0`: from the start, its `# HELP`/`# TYPE` first), stopping
/// after the series that brings `out` to `limit` bytes or more: returns the position to resume from, or `None` once the family is
/// complete. This is how `/metrics` streams a large page a part at a time (see
/// `crate::reporter::RenderStream`; a whole family is one call with `usize::MAX`). `now_ms`
/// stamps exemplars seen for the first time (see `crate::exemplar`).
pub(crate) fn write_table_from(
    out: &mut String,
    table: &SeriesTable,
    help: &str,
    format: Format,
    now_ms: u64,
    from: usize,
    limit: usize,
) -> Option<usize> {
    if from == 0 && table.is_empty() {
        return None;
    }
    let full = |out: &String| {
        if out.len() >= limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    };
    let name = table.name();
    let openmetrics = format == Format::OpenMetrics;
    let next = match table.kind() {
        MetricKind::Counter | MetricKind::Sum => {
            // OpenMetrics names a counter family without `_total`; a counter named otherwise
            // cannot be an OpenMetrics counter, so it is declared `unknown` there.
            let (family, kind) = match (openmetrics, name.strip_suffix("_total")) {
                (false, _) => (name, "counter"),
                (true, Some(family)) => (family, "counter"),
                (true, None) => (name, "unknown"),
            };
            let exemplars = openmetrics && kind == "counter";
            if from == 0 {
                write_header(out, family, help, kind, format);
            }
            table.for_each_series_from(from, |labels, handle| {
                let (value, exemplar) = match handle {
                    SeriesHandle::Counter { count, exemplar } => (
                        Value::Int(count.load(std::sync::atomic::Ordering::Relaxed)),
                        exemplar,
                    ),
                    SeriesHandle::Gauge { bits, exemplar } => (
                        Value::Float(f64::from_bits(
                            bits.load(std::sync::atomic::Ordering::Relaxed),
                        )),
                        exemplar,
                    ),
                    SeriesHandle::Histogram(_) => return ControlFlow::Continue(()),
                };
                let exemplar = exemplars.then(|| exemplar.read(now_ms)).flatten();
                write_sample(out, name, "", labels, None, value, exemplar.as_ref());
                full(out)
            })
        }
        MetricKind::LastValue | MetricKind::UpDown => {
            if from == 0 {
                write_header(out, name, help, "gauge", format);
            }
            table.for_each_series_from(from, |labels, handle| {
                if let SeriesHandle::Gauge { bits, .. } = handle {
                    let value = f64::from_bits(bits.load(std::sync::atomic::Ordering::Relaxed));
                    write_sample(out, name, "", labels, None, Value::Float(value), None);
                }
                full(out)
            })
        }
        MetricKind::Distribution => {
            if from == 0 {
                write_header(out, name, help, "histogram", format);
            }
            let mut bounds: Vec<String> = Vec::new();
            table.for_each_series_from(from, |labels, handle| {
                if let SeriesHandle::Histogram(h) = handle {
                    if bounds.is_empty() {
                        bounds = h.bounds().iter().map(|b| float_text(*b)).collect();
                    }
                    write_histogram(out, name, labels, h, &bounds, format, now_ms);
                }
                full(out)
            })
        }
    };
    if next.is_none() && !openmetrics {
        out.push('\n');
    }
    next
}

/// Writes the `_bucket`, `_sum` and `_count` lines of one histogram series; `bounds` are its
/// upper bounds as `le` values. Bucket exemplars in OpenMetrics only.
pub(crate) fn write_histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    histogram: &BucketHistogram,
    bounds: &[String],
    format: Format,
    now_ms: u64,
) {
    let openmetrics = format == Format::OpenMetrics;
    let mut cumulative = 0u64;
    let les = bounds.iter().map(String::as_str).chain(["+Inf"]);
    for (i, le) in les.enumerate() {
        cumulative += histogram.bucket_count(i);
        let exemplar = openmetrics.then(|| histogram.exemplar(i, now_ms)).flatten();
        write_sample(
            out,
            name,
            "_bucket",
            labels,
            Some(le),
            Value::Int(cumulative),
            exemplar.as_ref(),
        );
    }
    let sum = Value::Float(histogram.sum());
    write_sample(out, name, "_sum", labels, None, sum, None);
    write_sample(
        out,
        name,
        "_count",
        labels,
        None,
        Value::Int(cumulative),
        None,
    );
}

/// A sample's value.
#[derive(Clone, Copy)]
enum Value {
    Int(u64),
    Float(f64),
}

/// Writes `# HELP` and `# TYPE` of a family.
fn write_header(out: &mut String, family: &str, help: &str, kind: &str, format: Format) {
    out.push_str("# HELP ");
    out.push_str(family);
    out.push(' ');
    push_help(out, help, format);
    out.push_str("\n# TYPE ");
    out.push_str(family);
    out.push(' ');
    out.push_str(kind);
    out.push('\n');
}

/// Appends a help text escaped for `format`: `\` and newlines in both, `"` in OpenMetrics.
fn push_help(out: &mut String, help: &str, format: Format) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if format == Format::OpenMetrics => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Writes `name<suffix>{labels[,le="…"]} value[ exemplar]\n`; `labels` are rendered already.
fn write_sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &str,
    le: Option<&str>,
    value: Value,
    exemplar: Option<&Exemplar>,
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() || le.is_some() {
        out.push('{');
        out.push_str(labels);
        if let Some(le) = le {
            if !labels.is_empty() {
                out.push(',');
            }
            out.push_str("le=\"");
            out.push_str(le);
            out.push('"');
        }
        out.push('}');
    }
    out.push(' ');
    match value {
        Value::Int(v) => push_u64(out, v),
        Value::Float(v) => push_value(out, v),
    }
    if let Some(exemplar) = exemplar {
        write_exemplar(out, exemplar);
    }
    out.push('\n');
}

/// Writes ` # {trace_id="…",span_id="…"} <value> <timestamp>`, the OpenMetrics exemplar of a
/// sample line (before its newline).
fn write_exemplar(out: &mut String, exemplar: &Exemplar) {
    out.push_str(" # {trace_id=\"");
    push_hex(out, exemplar.trace_id, 32);
    out.push_str("\",span_id=\"");
    push_hex(out, u128::from(exemplar.span_id), 16);
    out.push_str("\"} ");
    push_value(out, exemplar.value);
    out.push(' ');
    push_u64(out, exemplar.timestamp_ms / 1000);
    out.push('.');
    let ms = exemplar.timestamp_ms % 1000;
    for digit in [ms / 100, ms / 10 % 10, ms % 10] {
        out.push(char::from(b'0' + digit as u8));
    }
}

/// Appends the low `digits` (at most 32) hex digits of `value`, zero-padded, lowercase.
fn push_hex(out: &mut String, value: u128, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = [b'0'; 32];
    let digits = digits.min(32);
    for (i, byte) in text[..digits].iter_mut().rev().enumerate() {
        *byte = HEX[((value >> (4 * i)) & 0xf) as usize];
    }
    // Hex digits are ASCII.
    out.push_str(std::str::from_utf8(&text[..digits]).unwrap_or_default());
}

/// Appends an integer in decimal.
fn push_u64(out: &mut String, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    // Decimal digits are ASCII.
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}

/// Appends a float as both formats write it: the shortest exact decimal, `+Inf`, `-Inf`, `NaN`.
pub(crate) fn push_value(out: &mut String, value: f64) {
    use std::fmt::Write as _;
    // Whole numbers (counts, token sums) as integers: what `Display` writes, without its cost.
    if value.fract() == 0.0 && value.abs() < 1e15 {
        if value < 0.0 {
            out.push('-');
        }
        push_u64(out, value.abs() as u64);
    } else if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        // Writing into a String cannot fail.
        let _ = write!(out, "{value}");
    }
}

/// A float as [`push_value`] writes it.
fn float_text(value: f64) -> String {
    let mut out = String::new();
    push_value(&mut out, value);
    out
}

/// Converts text-format output of the exporter's handle (families of counters, gauges,
/// histograms and summaries with `# HELP`/`# TYPE` lines) to OpenMetrics, appending to `out`:
/// counter families lose their `_total` suffix (or become `unknown` without one), `untyped`
/// becomes `unknown`, help texts escape quotes, blank lines go. Without the final `# EOF`.
pub(crate) fn openmetrics_from_text(text: &str, out: &mut String) {
    let mut pending_help: Option<(&str, &str)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            flush_help(out, pending_help.take());
            pending_help = rest.split_once(' ').or(Some((rest, "")));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (family, kind) = match kind {
                "counter" => match name.strip_suffix("_total") {
                    Some(family) => (family, "counter"),
                    None => (name, "unknown"),
                },
                "untyped" => (name, "unknown"),
                kind => (name, kind),
            };
            match pending_help.take() {
                Some((help_name, help)) if help_name == name => {
                    flush_help(out, Some((family, help)));
                }
                other => flush_help(out, other),
            }
            out.push_str("# TYPE ");
            out.push_str(family);
            out.push(' ');
            out.push_str(kind);
            out.push('\n');
        } else if line.is_empty() || line.starts_with('#') {
            // Blank lines and other comments are not OpenMetrics.
        } else {
            flush_help(out, pending_help.take());
            out.push_str(line);
            out.push('\n');
        }
    }
    flush_help(out, pending_help);
}

/// Writes a held `# HELP` line (already escaped for the text format) for OpenMetrics.
fn flush_help(out: &mut String, help: Option<(&str, &str)>) {
    let Some((name, help)) = help else {
        return;
    };
    out.push_str("# HELP ");
    out.push_str(name);
    out.push(' ');
    for c in help.chars() {
        if c == '"' {
            out.push_str("\\\"");
        } else {
            out.push(c);
        }
    }
    out.push('\n');
}

/// The line that ends an OpenMetrics exposition.
pub(crate) const EOF: &str = "# EOF\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_as_prometheus_and_curl_ask() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(
            Format::negotiate(Some(
                "text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4"
            )),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text; q=0")),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some("Application/OpenMetrics-Text")),
            Format::OpenMetrics
        );
    }

    #[test]
    fn exemplars_and_numbers_are_written_as_openmetrics_asks() {
        let mut out = String::new();
        let e = Exemplar {
            trace_id: 0x4bf92f3577b34da6a3ce929d0e0e4736,
            span_id: 0x00f067aa0ba902b7,
            value: 0.25,
            timestamp_ms: 1_700_000_000_007,
        };
        write_sample(
            &mut out,
            "x",
            "_bucket",
            "a=\"b\"",
            Some("0.5"),
            Value::Int(3),
            Some(&e),
        );
        assert_eq!(
            out,
            "x_bucket{a=\"b\",le=\"0.5\"} 3 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\",span_id=\"00f067aa0ba902b7\"} 0.25 1700000000.007\n"
        );
        let mut out = String::new();
        for v in [0.0, 1.5, 1e21, f64::INFINITY, f64::NEG_INFINITY, f64::NAN] {
            push_value(&mut out, v);
            out.push(' ');
        }
        push_u64(&mut out, 0);
        out.push(' ');
        push_u64(&mut out, u64::MAX);
        assert_eq!(
            out,
            "0 1.5 1000000000000000000000 +Inf -Inf NaN 0 18446744073709551615"
        );
    }

    #[test]
    fn exporter_text_becomes_openmetrics() {
        let text = "# HELP a_total Says \"a\".\\nTwo lines.\n# TYPE a_total counter\na_total{x=\"1\"} 2\n\n\
                    # TYPE b counter\nb 1\n\n# HELP g A gauge.\n# TYPE g gauge\ng 0.5\n\n\
                    # TYPE u untyped\nu 1\n";
        let mut out = String::new();
        openmetrics_from_text(text, &mut out);
        assert_eq!(
            out,
            "# HELP a Says \\\"a\\\".\\nTwo lines.\n# TYPE a counter\na_total{x=\"1\"} 2\n\
             # TYPE b unknown\nb 1\n# HELP g A gauge.\n# TYPE g gauge\ng 0.5\n# TYPE u unknown\nu 1\n"
        );
    }
}
