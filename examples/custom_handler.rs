//! Writing your own handler: a closure, a struct on the queued lane, and what happens when one
//! panics.
//!
//! ```text
//! cargo run --example custom_handler
//! ```
//!
//! It shows:
//! - an inline handler: any `Fn(&Event) + Send + Sync + 'static` closure, called on the emitting
//!   thread (keep it fast);
//! - a struct implementing [`Handler`] (a per-model latency tracker) attached with
//!   [`Delivery::Queued`], so its lock and its work stay off the emitting thread;
//! - [`Bus::list_handlers`] and [`Bus::stats`] (delivered, dropped, failed per handler);
//! - a handler that panics: the bus catches the panic, detaches the handler and emits
//!   `telemetry.handler.failure`, which a third handler observes; inference is not affected;
//! - [`Bus::detach`], and the error for an id that is not attached.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use llm_telemetry::catalog::{self, keys};
use llm_telemetry::instrument::{
    ChatMessage, ChatRequest, InferenceBackend, Instrumentation, InstrumentedBackend,
    LatencyProfile, SimulatedBackend, TelemetryLevel,
};
use llm_telemetry::{Bus, Delivery, Event, Handler, Value};

type Error = Box<dyn std::error::Error>;

/// Latency figures of one model.
#[derive(Clone, Copy, Debug, Default)]
struct ModelLatency {
    calls: u64,
    total: Duration,
    slowest: Duration,
}

/// A handler of our own: per-model latency of finished LLM calls.
///
/// Cloning shares the figures, so one clone goes to the bus and the other is read from.
/// Events without a duration or a model are skipped and counted: a handler must never panic on
/// an event it does not understand (a panic would get it detached).
#[derive(Clone, Default)]
struct LatencyTracker {
    models: Arc<Mutex<BTreeMap<String, ModelLatency>>>,
    skipped: Arc<AtomicU64>,
}

impl Handler for LatencyTracker {
    fn handle(&self, event: &Event<'_>) {
        let (Some(nanos), Some(model)) =
            (event.measurement(keys::DURATION), event.str(keys::MODEL))
        else {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if !(nanos.is_finite() && nanos >= 0.0) {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let duration = Duration::from_nanos(nanos as u64);
        // A poisoned lock only means another thread panicked mid-update; the figures are
        // still usable, so take them rather than panic here too.
        let mut models = self.models.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = models.entry(model.to_owned()).or_default();
        entry.calls += 1;
        entry.total += duration;
        entry.slowest = entry.slowest.max(duration);
    }
}

impl LatencyTracker {
    fn print(&self) {
        let models = self.models.lock().unwrap_or_else(PoisonError::into_inner);
        println!(
            "\n{:<20} {:>6} {:>10} {:>10}",
            "model", "calls", "mean", "slowest"
        );
        for (model, m) in models.iter() {
            let mean = m.total / u32::try_from(m.calls.max(1)).unwrap_or(u32::MAX);
            println!(
                "{model:<20} {:>6} {:>8.1}ms {:>8.1}ms",
                m.calls,
                mean.as_secs_f64() * 1e3,
                m.slowest.as_secs_f64() * 1e3
            );
        }
        println!(
            "(events skipped for lacking a duration or a model: {})",
            self.skipped.load(Ordering::Relaxed)
        );
    }
}

fn main() -> Result<(), Error> {
    let bus = Bus::new();

    // 1. An inline closure: counts output tokens as calls finish.
    let output_tokens = Arc::new(AtomicU64::new(0));
    {
        let output_tokens = Arc::clone(&output_tokens);
        bus.attach("example.token-counter", "llm.*.stop", move |event| {
            let tokens = event.measurement(keys::OUTPUT_TOKENS).unwrap_or(0.0);
            output_tokens.fetch_add(tokens as u64, Ordering::Relaxed);
        })?;
    }

    // 2. A struct on the queued lane, for chat and generate stops.
    let latency = LatencyTracker::default();
    bus.attach_with(
        "example.latency-by-model",
        [catalog::LLM_CHAT_STOP.as_str(), "llm.generate.stop"],
        latency.clone(),
        Delivery::Queued { capacity: 1024 },
    )?;

    // 3. An observer of handler failures (a real service would log or alert on these).
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    {
        let failures = Arc::clone(&failures);
        bus.attach(
            "example.failure-watch",
            catalog::TELEMETRY_HANDLER_FAILURE.as_str(),
            move |event| {
                let line = format!(
                    "handler {:?} failed on {} ({}): {}",
                    event.str(keys::HANDLER_ID).unwrap_or("?"),
                    event.str(keys::EVENT).unwrap_or("?"),
                    event.str(keys::ERROR_KIND).unwrap_or("?"),
                    event.str(keys::ERROR).unwrap_or("?"),
                );
                failures
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line);
            },
        )?;
    }

    // 4. A badly written handler that panics on one model.
    bus.attach("example.flaky", catalog::LLM_CHAT_STOP.as_str(), |event| {
        if event.str(keys::MODEL) == Some("broken-model") {
            panic!("cannot handle {:?}", event.str(keys::MODEL));
        }
    })?;

    // `list_handlers` takes a name prefix ("llm" lists the handlers that can see llm.* events);
    // "" lists them all.
    println!("attached handlers:");
    for info in bus.list_handlers("") {
        println!("  {:<28} {:?} {:?}", info.id, info.patterns, info.delivery);
    }

    // Traffic through the typed helpers.
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Basic);
    let backend = InstrumentedBackend::new(
        SimulatedBackend::new("openai").with_latency(LatencyProfile::realistic().scaled(0.02)),
        telemetry,
    );
    for (i, model) in [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4o-mini",
        "gpt-4o",
        "gpt-4o-mini",
    ]
    .into_iter()
    .enumerate()
    {
        let request = ChatRequest::new(model, vec![ChatMessage::user(format!("question {i}"))])
            .max_tokens(32);
        backend.chat(&request)?;
    }

    // An event the flaky handler panics on. The default panic hook would print a backtrace
    // note; this one prints a single line, and the old hook comes back afterwards.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        eprintln!("(expected panic inside a handler: {info})")
    }));
    bus.execute(
        &catalog::LLM_CHAT_STOP,
        &[(keys::DURATION, 1.5e6), (keys::OUTPUT_TOKENS, 3.0)],
        &[(keys::MODEL, Value::Str("broken-model"))],
    );
    std::panic::set_hook(default_hook);
    // And one the tracker must skip: a stop event without a model.
    bus.execute(&catalog::LLM_CHAT_STOP, &[(keys::DURATION, 1.0e6)], &[]);

    // Queued handlers run on their own thread: wait for them before reading their results.
    bus.drain(Duration::from_secs(5));

    for line in failures
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
    {
        println!("\ntelemetry.handler.failure observed: {line}");
    }
    println!(
        "still attached: {:?}",
        bus.list_handlers("")
            .into_iter()
            .map(|h| h.id)
            .collect::<Vec<_>>()
    );
    println!(
        "output tokens counted inline: {}",
        output_tokens.load(Ordering::Relaxed)
    );
    latency.print();

    let stats = bus.stats();
    println!(
        "\n{:<28} {:>9} {:>9} {:>7} {:>9}",
        "handler", "delivered", "dropped", "failed", "attached"
    );
    for h in &stats.handlers {
        println!(
            "{:<28} {:>9} {:>9} {:>7} {:>9}",
            h.id, h.delivered, h.dropped, h.failed, h.attached
        );
    }
    println!("handler failures on this bus: {}", stats.handler_failures);

    // Detach what we attached. The flaky handler is already gone: detaching it again is an
    // error that says so.
    bus.detach("example.token-counter")?;
    bus.detach("example.latency-by-model")?;
    bus.detach("example.failure-watch")?;
    if let Err(e) = bus.detach("example.flaky") {
        println!("\ndetach example.flaky: {e}");
    }
    println!("handlers left: {}", bus.list_handlers("").len());
    Ok(())
}
