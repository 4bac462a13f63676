//! Property tests: `traceparent` parse/format round trip and event-name validation.

use llm_telemetry_core::{
    EventName, MAX_NAME_LEN, MAX_SEGMENTS, SpanId, TraceId, TraceParent, validate_event_name,
};
use proptest::prelude::*;

fn reference_is_valid(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.split('.').count() <= MAX_SEGMENTS
        && name.split('.').all(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

proptest! {
    #[test]
    fn traceparent_round_trips(trace in 1u128.., span in 1u64.., flags in any::<u8>()) {
        let tp = TraceParent {
            trace_id: TraceId::from_bytes(trace.to_be_bytes()).unwrap(),
            parent_id: SpanId::from_bytes(span.to_be_bytes()).unwrap(),
            trace_flags: flags,
        };
        let text = tp.to_string();
        prop_assert_eq!(text.len(), 55);
        let back = TraceParent::parse(&text).unwrap();
        prop_assert_eq!(back, tp);
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn traceparent_parse_never_panics(s in ".{0,80}") {
        let _ = TraceParent::parse(&s);
    }

    #[test]
    fn valid_names_are_accepted(segments in prop::collection::vec("[a-z0-9_-]{1,12}", 1..=MAX_SEGMENTS)) {
        let name = segments.join(".");
        prop_assert!(validate_event_name(&name).is_ok());
        let interned = EventName::new(&name).unwrap();
        prop_assert_eq!(interned.as_str(), name.as_str());
        prop_assert_eq!(interned.segments().len(), segments.len());
    }

    #[test]
    fn validation_agrees_with_the_reference(s in "[a-z.\\- _A-Z0-9é*]{0,40}") {
        prop_assert_eq!(validate_event_name(&s).is_ok(), reference_is_valid(&s));
    }
}
