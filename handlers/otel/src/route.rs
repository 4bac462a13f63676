//! Routes: which project a span is exported to, decided by its trace's root span.
//!
//! The tenant and the service travel in the span context's baggage (the genai crate carries
//! `tenant` and `service.name`, see [`llm_telemetry_genai::catalog::carry_trace_keys`]): a trace's
//! root span fixes them and every descendant inherits them, the library's own
//! `llm.provider.request` spans included, so every span of a trace has the same route and a trace
//! is exported to one project, its root's. When the baggage table overflowed (more distinct
//! tenants than it holds), each span's own metadata decides instead.

use std::borrow::Cow;

use llm_telemetry_core::{Event, SpanContext};
use llm_telemetry_genai::catalog::keys;

use crate::attributes::truncate;

/// The longest tenant name used in a project name (longer ones are cut on a char boundary).
pub const MAX_TENANT_LEN: usize = 128;

/// Where a span is exported: its trace's tenant and service (both `None`: the default project).
///
/// The strings are the baggage's own (no allocation per span), or the span's own metadata when
/// the baggage table overflowed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Route {
    /// The tenant, cut to [`MAX_TENANT_LEN`] bytes.
    pub tenant: Option<Cow<'static, str>>,
    /// The service, when the root span named one.
    pub service: Option<Cow<'static, str>>,
}

impl Route {
    /// The route of the span `event` ends, whose context is `context`.
    pub(crate) fn of(event: &Event<'_>, context: &SpanContext) -> Route {
        let baggage = context.baggage;
        let pick = |key: &str, max: Option<usize>| -> Option<Cow<'static, str>> {
            if baggage.is_overflow() {
                let own = clean(event.str(key)?, max)?;
                Some(Cow::Owned(own.to_owned()))
            } else {
                clean(baggage.get(key)?, max).map(Cow::Borrowed)
            }
        };
        Route {
            tenant: pick(keys::TENANT, Some(MAX_TENANT_LEN)),
            service: pick(keys::SERVICE_NAME, None),
        }
    }

    /// The default project.
    pub(crate) fn is_default(&self) -> bool {
        self.tenant.is_none() && self.service.is_none()
    }
}

/// Trimmed, cut, and `None` when empty.
fn clean(value: &str, max: Option<usize>) -> Option<&str> {
    let value = truncate(value.trim(), max);
    (!value.is_empty()).then_some(value)
}

#[cfg(test)]
mod tests {
    use llm_telemetry_core::{Baggage, Value};
    use llm_telemetry_genai::catalog::{LLM_CHAT_STOP, carry_trace_keys};

    use super::*;

    #[test]
    fn the_baggage_decides_and_overflow_falls_back_to_the_span() {
        carry_trace_keys();
        let md = [(keys::TENANT, Value::Str("own"))];
        let mut context = SpanContext::new_root();
        context.baggage = Baggage::EMPTY
            .with(keys::TENANT, "  root  ")
            .with(keys::SERVICE_NAME, "search");
        let event = Event::new((&LLM_CHAT_STOP).into(), &[], &md, Some(context));
        let route = Route::of(&event, &context);
        assert_eq!(route.tenant.as_deref(), Some("root"));
        assert_eq!(route.service.as_deref(), Some("search"));
        assert!(matches!(route.tenant, Some(Cow::Borrowed(_))), "no copy");

        context.baggage = Baggage::EMPTY;
        let route = Route::of(&event, &context);
        assert!(
            route.is_default(),
            "a root without a tenant: the default project"
        );

        // Make an overflowed baggage: more pairs than a set holds.
        let mut over = Baggage::EMPTY;
        for key in ["r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8"] {
            over = over.with(key, "v");
        }
        assert!(over.is_overflow());
        context.baggage = over;
        assert_eq!(Route::of(&event, &context).tenant.as_deref(), Some("own"));
    }
}
