//! [`Call`], the span every helper wraps, and [`run_traced`], the closure runner they share.
//!
//! A `Call` is an [`ActiveSpan`] that may be absent: absent when the level is `disabled` or
//! nobody listens, so that the helpers build no metadata and read no clock in that case.
//! Nothing here knows about generation, embeddings or providers.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use crate::catalog::keys;
use llm_telemetry_core::bus::panic_message;
use llm_telemetry_core::context::{self, ContextGuard, SpanContext};
use llm_telemetry_core::event::Value;
use llm_telemetry_core::span::{ActiveSpan, SpanRecorder};

/// The accessors every typed span wrapper (generation, embedding, request, provider request)
/// shares, delegating to its `call: Call` field: one definition instead of four copies.
macro_rules! call_accessors {
    () => {
        /// Whether the span is recorded (someone listens and the level is enabled).
        pub fn is_recording(&self) -> bool {
            self.call.is_recording()
        }

        /// The span's context, when recorded (e.g. for an outgoing `traceparent` header).
        pub fn context(&self) -> Option<llm_telemetry_core::context::SpanContext> {
            self.call.context()
        }

        /// Makes the span current until the guard drops, so nested events become its children.
        #[must_use = "the span is current only while the guard lives"]
        pub fn enter(&self) -> llm_telemetry_core::context::ContextGuard {
            self.call.enter()
        }

        /// The recorder, to add measurements or metadata of your own to the stop event (`None`
        /// when not recorded).
        pub fn recorder(&mut self) -> Option<&mut llm_telemetry_core::span::SpanRecorder> {
            self.call.recorder()
        }
    };
}
pub(crate) use call_accessors;

/// `fail` and `fail_with` for the span wrappers that describe errors of any type.
macro_rules! call_failures {
    () => {
        /// Ends the span with an exception: `error.type` and `exception.type` set to
        /// `error_type`, `exception.message` to `message`.
        pub fn fail(mut self, error_type: &str, message: &str) {
            self.call.fail(error_type, error_type, message);
        }

        /// Ends the span with an exception describing `error`: `exception.type` is its type
        /// name, `error.type` is `error_type` (a low-cardinality class such as `rate_limit`).
        pub fn fail_with<E: std::fmt::Display + ?Sized>(mut self, error_type: &str, error: &E) {
            self.call.fail(
                error_type,
                &$crate::instrument::call::short_type_name::<E>(),
                &error.to_string(),
            );
        }
    };
}
pub(crate) use call_failures;

/// A span that is recorded (`Some`) or not (`None`).
#[derive(Debug, Default)]
pub(crate) struct Call {
    pub(crate) span: Option<ActiveSpan>,
}

impl Call {
    /// A call that records nothing.
    pub(crate) fn none() -> Self {
        Self { span: None }
    }

    /// Wraps a started span, keeping it only if it is recorded.
    pub(crate) fn from_span(span: ActiveSpan) -> Self {
        Self {
            span: span.is_recording().then_some(span),
        }
    }

    pub(crate) fn is_recording(&self) -> bool {
        self.span.is_some()
    }

    pub(crate) fn context(&self) -> Option<SpanContext> {
        self.span.as_ref().and_then(ActiveSpan::context)
    }

    /// Makes the span current (or keeps the current one when not recorded).
    pub(crate) fn enter(&self) -> ContextGuard {
        match &self.span {
            Some(span) => span.enter(),
            None => context::enter(context::current()),
        }
    }

    pub(crate) fn recorder(&mut self) -> Option<&mut SpanRecorder> {
        self.span.as_mut().map(ActiveSpan::recorder)
    }

    /// Emits stop with `status = "ok"`.
    pub(crate) fn stop_ok(&mut self) {
        if let Some(span) = self.span.take() {
            span.stop_with(&[(keys::STATUS, Value::Str(keys::STATUS_OK))]);
        }
    }

    /// Emits exception with `error.type`, `exception.type` and `exception.message`.
    pub(crate) fn fail(&mut self, error_type: &str, exception_type: &str, message: &str) {
        if let Some(mut span) = self.span.take() {
            span.recorder().set(keys::ERROR_TYPE, error_type);
            span.exception(exception_type, message);
        }
    }
}

/// A helper span that [`run_traced`] can drive.
pub(crate) trait Traced {
    /// Makes the span current.
    fn enter_span(&self) -> ContextGuard;
    /// Ends the span with an exception.
    fn fail_span(self, error_type: &str, exception_type: &str, message: &str);
}

/// Runs `f` with `span` current; `Ok` goes to `finish`, `Err` and panics end the span with an
/// exception (a panic then resumes unwinding).
pub(crate) fn run_traced<S, T, E>(
    span: S,
    f: impl FnOnce() -> Result<T, E>,
    finish: impl FnOnce(S, &T),
) -> Result<T, E>
where
    S: Traced,
    E: fmt::Display,
{
    run_traced_failing(span, f, finish, |span, error| {
        let kind = short_type_name::<E>();
        span.fail_span(&kind, &kind, &error.to_string());
    })
}

/// [`run_traced`] with the caller deciding how an `Err` ends the span.
pub(crate) fn run_traced_failing<S: Traced, T, E>(
    span: S,
    f: impl FnOnce() -> Result<T, E>,
    finish: impl FnOnce(S, &T),
    fail: impl FnOnce(S, &E),
) -> Result<T, E> {
    let result = {
        let _entered = span.enter_span();
        catch_unwind(AssertUnwindSafe(f))
    };
    match result {
        Ok(Ok(value)) => {
            finish(span, &value);
            Ok(value)
        }
        Ok(Err(error)) => {
            fail(span, &error);
            Err(error)
        }
        Err(payload) => {
            span.fail_span("panic", "panic", &panic_message(&payload));
            resume_unwind(payload)
        }
    }
}

pub(crate) use llm_telemetry_core::span::short_type_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_type_names() {
        assert_eq!(short_type_name::<std::io::Error>(), "Error");
        assert_eq!(short_type_name::<String>(), "String");
        assert_eq!(
            short_type_name::<Option<u8>>(),
            "Option<u8>",
            "generic arguments are kept"
        );
    }
}
