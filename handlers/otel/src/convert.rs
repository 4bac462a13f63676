//! From one stop or exception event to one finished [`SpanData`], with no state kept between a
//! span's start and its stop.
//!
//! The stop event's [`llm_telemetry_core::SpanContext`] gives the trace id, span id, parent span id,
//! sampled flag and start time; its `duration` measurement (nanoseconds) gives the end. An
//! exception event becomes a span with status ERROR and an `exception` span event carrying
//! `exception.type` and `exception.message`; a stop naming an `error.type` has status ERROR too,
//! and any other span keeps status Unset, as the specification asks of instrumentation. Names: the MLX seed names (`mlx_lm.generate`,
//! `mlx_embedding.embed`) for provider `mlx`, GenAI's `{operation} {model}` otherwise, the event
//! prefix for spans that are not model calls; all overridable per prefix. An HTTP server request
//! span (`http.server.request`, from `llm-telemetry-tower`) is of kind SERVER and named
//! `{method} {route}` (the method alone without a route), as HTTP's semantic conventions ask.

use std::borrow::Cow;
use std::time::{Duration, UNIX_EPOCH};

use llm_telemetry_core::Event;
use llm_telemetry_genai::catalog::keys;
use opentelemetry::trace::{
    SpanContext as OtelSpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_sdk::trace::{SpanData, SpanEvents, SpanLinks};

use crate::attributes::{AttributeWriter, operation};
use crate::config::{Conventions, OtelConfig, Privacy, SpanNaming};
use crate::fields::Fields;

/// The instrumentation scope name on every span.
pub const SCOPE_NAME: &str = "llm-telemetry-otel";

/// Most span names kept for reuse (`{operation} {model}` pairs); later ones are allocated per
/// span. The kept names live for the rest of the process: at most this many short strings.
pub const MAX_INTERNED_NAMES: usize = 1024;
/// Longest span name kept for reuse.
const MAX_INTERNED_LEN: usize = 160;

/// The event prefix of request spans, which [`OtelConfig::request_span_prefix`] renames.
const REQUEST_PREFIX: &str = "llm.request";

/// The event prefix of HTTP server request spans (`llm-telemetry-tower`'s layer).
const HTTP_SERVER_PREFIX: &str = "http.server.request";

/// `{operation} {model}` (or the operation alone) as a `'static` name when it is one of the first
/// [`MAX_INTERNED_NAMES`] seen, so that the common case allocates nothing per span.
fn interned_name(op: &str, model: Option<&str>) -> Cow<'static, str> {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock, PoisonError};
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    thread_local! {
        static RECENT: std::cell::RefCell<Vec<&'static str>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let matches = |name: &str| match model {
        Some(m) => {
            name.len() == op.len() + 1 + m.len()
                && name.starts_with(op)
                && name.as_bytes()[op.len()] == b' '
                && name.ends_with(m)
        }
        None => name == op,
    };
    if let Some(hit) = RECENT.with(|r| r.borrow().iter().copied().find(|n| matches(n))) {
        return Cow::Borrowed(hit);
    }
    let full = match model {
        Some(m) => format!("{op} {m}"),
        None => op.to_owned(),
    };
    if full.len() > MAX_INTERNED_LEN {
        return Cow::Owned(full);
    }
    let mut names = NAMES
        .get_or_init(|| Mutex::new(HashSet::new()))
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let name: &'static str = match names.get(full.as_str()) {
        Some(existing) => existing,
        None if names.len() < MAX_INTERNED_NAMES => {
            // Bounded by MAX_INTERNED_NAMES short strings for the life of the process.
            let leaked: &'static str = Box::leak(full.into_boxed_str());
            names.insert(leaked);
            leaked
        }
        None => return Cow::Owned(full),
    };
    drop(names);
    RECENT.with(|r| {
        let mut recent = r.borrow_mut();
        if recent.len() >= 16 {
            recent.remove(0);
        }
        recent.push(name);
    });
    Cow::Borrowed(name)
}

/// Why an event did not become a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    /// The event carried no span context (not a span stop/exception).
    NoSpanContext,
    /// The event's phase is neither `stop` nor `exception`.
    NotAnEnd,
}

/// Turns events into spans according to the configuration.
#[derive(Clone, Debug)]
pub(crate) struct Converter {
    conventions: Conventions,
    privacy: Privacy,
    naming: SpanNaming,
    overrides: Vec<(String, String)>,
    request_prefix: Option<String>,
    scope: InstrumentationScope,
}

impl Converter {
    pub(crate) fn new(config: &OtelConfig) -> Self {
        // The tenant and service a trace's root names reach every span of the trace.
        llm_telemetry_genai::catalog::carry_trace_keys();
        Self {
            conventions: config.conventions,
            privacy: config.privacy,
            naming: config.span_naming,
            overrides: config.span_names.clone(),
            request_prefix: config.request_span_prefix.clone(),
            scope: InstrumentationScope::builder(SCOPE_NAME)
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        }
    }

    /// The finished span of a stop or exception event.
    pub(crate) fn convert(&self, event: &Event<'_>) -> Result<SpanData, Skip> {
        let context = event.span().ok_or(Skip::NoSpanContext)?;
        let name = event.name();
        let failed = match name.phase() {
            "stop" => false,
            "exception" => true,
            _ => return Err(Skip::NotAnEnd),
        };
        let prefix = name.prefix();
        let fields = Fields::new(event);
        let op = operation(prefix, &fields);
        let provider = fields.str(keys::PROVIDER);

        let start_time = UNIX_EPOCH + Duration::from_nanos(context.start_unix_nanos);
        let duration = fields
            .measurement(keys::DURATION)
            .filter(|d| d.is_finite() && *d >= 0.0)
            .unwrap_or(0.0);
        let end_time = start_time + Duration::from_nanos(duration as u64);

        let attributes = AttributeWriter {
            conventions: &self.conventions,
            privacy: &self.privacy,
        }
        .write(&fields, op, failed);

        let mut events = SpanEvents::default();
        let status = if failed {
            let kind = fields.str(keys::EXCEPTION_TYPE).unwrap_or("exception");
            let message = fields.str(keys::EXCEPTION_MESSAGE).unwrap_or("");
            events.events.push(opentelemetry::trace::Event::new(
                "exception",
                end_time,
                vec![
                    KeyValue::new(keys::EXCEPTION_TYPE, kind.to_owned()),
                    KeyValue::new(keys::EXCEPTION_MESSAGE, message.to_owned()),
                ],
                0,
            ));
            Status::error(if message.is_empty() {
                kind.to_owned()
            } else {
                message.to_owned()
            })
        } else if let Some(error_type) = fields.str(keys::ERROR_TYPE) {
            // A stop that names an error class (a provider's 429 or 5xx) ended in error.
            Status::error(error_type.to_owned())
        } else {
            // The specification: instrumentation leaves a successful span's status unset (Ok is
            // for an application that overrides a failure).
            Status::Unset
        };

        let flags = if context.is_sampled() {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let span_kind = match (op, provider) {
            _ if prefix == HTTP_SERVER_PREFIX => SpanKind::Server,
            (Some(_), Some("mlx")) | (None, _) => SpanKind::Internal,
            (Some(_), _) => SpanKind::Client,
        };
        Ok(SpanData {
            span_context: OtelSpanContext::new(
                TraceId::from_bytes(context.trace_id.to_bytes()),
                SpanId::from_bytes(context.span_id.to_bytes()),
                flags,
                false,
                TraceState::NONE,
            ),
            parent_span_id: context
                .parent_span_id
                .map_or(SpanId::INVALID, |p| SpanId::from_bytes(p.to_bytes())),
            parent_span_is_remote: false,
            span_kind,
            name: self.span_name(prefix, op, provider, &fields),
            start_time,
            end_time,
            attributes,
            dropped_attributes_count: 0,
            events,
            links: SpanLinks::default(),
            status,
            instrumentation_scope: self.scope.clone(),
        })
    }

    fn span_name(
        &self,
        prefix: &'static str,
        op: Option<&str>,
        provider: Option<&str>,
        fields: &Fields<'_, '_>,
    ) -> Cow<'static, str> {
        if let Some((_, name)) = self.overrides.iter().find(|(p, _)| p == prefix) {
            return Cow::Owned(name.clone());
        }
        if prefix == HTTP_SERVER_PREFIX {
            if let Some(method) = fields.str("http.request.method") {
                return interned_name(method, fields.str("http.route"));
            }
        }
        if let (Some(request_prefix), Some(op)) = (&self.request_prefix, op) {
            if prefix == REQUEST_PREFIX {
                return Cow::Owned(format!("{request_prefix}{op}"));
            }
        }
        let genai = || match op {
            Some(op) => match fields.str(keys::MODEL).or(fields.str(keys::RESPONSE_MODEL)) {
                Some(model) => interned_name(op, Some(model)),
                None => interned_name(op, None),
            },
            None => Cow::Borrowed(prefix),
        };
        match self.naming {
            SpanNaming::EventPrefix => Cow::Borrowed(prefix),
            SpanNaming::GenAi => genai(),
            SpanNaming::Seed => match (provider, op) {
                (Some("mlx"), Some("embeddings")) => Cow::Borrowed("mlx_embedding.embed"),
                (Some("mlx"), Some(_)) => Cow::Borrowed("mlx_lm.generate"),
                _ => genai(),
            },
        }
    }
}
