//! Context binding (`llm_telemetry::bound`) through the real handlers: JSON log lines and
//! exported spans carry the bound fields inside the scope and not after it, an explicit unbind
//! removes them, an event's own value wins over a bound one, and a future keeps its fields when
//! it hops from one thread to another between polls.

#[path = "../handlers/otel/tests/support/capture.rs"]
#[allow(dead_code)]
mod capture;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use capture::{CaptureExporter, attr};
use llm_telemetry::bound::{self, BoundContext};
use llm_telemetry::catalog::{self, keys};
use llm_telemetry::log::{Logger, MemoryWriter, Sink};
use llm_telemetry::otel::OtelHandler;
use llm_telemetry::{Bus, Value};

const WAIT: Duration = Duration::from_secs(10);

/// A bus with a JSON logger writing to memory and the OpenTelemetry handler exporting to a
/// capture.
struct Rig {
    bus: Bus,
    lines: MemoryWriter,
    log: llm_telemetry::log::LogHandle,
    spans: CaptureExporter,
    otel: OtelHandler,
}

impl Rig {
    fn new() -> Rig {
        let bus = Bus::new();
        let lines = MemoryWriter::default();
        let log = Logger::builder()
            .json()
            .sink(Sink::writer(lines.clone()))
            .flush_interval(Duration::ZERO)
            .attach(&bus)
            .unwrap();
        let spans = CaptureExporter::new();
        let otel = OtelHandler::builder()
            .read_env(false)
            .service_name("svc")
            .exporter(spans.clone())
            .attach(&bus)
            .unwrap();
        Rig {
            bus,
            lines,
            log,
            spans,
            otel,
        }
    }

    /// Every JSON log line's `metadata` object, by event name, after a flush.
    fn logged(&self) -> Vec<(String, serde_json::Value)> {
        self.log.flush(WAIT).unwrap();
        self.lines
            .lines()
            .iter()
            .map(|line| {
                let json: serde_json::Value = serde_json::from_str(line).unwrap();
                (
                    json["event"].as_str().unwrap().to_owned(),
                    json["metadata"].clone(),
                )
            })
            .collect()
    }

    /// `request_id` of every exported span, by span name.
    fn span_request_ids(&self) -> Vec<(String, Option<String>)> {
        assert!(self.otel.force_flush(WAIT));
        self.spans
            .spans()
            .iter()
            .map(|e| (e.span.name.to_string(), attr(&e.span, "request_id")))
            .collect()
    }
}

fn chat(bus: &Bus, model: &str) {
    bus.span(
        &catalog::LLM_CHAT,
        &[
            (keys::PROVIDER, Value::Str("openai")),
            (keys::MODEL, Value::Str(model)),
        ],
        |_| {},
    );
}

#[test]
fn log_lines_and_spans_carry_bound_fields_only_inside_the_scope() {
    let rig = Rig::new();
    {
        let _request = bound::bind([
            ("request_id", "req-1".into()),
            ("user_id", "user-9".into()),
            ("attempt", 2.into()),
        ]);
        chat(&rig.bus, "inside");
        rig.bus.execute(&catalog::CACHE_LOOKUP_MISS, &[], &[]);
    }
    chat(&rig.bus, "after");
    rig.bus.execute(&catalog::CACHE_LOOKUP_MISS, &[], &[]);

    let logged = rig.logged();
    let misses: Vec<&serde_json::Value> = logged
        .iter()
        .filter(|(name, _)| name == "cache.lookup.miss")
        .map(|(_, m)| m)
        .collect();
    assert_eq!(misses.len(), 2, "{logged:?}");
    assert_eq!(misses[0]["request_id"], "req-1");
    assert_eq!(misses[0]["user_id"], "user-9");
    assert_eq!(misses[0]["attempt"], 2);
    assert!(misses[1].get("request_id").is_none(), "restored on exit");
    let chat_stops: Vec<&serde_json::Value> = logged
        .iter()
        .filter(|(name, _)| name == "llm.chat.stop")
        .map(|(_, m)| m)
        .collect();
    assert_eq!(chat_stops.len(), 2);
    assert_eq!(chat_stops[0]["request_id"], "req-1");
    assert!(chat_stops[1].get("request_id").is_none());

    let spans = rig.span_request_ids();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let inside = rig
        .spans
        .spans()
        .into_iter()
        .find(|e| attr(&e.span, "gen_ai.request.model").as_deref() == Some("inside"))
        .unwrap();
    assert_eq!(attr(&inside.span, "request_id").as_deref(), Some("req-1"));
    assert_eq!(attr(&inside.span, "user_id").as_deref(), Some("user-9"));
    let after = rig
        .spans
        .spans()
        .into_iter()
        .find(|e| attr(&e.span, "gen_ai.request.model").as_deref() == Some("after"))
        .unwrap();
    assert_eq!(attr(&after.span, "request_id"), None);
}

#[test]
fn unbind_removes_fields_for_its_scope_and_the_events_own_value_wins() {
    let rig = Rig::new();
    let request = bound::bind([("request_id", "req-2".into()), ("user_id", "u".into())]);
    {
        let _anonymous = bound::unbind(&["user_id"]);
        rig.bus.execute(&catalog::CACHE_LOOKUP_MISS, &[], &[]);
    }
    rig.bus.execute(
        &catalog::CACHE_LOOKUP_MISS,
        &[],
        &[("request_id", Value::Str("own"))],
    );
    request.unbind();
    rig.bus.execute(&catalog::CACHE_LOOKUP_MISS, &[], &[]);

    let logged = rig.logged();
    assert_eq!(logged.len(), 3, "{logged:?}");
    assert_eq!(logged[0].1["request_id"], "req-2");
    assert!(
        logged[0].1.get("user_id").is_none(),
        "unbound in that scope"
    );
    assert_eq!(
        logged[1].1["request_id"], "own",
        "the event's own value wins"
    );
    assert_eq!(
        logged[1].1["user_id"], "u",
        "restored after the unbind scope"
    );
    assert!(logged[2].1.get("request_id").is_none(), "explicit unbind");
}

/// Yields once (asking to be polled again), then finishes.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

struct NoopWake;
impl Wake for NoopWake {
    fn wake(self: Arc<Self>) {}
}

#[test]
fn a_future_keeps_its_fields_across_a_thread_hop_and_each_thread_gets_its_own_back() {
    let rig = Arc::new(Rig::new());
    let context = {
        let _task = bound::bind([("request_id", "task-7".into())]);
        BoundContext::current()
    };
    assert!(
        BoundContext::current().is_empty(),
        "the binding scope ended"
    );
    let task_rig = rig.clone();
    let mut task = Box::pin(context.scope(async move {
        task_rig.bus.execute(&catalog::CACHE_LOOKUP_MISS, &[], &[]);
        YieldOnce(false).await;
        task_rig.bus.execute(&catalog::CACHE_LOOKUP_HIT, &[], &[]);
        task_rig
            .bus
            .span_async(
                &catalog::LLM_EMBED,
                &[(keys::MODEL, Value::Str("hop"))],
                async {},
            )
            .await;
    }));
    let waker = Waker::from(Arc::new(NoopWake));

    // First poll on this thread, which has its own binding.
    let _own = bound::bind([("request_id", "main-thread".into())]);
    let first = task.as_mut().poll(&mut Context::from_waker(&waker));
    assert!(first.is_pending());
    assert_eq!(
        BoundContext::current().get("request_id"),
        Some(Value::Str("main-thread")),
        "the polling thread's binding is back after the poll"
    );
    rig.bus.execute(&catalog::CACHE_ENTRY_PUT, &[], &[]);

    // The rest on another thread, which has none.
    std::thread::spawn(move || {
        let second = task.as_mut().poll(&mut Context::from_waker(&waker));
        assert!(second.is_ready());
        assert!(BoundContext::current().is_empty());
    })
    .join()
    .unwrap();

    let logged = rig.logged();
    let request_id = |name: &str| {
        logged
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, m)| m["request_id"].clone())
            .unwrap_or_else(|| panic!("no {name} in {logged:?}"))
    };
    assert_eq!(request_id("cache.lookup.miss"), "task-7");
    assert_eq!(request_id("cache.lookup.hit"), "task-7", "after the hop");
    assert_eq!(request_id("llm.embed.stop"), "task-7");
    assert_eq!(request_id("cache.entry.put"), "main-thread");
    let spans = rig.span_request_ids();
    assert_eq!(
        spans,
        vec![("embeddings hop".to_owned(), Some("task-7".to_owned()))],
        "the span made after the hop carries the task's fields"
    );
}

#[test]
fn emitting_in_a_binding_scope_allocates_nothing_and_the_handler_sees_the_fields() {
    use std::sync::atomic::{AtomicU64, Ordering};
    let bus = Bus::new();
    let seen = Arc::new(AtomicU64::new(0));
    let counter = seen.clone();
    bus.attach("count", "cache.*.*", move |event| {
        if event.str("request_id") == Some("req-0") && event.str("step") == Some("s") {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    })
    .unwrap();
    let _scope = bound::bind([("request_id", "req-0".into()), ("n", 1.into())]);
    // The first emit of a name resolves its interest and may warm this thread's caches.
    bus.execute(
        &catalog::CACHE_LOOKUP_HIT,
        &[],
        &[("step", Value::Str("s"))],
    );
    bus.execute(&catalog::LLM_CHAT_STOP, &[], &[]);
    let before = counting::allocations();
    for _ in 0..1_000 {
        // Listened to: merged on the stack.
        bus.execute(
            &catalog::CACHE_LOOKUP_HIT,
            &[],
            &[("step", Value::Str("s"))],
        );
        // Nobody listens: nothing happens at all.
        bus.execute(&catalog::LLM_CHAT_STOP, &[], &[]);
    }
    assert_eq!(counting::allocations() - before, 0);
    assert_eq!(seen.load(Ordering::Relaxed), 1_001);
}

#[path = "support/counting.rs"]
mod counting;

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;
