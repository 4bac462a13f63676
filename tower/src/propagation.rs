//! W3C Trace Context on HTTP headers: reading `traceparent`/`tracestate` from a request and
//! writing `traceparent`/`traceresponse` (or an outgoing `traceparent`) from a span context.
//!
//! An invalid `traceparent` is ignored (the request starts a new trace), and so is the
//! `tracestate` that came with it, as the specification asks.

use http::HeaderMap;
use http::header::HeaderValue;
use llm_telemetry_core::{SpanContext, TraceParent};

use crate::names::headers;

/// The most `tracestate` list members the specification allows.
const MAX_TRACESTATE_MEMBERS: usize = 32;
/// The longest `tracestate` kept (the specification's propagation limit).
const MAX_TRACESTATE_LEN: usize = 512;

/// The trace context a request arrived with. Inserted into the request's extensions by the
/// layer, so that handlers can pass `tracestate` on to the calls they make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncomingContext {
    /// The caller's valid `traceparent`.
    pub traceparent: TraceParent,
    /// Its `tracestate`, when present and well formed.
    pub tracestate: Option<String>,
}

/// Reads `traceparent` (and `tracestate`) from `headers`: `None` when absent, repeated or invalid.
///
/// ```
/// use http::HeaderMap;
/// use llm_telemetry_tower::propagation::extract;
/// let mut headers = HeaderMap::new();
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// headers.insert("tracestate", "vendor=abc".parse().unwrap());
/// let incoming = extract(&headers).unwrap();
/// assert_eq!(incoming.tracestate.as_deref(), Some("vendor=abc"));
/// headers.insert("traceparent", "00-zzzz-00f067aa0ba902b7-01".parse().unwrap());
/// assert!(extract(&headers).is_none());
/// ```
pub fn extract(headers: &HeaderMap) -> Option<IncomingContext> {
    let mut values = headers.get_all(headers::TRACEPARENT).iter();
    let value = values.next()?;
    if values.next().is_some() {
        // Two parents: neither can be trusted.
        return None;
    }
    let traceparent = TraceParent::parse(value.to_str().ok()?).ok()?;
    Some(IncomingContext {
        traceparent,
        tracestate: tracestate(headers),
    })
}

/// The combined `tracestate` values, when every member is `key=value` and the whole stays
/// within the specification's limits.
fn tracestate(headers: &HeaderMap) -> Option<String> {
    let mut combined = String::new();
    for value in headers.get_all(headers::TRACESTATE) {
        let value = value.to_str().ok()?;
        for member in value.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            let (key, val) = member.split_once('=')?;
            if key.is_empty() || val.is_empty() || key.contains(' ') {
                return None;
            }
            if !combined.is_empty() {
                combined.push(',');
            }
            combined.push_str(member);
        }
    }
    let members = combined.split(',').count();
    (!combined.is_empty()
        && members <= MAX_TRACESTATE_MEMBERS
        && combined.len() <= MAX_TRACESTATE_LEN)
        .then_some(combined)
}

/// The header value of `context` as a `traceparent` (`00-<trace>-<span>-<flags>`).
pub fn header_value(context: &SpanContext) -> Option<HeaderValue> {
    // Only hex digits and dashes: always a valid header value, but no unwrap for it.
    HeaderValue::from_str(&context.traceparent().to_string()).ok()
}

/// Sets `traceparent` to `context` on an outgoing request, replacing any already there.
pub fn inject(headers: &mut HeaderMap, context: &SpanContext) {
    if let Some(value) = header_value(context) {
        headers.insert(headers::TRACEPARENT, value);
    }
}

/// Sets `traceparent` and `traceresponse` to the server's span on a response.
pub fn inject_response(headers: &mut HeaderMap, context: &SpanContext) {
    if let Some(value) = header_value(context) {
        headers.insert(headers::TRACERESPONSE, value.clone());
        headers.insert(headers::TRACEPARENT, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (k, v) in pairs {
            headers.append(*k, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn tracestate_is_dropped_with_an_invalid_parent_and_when_malformed() {
        assert!(extract(&with(&[("traceparent", "garbage"), ("tracestate", "a=b")])).is_none());
        let bad = extract(&with(&[("traceparent", TP), ("tracestate", "novalue")])).unwrap();
        assert_eq!(bad.tracestate, None);
        let joined = extract(&with(&[
            ("traceparent", TP),
            ("tracestate", "a=1"),
            ("tracestate", "b=2"),
        ]))
        .unwrap();
        assert_eq!(joined.tracestate.as_deref(), Some("a=1,b=2"));
        let too_many: Vec<String> = (0..33).map(|i| format!("k{i}=v")).collect();
        let many = extract(&with(&[
            ("traceparent", TP),
            ("tracestate", &too_many.join(",")),
        ]));
        assert_eq!(many.unwrap().tracestate, None);
    }

    #[test]
    fn two_traceparents_are_ignored() {
        assert!(extract(&with(&[("traceparent", TP), ("traceparent", TP)])).is_none());
    }
}
