//! The current span without its handle: set attributes on it and record events in it from code
//! that does not hold the span (TinyLLM's `set_span_attribute` and `record_span_event`).
//!
//! Both emit an event in the current span: `span.attributes` (its metadata are the attributes)
//! and `span.event` (named by `event.name`, stamped with `system_time`). A handler that keeps span
//! state (the OpenTelemetry handler) attaches them to that span when it ends. Outside any span, or
//! when nobody listens, they do nothing.

use llm_telemetry_core::context;
use llm_telemetry_core::event::{Metadata, Value};
use smallvec::SmallVec;

use super::Instrumentation;
use crate::catalog::{self, keys};

impl Instrumentation {
    /// Sets `key` to `value` on the current span (emits `span.attributes`).
    ///
    /// ```
    /// use llm_telemetry_core::{Bus, StaticSpanName, testing::Capture};
    /// use llm_telemetry_genai::instrument::{Instrumentation, TelemetryLevel};
    /// static SEARCH: StaticSpanName = StaticSpanName::new("search");
    /// let bus = Bus::new();
    /// let capture = Capture::attach(&bus, ["span.*", "search.stop"]).unwrap();
    /// let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    /// bus.span(&SEARCH, &[], |_| telemetry.set_span_attribute("search.hits", 12));
    /// telemetry.set_span_attribute("ignored", 1); // no current span
    /// let set = capture.named("span.attributes");
    /// assert_eq!(set.len(), 1);
    /// assert_eq!(set[0].value("search.hits").and_then(|v| v.as_i64()), Some(12));
    /// ```
    pub fn set_span_attribute<'v>(&self, key: &'static str, value: impl Into<Value<'v>>) {
        self.set_span_attributes(&[(key, value.into())]);
    }

    /// Sets every attribute of `attributes` on the current span (emits `span.attributes`).
    pub fn set_span_attributes(&self, attributes: Metadata<'_>) {
        if attributes.is_empty()
            || !self.is_listening(&catalog::SPAN_ATTRIBUTES)
            || context::current().is_none()
        {
            return;
        }
        self.bus()
            .execute(&catalog::SPAN_ATTRIBUTES, &[], attributes);
    }

    /// Sets the list-valued attribute `key` to `items` on the current span (emits
    /// `span.attributes`, the list as a JSON array of strings named by `span.list`), e.g.
    /// Cogniverse's `orchestration.agent_sequence`.
    ///
    /// ```
    /// use llm_telemetry_core::{Bus, StaticSpanName, testing::Capture};
    /// use llm_telemetry_genai::instrument::{Instrumentation, TelemetryLevel};
    /// static ORCHESTRATE: StaticSpanName = StaticSpanName::new("orchestrate");
    /// let bus = Bus::new();
    /// let capture = Capture::attach(&bus, ["span.*", "orchestrate.stop"]).unwrap();
    /// let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    /// bus.span(&ORCHESTRATE, &[], |_| {
    ///     telemetry.set_span_list_attribute("orchestration.agent_sequence", ["planner", "search"]);
    /// });
    /// let set = &capture.named("span.attributes")[0];
    /// assert_eq!(set.str("orchestration.agent_sequence"), Some(r#"["planner","search"]"#));
    /// assert_eq!(set.str("span.list"), Some("orchestration.agent_sequence"));
    /// ```
    pub fn set_span_list_attribute<S: AsRef<str>>(
        &self,
        key: &'static str,
        items: impl IntoIterator<Item = S>,
    ) {
        if !self.is_listening(&catalog::SPAN_ATTRIBUTES) || context::current().is_none() {
            return;
        }
        let mut json = String::from("[");
        for (i, item) in items.into_iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            super::request::json_string(&mut json, item.as_ref());
        }
        json.push(']');
        self.bus().execute(
            &catalog::SPAN_ATTRIBUTES,
            &[],
            &[
                (key, Value::Str(&json)),
                (keys::LIST_ATTRIBUTE, Value::Str(key)),
            ],
        );
    }

    /// Records the event `name` with `attributes` in the current span (emits `span.event`).
    ///
    /// ```
    /// use llm_telemetry_core::{Bus, StaticSpanName, Value, testing::Capture};
    /// use llm_telemetry_genai::instrument::{Instrumentation, TelemetryLevel};
    /// static AGENT: StaticSpanName = StaticSpanName::new("agent");
    /// let bus = Bus::new();
    /// let capture = Capture::attach(&bus, ["span.event", "agent.stop"]).unwrap();
    /// let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    /// bus.span(&AGENT, &[], |_| {
    ///     telemetry.record_span_event("tool_selected", &[("tool", Value::Str("search"))]);
    /// });
    /// let event = &capture.named("span.event")[0];
    /// assert_eq!(event.str("event.name"), Some("tool_selected"));
    /// assert_eq!(event.str("tool"), Some("search"));
    /// ```
    pub fn record_span_event(&self, name: &str, attributes: Metadata<'_>) {
        if !self.is_listening(&catalog::SPAN_EVENT) || context::current().is_none() {
            return;
        }
        let mut metadata: SmallVec<[(&'static str, Value<'_>); 8]> = SmallVec::new();
        metadata.push((keys::EVENT_NAME, Value::Str(name)));
        metadata.extend_from_slice(attributes);
        let now = context::unix_nanos_now() as f64;
        self.bus()
            .execute(&catalog::SPAN_EVENT, &[(keys::SYSTEM_TIME, now)], &metadata);
    }
}
