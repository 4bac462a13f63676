//! Baggage: a carried key given to a trace's root reaches every span of the trace, over both
//! lanes, and nothing else changes it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use llm_telemetry_core::{
    Baggage, Bus, Delivery, Event, Handler, StaticSpanName, TraceParent, Value, baggage, context,
};

static ROOT: StaticSpanName = StaticSpanName::new("bt.root");
static CHILD: StaticSpanName = StaticSpanName::new("bt.child");

/// (event name, trace id, the carried tenant) of one stop event.
type Record = (String, u128, Option<&'static str>);

/// Records every stop event.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Record>>>);

impl Handler for Seen {
    fn handle(&self, event: &Event<'_>) {
        let span = event.span().expect("a span event");
        self.0.lock().unwrap().push((
            event.name().to_string(),
            span.trace_id.to_u128(),
            span.baggage.get("bt.tenant"),
        ));
    }
}

#[test]
fn a_roots_carried_values_reach_every_span_of_its_trace_on_both_lanes() {
    assert!(baggage::carry("bt.tenant"));
    assert!(baggage::carry("bt.tenant"), "idempotent");
    assert!(baggage::carried().any(|k| k == "bt.tenant"));
    let bus = Bus::new();
    let inline = Seen::default();
    let queued = Seen::default();
    bus.attach_with("inline", "bt.*.stop", inline.clone(), Delivery::Inline)
        .unwrap();
    bus.attach_with("queued", "bt.*.stop", queued.clone(), Delivery::queued())
        .unwrap();

    for tenant in ["acme", "globex"] {
        bus.span(&ROOT, &[("bt.tenant", Value::Str(tenant))], |_| {
            // Names no tenant: inherits.
            bus.span(&CHILD, &[], |_| {
                // Names another one: keeps the trace's.
                bus.span(&CHILD, &[("bt.tenant", Value::Str("other"))], |_| {});
            });
        });
    }
    // A root without the key carries nothing.
    bus.span(&ROOT, &[("unrelated", Value::Str("x"))], |_| {
        bus.span(&CHILD, &[], |_| {});
    });
    assert!(bus.flush(Duration::from_secs(10)).is_complete());

    for seen in [&inline, &queued] {
        let seen = seen.0.lock().unwrap().clone();
        assert_eq!(seen.len(), 8, "{seen:?}");
        for trace in seen.chunks(3).take(2) {
            let root = &trace[2];
            assert_eq!(root.0, "bt.root.stop");
            for span in trace {
                assert_eq!(span.1, root.1, "one trace");
                assert_eq!(span.2, root.2, "the root's tenant: {trace:?}");
            }
        }
        assert_eq!(seen[2].2, Some("acme"));
        assert_eq!(seen[5].2, Some("globex"));
        assert_eq!(seen[6].2, None);
        assert_eq!(seen[7].2, None);
    }
}

#[test]
fn a_local_root_under_a_remote_parent_carries_and_set_baggage_travels() {
    assert!(baggage::carry("bt.tenant"));
    let bus = Bus::new();
    let seen = Seen::default();
    bus.attach_with("inline", "bt.*.stop", seen.clone(), Delivery::Inline)
        .unwrap();
    let remote = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .unwrap()
        .to_context();
    {
        let _remote = context::enter(Some(remote));
        bus.span(&ROOT, &[("bt.tenant", Value::Str("initech"))], |_| {
            bus.span(&CHILD, &[], |_| {});
        });
    }
    // Baggage set by hand on an entered context.
    {
        let given = remote.with_baggage(Baggage::EMPTY.with("bt.tenant", "umbrella"));
        let _given = context::enter(Some(given));
        bus.span(&CHILD, &[], |_| {});
    }
    let seen = seen.0.lock().unwrap().clone();
    let tenants: Vec<_> = seen.iter().map(|s| s.2).collect();
    assert_eq!(
        tenants,
        [Some("initech"), Some("initech"), Some("umbrella")],
        "{seen:?}"
    );
}
