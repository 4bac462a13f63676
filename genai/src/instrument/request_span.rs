//! Request spans (`llm.request.*`): a parent span that groups the calls one user request makes,
//! such as a hybrid search made of one embed and one generate.
//!
//! Start metadata: `gen_ai.operation.name` set to the operation name (`hybrid_search`) plus the
//! caller's attributes. Stop adds `status = "ok"`.

use std::convert::Infallible;
use std::fmt;

use smallvec::SmallVec;

use super::Instrumentation;
use super::call::{Call, Traced, run_traced};
use crate::catalog::{self, keys};
use llm_telemetry_core::context::ContextGuard;
use llm_telemetry_core::event::{Metadata, Value};

/// A request span in progress. End it with [`RequestSpan::finish`] or [`RequestSpan::fail`];
/// dropping it unfinished emits stop with `status = "cancelled"`.
///
/// For async code, carry the span into the future with
/// [`llm_telemetry_core::Instrument::in_span_context`]`(span.context())`.
#[derive(Debug)]
pub struct RequestSpan {
    call: Call,
}

impl RequestSpan {
    crate::instrument::call::call_accessors!();
    /// Ends the span with stop and `status = "ok"`.
    pub fn finish(mut self) {
        self.call.stop_ok();
    }
    /// Ends the span with an exception (`error.type` = `exception.type` = `error_type`).
    pub fn fail(mut self, error_type: &str, message: &str) {
        self.call.fail(error_type, error_type, message);
    }
}

impl Traced for RequestSpan {
    fn enter_span(&self) -> ContextGuard {
        self.enter()
    }
    fn fail_span(mut self, error_type: &str, exception_type: &str, message: &str) {
        self.call.fail(error_type, exception_type, message);
    }
}

impl Instrumentation {
    /// Starts an `llm.request` span named by `operation`, with extra `attributes`.
    pub fn start_request(&self, operation: &str, attributes: Metadata<'_>) -> RequestSpan {
        if !self.is_listening_span(&catalog::LLM_REQUEST) {
            return RequestSpan { call: Call::none() };
        }
        let mut metadata: SmallVec<[(&'static str, Value<'_>); 8]> = SmallVec::new();
        metadata.push((keys::OPERATION, Value::Str(operation)));
        metadata.extend_from_slice(attributes);
        RequestSpan {
            call: Call::from_span(self.bus().start_span(&catalog::LLM_REQUEST, &metadata)),
        }
    }

    /// Runs `f` inside an `llm.request` span; every helper called inside becomes its child.
    /// A panic ends the span with an exception, then resumes.
    ///
    /// ```
    /// use llm_telemetry_core::{Bus, Value, testing::Capture};
    /// use llm_telemetry_genai::{catalog::keys};
    /// use llm_telemetry_genai::instrument::{Completion, EmbedRequest, Embeddings, GenerateRequest, Instrumentation, TelemetryLevel};
    /// let bus = Bus::new();
    /// let capture = Capture::attach(&bus, ["llm.*.stop"]).unwrap();
    /// let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    ///
    /// telemetry.request("hybrid_search", &[(keys::TENANT, Value::Str("acme"))], || {
    ///     let _ = telemetry.embed(&EmbedRequest::new("bge", ["q"]), || Ok::<_, String>(Embeddings::default()));
    ///     let _ = telemetry.generate(&GenerateRequest::new("m", "p"), || Ok::<_, String>(Completion::new("a", 1, 1)));
    /// });
    /// let stops = capture.events();
    /// let parent = stops[2].span().unwrap().span_id;
    /// assert_eq!(stops[0].span().unwrap().parent_span_id, Some(parent));
    /// assert_eq!(stops[1].span().unwrap().parent_span_id, Some(parent));
    /// ```
    pub fn request<T>(
        &self,
        operation: &str,
        attributes: Metadata<'_>,
        f: impl FnOnce() -> T,
    ) -> T {
        let result = run_traced(
            self.start_request(operation, attributes),
            || Ok::<T, Infallible>(f()),
            |span, _| span.finish(),
        );
        match result {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// Like [`Instrumentation::request`] for fallible work: `Err` ends the span with an exception.
    pub fn try_request<T, E: fmt::Display>(
        &self,
        operation: &str,
        attributes: Metadata<'_>,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        run_traced(self.start_request(operation, attributes), f, |span, _| {
            span.finish()
        })
    }
}
