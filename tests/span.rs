//! Spans: start/stop/exception measurements, one span id per span, stop metadata, parentage,
//! errors, panics, cancellation, futures, and continuing a remote trace.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use llm_telemetry::testing::Capture;
use llm_telemetry::{
    Bus, Instrument, SpanName, TraceParent, Value, catalog, catalog::keys, context,
};

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

#[test]
fn start_and_stop_carry_the_right_measurements_and_one_span_id() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["llm.chat.*"]).unwrap();
    let metadata = [
        (keys::MODEL, Value::Str("llama")),
        (keys::TENANT, Value::Str("acme")),
    ];
    let out = bus.span(&catalog::LLM_CHAT, &metadata, |span| {
        span.measure(keys::OUTPUT_TOKENS, 17.0);
        span.set(keys::FINISH_REASONS, "stop");
        std::thread::sleep(std::time::Duration::from_millis(2));
        5
    });
    assert_eq!(out, 5);
    let events = capture.events();
    assert_eq!(capture.names(), ["llm.chat.start", "llm.chat.stop"]);
    let (start, stop) = (&events[0], &events[1]);

    assert!(start.measurement(keys::MONOTONIC_TIME).is_some());
    assert!(start.measurement(keys::SYSTEM_TIME).unwrap() > 1.6e18);
    assert_eq!(start.str(keys::MODEL), Some("llama"));

    let duration = stop.measurement(keys::DURATION).unwrap();
    assert!(
        duration >= 2e6,
        "duration {duration} ns covers the 2 ms sleep"
    );
    assert!(
        stop.measurement(keys::MONOTONIC_TIME).unwrap()
            >= start.measurement(keys::MONOTONIC_TIME).unwrap()
    );
    assert_eq!(stop.measurement(keys::OUTPUT_TOKENS), Some(17.0));
    // Stop repeats the start metadata and adds what the closure set.
    assert_eq!(stop.str(keys::MODEL), Some("llama"));
    assert_eq!(stop.str(keys::TENANT), Some("acme"));
    assert_eq!(stop.str(keys::FINISH_REASONS), Some("stop"));
    let stop_keys: Vec<&str> = stop.metadata().map(|(k, _)| k).collect();
    assert_eq!(stop_keys, [keys::MODEL, keys::TENANT, keys::FINISH_REASONS]);

    let (a, b) = (start.span().unwrap(), stop.span().unwrap());
    assert_eq!(a, b, "start and stop share one context");
    assert_eq!(a.parent_span_id, None);
    assert_ne!(a.trace_id.to_u128(), 0);
    assert_ne!(a.span_id.to_u64(), 0);
    // A stop event alone is enough to build a finished span.
    assert!(b.start_unix_nanos > 0);
}

#[test]
fn err_emits_exception_with_type_and_message() {
    #[derive(Debug)]
    struct BackendError(&'static str);
    impl std::fmt::Display for BackendError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "backend said {}", self.0)
        }
    }
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["llm.generate.*"]).unwrap();
    let result: Result<(), BackendError> = bus.try_span(
        &catalog::LLM_GENERATE,
        &[(keys::MODEL, Value::Str("m"))],
        |_| Err(BackendError("no")),
    );
    assert!(result.is_err());
    assert_eq!(
        capture.names(),
        ["llm.generate.start", "llm.generate.exception"]
    );
    let exception = &capture.events()[1];
    assert!(exception.measurement(keys::DURATION).is_some());
    assert!(exception.measurement(keys::MONOTONIC_TIME).is_some());
    assert_eq!(exception.str(keys::EXCEPTION_TYPE), Some("BackendError"));
    assert_eq!(
        exception.str(keys::EXCEPTION_MESSAGE),
        Some("backend said no")
    );
    assert_eq!(exception.str(keys::MODEL), Some("m"));
    assert_eq!(exception.span(), capture.events()[0].span());

    // Ok goes to stop.
    capture.clear();
    let ok: Result<u8, BackendError> = bus.try_span(&catalog::LLM_GENERATE, &[], |_| Ok(1));
    assert_eq!(ok.unwrap(), 1);
    assert_eq!(capture.names(), ["llm.generate.start", "llm.generate.stop"]);
}

#[test]
fn panic_emits_exception_then_resumes_unwinding() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["llm.embed.*"]).unwrap();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        bus.span(&catalog::LLM_EMBED, &[], |_| -> () {
            panic!("model weights missing")
        })
    }));
    let payload = result.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"model weights missing")
    );
    assert_eq!(capture.names(), ["llm.embed.start", "llm.embed.exception"]);
    let exception = &capture.events()[1];
    assert_eq!(exception.str(keys::EXCEPTION_TYPE), Some("panic"));
    assert_eq!(
        exception.str(keys::EXCEPTION_MESSAGE),
        Some("model weights missing")
    );
    // The current span was restored despite the panic.
    assert_eq!(context::current(), None);
}

#[test]
fn nested_spans_get_the_enclosing_span_as_parent_and_share_the_trace() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["llm.*"]).unwrap();
    bus.span(&catalog::LLM_REQUEST, &[], |_| {
        bus.span(&catalog::LLM_EMBED, &[], |_| ());
        bus.span(&catalog::LLM_GENERATE, &[], |_| {
            bus.span(&catalog::LLM_PROVIDER_REQUEST, &[], |_| ());
        });
    });
    let ctx = |n: &str| capture.named(n)[0].span().unwrap();
    let request = ctx("llm.request.stop");
    let embed = ctx("llm.embed.stop");
    let generate = ctx("llm.generate.stop");
    let provider = ctx("llm.provider.request.stop");
    assert_eq!(request.parent_span_id, None);
    assert_eq!(embed.parent_span_id, Some(request.span_id));
    assert_eq!(generate.parent_span_id, Some(request.span_id));
    assert_eq!(provider.parent_span_id, Some(generate.span_id));
    for c in [embed, generate, provider] {
        assert_eq!(c.trace_id, request.trace_id);
    }
    let ids: std::collections::HashSet<_> = [request, embed, generate, provider]
        .iter()
        .map(|c| c.span_id)
        .collect();
    assert_eq!(ids.len(), 4);
}

#[test]
fn a_span_nobody_listens_to_costs_no_context_and_emits_nothing() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["cache.*"]).unwrap();
    bus.span(&catalog::LLM_CHAT, &[], |span| {
        assert!(!span.is_recording());
        assert_eq!(context::current(), None);
        bus.execute(&catalog::CACHE_LOOKUP_HIT, &[], &[]);
    });
    assert_eq!(capture.names(), ["cache.lookup.hit"]);
    assert_eq!(capture.events()[0].span(), None);
}

#[test]
fn dropped_active_span_stops_with_cancelled_status() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["llm.generate.*"]).unwrap();
    let model = String::from("owned-model-name");
    {
        let mut span = bus.start_span(&catalog::LLM_GENERATE, &[(keys::MODEL, Value::Str(&model))]);
        span.recorder().measure(keys::OUTPUT_TOKENS, 3.0);
    }
    let stop = &capture.named("llm.generate.stop")[0];
    assert_eq!(stop.str(keys::STATUS), Some("cancelled"));
    assert_eq!(
        stop.metadata().filter(|(k, _)| *k == keys::STATUS).count(),
        1
    );
    assert_eq!(stop.str(keys::MODEL), Some("owned-model-name"));
    assert_eq!(stop.measurement(keys::OUTPUT_TOKENS), Some(3.0));

    capture.clear();
    let span = bus.start_span(&catalog::LLM_GENERATE, &[]);
    span.exception("Timeout", "took too long");
    assert_eq!(
        capture.names(),
        ["llm.generate.start", "llm.generate.exception"]
    );
}

#[test]
fn async_spans_are_current_on_every_poll() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["llm.*", "cache.*"]).unwrap();
    let inner_bus = bus.clone();
    let future = bus.span_async(
        &catalog::LLM_CHAT,
        &[(keys::MODEL, Value::Str("m"))],
        async move {
            // Yield once so the span must be re-entered on the second poll.
            let mut yielded = false;
            std::future::poll_fn(|cx| {
                if yielded {
                    Poll::Ready(())
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            })
            .await;
            inner_bus.execute(&catalog::CACHE_LOOKUP_MISS, &[], &[]);
            context::current()
        },
    );
    assert_eq!(context::current(), None);
    let inside = block_on(future).expect("span current inside the future");
    assert_eq!(context::current(), None);
    assert_eq!(
        capture.names(),
        ["llm.chat.start", "cache.lookup.miss", "llm.chat.stop"]
    );
    let stop = &capture.named("llm.chat.stop")[0];
    assert_eq!(stop.span().unwrap().span_id, inside.span_id);
    assert_eq!(capture.named("cache.lookup.miss")[0].span(), stop.span());
    assert_eq!(stop.str(keys::MODEL), Some("m"));

    // try_span_async: Err → exception.
    capture.clear();
    let failing = bus.try_span_async(&catalog::LLM_CHAT, &[], async {
        Err::<(), _>("rate limited")
    });
    assert!(block_on(failing).is_err());
    assert_eq!(capture.names(), ["llm.chat.start", "llm.chat.exception"]);
    assert_eq!(
        capture.events()[1].str(keys::EXCEPTION_MESSAGE),
        Some("rate limited")
    );

    // Dropped unfinished → cancelled.
    capture.clear();
    drop(bus.span_async(&catalog::LLM_CHAT, &[], std::future::pending::<()>()));
    assert_eq!(
        capture.named("llm.chat.stop")[0].str(keys::STATUS),
        Some("cancelled")
    );
}

#[test]
fn instrument_carries_a_context_into_a_future() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["llm.*"]).unwrap();
    let carried = bus.span(&catalog::LLM_REQUEST, &[], |_| {
        let inner_bus = bus.clone();
        async move { inner_bus.span(&catalog::LLM_EMBED, &[], |_| ()) }.in_current_span()
    });
    block_on(carried);
    let request = capture.named("llm.request.stop")[0].span().unwrap();
    let embed = capture.named("llm.embed.stop")[0].span().unwrap();
    assert_eq!(embed.parent_span_id, Some(request.span_id));
}

#[test]
fn remote_traceparent_is_continued() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["llm.chat.*"]).unwrap();
    let incoming: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        .parse()
        .unwrap();
    let outgoing = {
        let _remote = context::enter(Some(incoming.to_context()));
        bus.span(&catalog::LLM_CHAT, &[], |span| {
            span.context().unwrap().traceparent()
        })
    };
    let stop = capture.named("llm.chat.stop")[0].span().unwrap();
    assert_eq!(stop.trace_id, incoming.trace_id);
    assert_eq!(stop.parent_span_id, Some(incoming.parent_id));
    assert_eq!(outgoing.trace_id, incoming.trace_id);
    assert_eq!(outgoing.parent_id, stop.span_id);
    assert_eq!(outgoing.to_string().len(), 55);
}

#[test]
fn custom_span_names_validate() {
    assert!(SpanName::new("myapp.rerank").is_ok());
    assert!(SpanName::new("myapp..rerank").is_err());
    assert!(SpanName::new("").is_err());
}

#[test]
fn recorded_metadata_replaces_start_metadata_of_the_same_key() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["llm.embed.stop"]).unwrap();
    bus.span(
        &catalog::LLM_EMBED,
        &[
            (keys::POOLING, Value::Str("auto")),
            (keys::MODEL, Value::Str("m")),
        ],
        |span| span.set(keys::POOLING, "mean"),
    );
    let stop = &capture.events()[0];
    let pooling: Vec<_> = stop
        .metadata()
        .filter(|(k, _)| *k == keys::POOLING)
        .collect();
    assert_eq!(
        pooling,
        [(keys::POOLING, Value::Str("mean"))],
        "one value, the recorded one"
    );
    assert_eq!(stop.str(keys::MODEL), Some("m"));
}

#[test]
fn one_clock_read_per_boundary_keeps_start_stop_and_wall_time_consistent() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["llm.chat.*"]).unwrap();
    let wall_before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as f64;
    bus.span(&catalog::LLM_CHAT, &[], |_| {
        std::thread::sleep(std::time::Duration::from_millis(1))
    });
    let wall_after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as f64;
    let events = capture.events();
    let (start, stop) = (&events[0], &events[1]);
    // The stop's monotonic time is the start's plus the duration, to the nanosecond: both ends
    // come from one reading each of the same clock.
    let started = start.measurement(keys::MONOTONIC_TIME).unwrap();
    let stopped = stop.measurement(keys::MONOTONIC_TIME).unwrap();
    let duration = stop.measurement(keys::DURATION).unwrap();
    assert_eq!(stopped - duration, started);
    // The anchored wall time is the system clock's, within the anchoring error (an NTP step
    // during the test aside, a few microseconds; 50 ms leaves room for a loaded machine).
    let system_time = start.measurement(keys::SYSTEM_TIME).unwrap();
    assert_eq!(system_time, start.span().unwrap().start_unix_nanos as f64);
    assert!(
        system_time >= wall_before - 5e7 && system_time <= wall_after + 5e7,
        "system_time {system_time} outside [{wall_before}, {wall_after}]"
    );
}

#[test]
fn a_stop_only_listener_gets_the_start_metadata_and_a_consistent_context() {
    // Like the OTel handler: nobody listens to `.start`, so it is never emitted, yet the stop
    // event carries everything a finished span needs.
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["llm.chat.stop", "llm.chat.exception"]).unwrap();
    let metadata = [
        (keys::PROVIDER, Value::Str("openai")),
        (keys::MODEL, Value::Str("gpt-4o")),
        (keys::TENANT, Value::Str("")),
        (keys::STREAMING, Value::Bool(false)),
        (keys::MAX_TOKENS, Value::Int(7)),
    ];
    bus.span(&catalog::LLM_CHAT, &metadata, |_| {
        bus.span(&catalog::LLM_CHAT, &metadata[..1], |span| {
            span.measure(keys::OUTPUT_TOKENS, 3.0)
        })
    });
    let events = capture.events();
    assert_eq!(capture.names(), ["llm.chat.stop", "llm.chat.stop"]);
    let (inner, outer) = (&events[0], &events[1]);
    let outer_metadata: Vec<_> = outer.metadata().collect();
    assert_eq!(outer_metadata, metadata, "passed through, in order");
    let outer_measurements: Vec<&str> = outer.measurements().iter().map(|(k, _)| *k).collect();
    assert_eq!(outer_measurements, [keys::DURATION, keys::MONOTONIC_TIME]);
    let inner_measurements: Vec<&str> = inner.measurements().iter().map(|(k, _)| *k).collect();
    assert_eq!(
        inner_measurements,
        [keys::DURATION, keys::MONOTONIC_TIME, keys::OUTPUT_TOKENS]
    );
    let (inner, outer) = (inner.span().unwrap(), outer.span().unwrap());
    assert_eq!(inner.parent_span_id, Some(outer.span_id));
    assert_eq!(inner.trace_id, outer.trace_id);
    assert!(inner.start_unix_nanos >= outer.start_unix_nanos);
    assert!(outer.start_unix_nanos > 1_600_000_000_000_000_000);
}

#[test]
fn a_start_only_listener_gets_start_and_no_stop() {
    let bus = Bus::new();
    let capture = Capture::attach(&bus, ["llm.chat.start"]).unwrap();
    let mut span = bus.start_span(&catalog::LLM_CHAT, &[(keys::MODEL, Value::Str("m"))]);
    span.recorder().measure(keys::OUTPUT_TOKENS, 1.0);
    span.stop();
    bus.span(&catalog::LLM_CHAT, &[], |_| ());
    assert_eq!(capture.names(), ["llm.chat.start", "llm.chat.start"]);
}
