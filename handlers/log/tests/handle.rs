//! The log handles ([`LogHandle`], and the `tracing` bridge with feature `tracing`) in the shape
//! every handler crate shares: `stats` exact after a known number of events, `flush` bounded by
//! its deadline, and `detach` after which nothing more is written and the stats stay as they
//! were.

use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use llm_telemetry_core::{Bus, Delivery, LifecycleError};
use llm_telemetry_genai::catalog::{self};
use llm_telemetry_log::{Level, LogHandle, Logger, MemoryWriter, Sink};

const WAIT: Duration = Duration::from_secs(10);

/// Emits event `i`: `llm.chat.start` (debug) when `i % 3 == 0`, else `llm.provider.rate_limit`
/// (warn).
fn emit(bus: &Bus, i: usize) {
    if i % 3 == 0 {
        bus.execute(&catalog::LLM_CHAT_START, &[], &[]);
    } else {
        bus.execute(&catalog::LLM_PROVIDER_RATE_LIMIT, &[], &[]);
    }
}

fn debug_events(n: usize) -> u64 {
    (0..n).filter(|i| i % 3 == 0).count() as u64
}

/// A JSON logger at level `info` writing to `memory`.
fn attach(bus: &Bus, memory: &MemoryWriter) -> LogHandle {
    Logger::builder()
        .json()
        .level(Level::Info)
        .sink(Sink::writer(memory.clone()))
        .attach(bus)
        .unwrap()
}

#[test]
fn stats_are_exact_after_n_events() {
    const N: usize = 31;
    let bus = Bus::new();
    let memory = MemoryWriter::default();
    let handle = attach(&bus, &memory);
    for i in 0..N {
        emit(&bus, i);
    }
    handle.flush(WAIT).unwrap();
    let stats = handle.stats();
    // The debug events never reach the logger (it declines their names when it attaches).
    assert_eq!(stats.filtered, 0);
    assert_eq!(stats.lines, N as u64 - debug_events(N));
    let bus_stats = bus.stats();
    let lane = bus_stats.handler(handle.id()).unwrap();
    assert_eq!(lane.delivered, stats.lines);
    assert_eq!(memory.lines().len() as u64, stats.lines);
    assert_eq!(stats.bytes, memory.contents().len() as u64);
    assert_eq!(
        (
            stats.sampled_out,
            stats.rate_limited,
            stats.write_errors,
            stats.queue_dropped
        ),
        (0, 0, 0, 0)
    );
    handle.detach(WAIT).unwrap();
}

#[test]
fn detach_then_emit_writes_nothing_and_freezes_the_stats() {
    const BEFORE: usize = 10;
    let bus = Bus::new();
    let memory = MemoryWriter::default();
    let handle = attach(&bus, &memory);
    for i in 0..BEFORE {
        emit(&bus, i);
    }
    // The detach drains the queue and flushes: everything before it is written.
    assert_eq!(handle.detach(WAIT), Ok(()));
    assert!(bus.list_handlers("").is_empty());
    let frozen = handle.stats();
    assert_eq!(frozen.lines, BEFORE as u64 - debug_events(BEFORE));
    let written = memory.contents();
    assert_eq!(frozen.bytes, written.len() as u64);

    for i in 0..BEFORE {
        emit(&bus, i);
    }
    assert_eq!(handle.stats(), frozen);
    assert_eq!(memory.contents(), written);
    assert_eq!(handle.detach(WAIT), Err(LifecycleError::AlreadyShutDown));
    assert_eq!(handle.flush(WAIT), Err(LifecycleError::AlreadyShutDown));
}

/// Writes into `bytes`, blocking every write while `hold` is set.
struct HeldWriter {
    hold: Arc<AtomicBool>,
    bytes: MemoryWriter,
}

impl Write for HeldWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        while self.hold.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.bytes.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn flush_waits_for_the_queue_and_returns_by_its_deadline() {
    const N: usize = 20;
    let bus = Bus::new();
    let memory = MemoryWriter::default();
    let hold = Arc::new(AtomicBool::new(true));
    let handle = Logger::builder()
        .json()
        .level(Level::Info)
        .sink(Sink::writer(HeldWriter {
            hold: Arc::clone(&hold),
            bytes: memory.clone(),
        }))
        .flush_every_line(true)
        .delivery(Delivery::queued())
        .attach(&bus)
        .unwrap();
    for i in 0..N {
        emit(&bus, i);
    }

    // The worker is held in the sink: the flush gives up at its deadline.
    llm_telemetry_core::testing::assert_flush_gives_up_at(Duration::from_millis(100), |wait| {
        handle.flush(wait)
    });

    hold.store(false, Ordering::SeqCst);
    assert_eq!(handle.flush(WAIT), Ok(()));
    // Right after the flush, with no other wait: every line is written and counted.
    let lines = N as u64 - debug_events(N);
    assert_eq!(handle.stats().lines, lines);
    assert_eq!(memory.lines().len() as u64, lines);
    handle.detach(WAIT).unwrap();
}

#[cfg(feature = "tracing")]
mod bridge {
    use super::*;
    use llm_telemetry_log::TracingBridge;

    /// A subscriber that takes every event and does nothing with it.
    struct Discard;

    impl tracing::Subscriber for Discard {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, _: &tracing::Event<'_>) {}
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn the_bridge_counts_exactly_flushes_and_freezes_at_the_detach() {
        const N: usize = 17;
        let _default = tracing::subscriber::set_default(Discard);
        let bus = Bus::new();
        let bridge = TracingBridge::builder()
            .level(Level::Info)
            .attach(&bus)
            .unwrap();
        for i in 0..N {
            emit(&bus, i);
        }
        assert_eq!(bridge.flush(WAIT), Ok(()));
        let stats = bridge.stats();
        assert_eq!(
            stats.filtered, 0,
            "declined when it attached, never delivered"
        );
        assert_eq!(stats.forwarded, N as u64 - debug_events(N));
        assert_eq!(stats.queue_dropped, 0);

        assert_eq!(bridge.detach(WAIT), Ok(()));
        for i in 0..N {
            emit(&bus, i);
        }
        assert_eq!(bridge.stats(), stats);
        assert_eq!(bridge.detach(WAIT), Err(LifecycleError::AlreadyShutDown));
        assert_eq!(bridge.flush(WAIT), Err(LifecycleError::AlreadyShutDown));
    }
}
