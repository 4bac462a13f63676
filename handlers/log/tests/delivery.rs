//! Delivery through a real bus: a full queue drops and counts without blocking the emitter,
//! flush and shutdown get every line to the sink, files append and rotate, filters and levels
//! apply, and bad configuration is a typed error.

use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use llm_telemetry_core::{AttachError, Bus, Delivery, Event, EventName, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_log::{Level, LogError, Logger, MemoryWriter, Sink, attach_default_logger};

const WAIT: Duration = Duration::from_secs(10);

/// A sink whose writes block until the gate opens; tells the test when the first write arrived.
struct GatedWriter {
    open: Arc<(Mutex<bool>, Condvar)>,
    entered: Option<mpsc::Sender<()>>,
    bytes: MemoryWriter,
}

impl Write for GatedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(entered) = self.entered.take() {
            let _ = entered.send(());
        }
        let (lock, condvar) = &*self.open;
        let mut open = lock.lock().unwrap();
        while !*open {
            open = condvar.wait(open).unwrap();
        }
        self.bytes.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn full_queue_drops_and_counts_without_blocking_the_emitter() {
    let bus = Bus::new();
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let (entered_tx, entered_rx) = mpsc::channel();
    let memory = MemoryWriter::default();
    let handle = Logger::builder()
        .json()
        .sink(Sink::writer(GatedWriter {
            open: Arc::clone(&gate),
            entered: Some(entered_tx),
            bytes: memory.clone(),
        }))
        .flush_every_line(true)
        .delivery(Delivery::Queued { capacity: 4 })
        .attach(&bus)
        .unwrap();
    let name = EventName::new("delivery.blocked.event").unwrap();
    // The worker takes the first event and blocks inside the sink.
    bus.execute(name, &[("seq", 0.0)], &[]);
    entered_rx
        .recv_timeout(WAIT)
        .expect("the worker reached the sink");
    // 100 more emits while the sink is blocked: 4 fit in the queue, 96 are dropped, and every
    // emit returns (checked from another thread so a blocked emitter fails instead of hanging).
    let (done_tx, done_rx) = mpsc::channel();
    let emitter_bus = bus.clone();
    let emitter = std::thread::spawn(move || {
        for seq in 1..=100 {
            emitter_bus.execute(name, &[("seq", f64::from(seq))], &[]);
        }
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(WAIT)
        .expect("emits returned while the sink was blocked");
    emitter.join().unwrap();
    let stats = handle.stats();
    assert_eq!(stats.queue_dropped, 96, "{stats:?}");
    assert_eq!(bus.stats().handler(handle.id()).unwrap().dropped, 96);
    // Open the gate: the five accepted events reach the sink.
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    handle.flush(WAIT).unwrap();
    let lines = memory.lines();
    let seqs: Vec<u64> = lines
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["measurements"]["seq"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(seqs, [0, 1, 2, 3, 4]);
    assert_eq!(handle.stats().lines, 5);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llm-telemetry-log-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn flush_after_shutdown_gets_every_queued_line_into_the_file() {
    let dir = temp_dir("shutdown");
    let path = dir.join("events.jsonl");
    let bus = Bus::new();
    let handle = Logger::builder()
        .json()
        .sink(Sink::file(&path))
        .flush_interval(Duration::ZERO)
        .attach(&bus)
        .unwrap();
    for seq in 0..2_000 {
        bus.execute(&catalog::CACHE_LOOKUP_HIT, &[("seq", f64::from(seq))], &[]);
    }
    assert!(bus.shutdown(WAIT).is_complete());
    handle.flush(WAIT).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let dropped = handle.stats().queue_dropped;
    assert_eq!(text.lines().count() as u64 + dropped, 2_000);
    assert_eq!(dropped, 0, "the default queue holds 16384 events");
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn background_flush_reaches_the_file_without_an_explicit_flush() {
    let dir = temp_dir("background");
    let path = dir.join("events.log");
    let bus = Bus::new();
    let _handle = Logger::builder()
        .sink(Sink::file(&path))
        .flush_interval(Duration::from_millis(20))
        .attach(&bus)
        .unwrap();
    bus.execute(&catalog::CACHE_LOOKUP_MISS, &[], &[]);
    let deadline = Instant::now() + WAIT;
    while std::fs::metadata(&path).unwrap().len() == 0 {
        assert!(
            Instant::now() < deadline,
            "the background flush never wrote"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("cache.lookup.miss"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn files_are_appended_to_not_truncated() {
    let dir = temp_dir("append");
    let path = dir.join("events.log");
    std::fs::write(&path, "an earlier line\n").unwrap();
    let logger = Logger::builder().sink(Sink::file(&path)).build().unwrap();
    logger.log(&Event::new(
        catalog::CACHE_LOOKUP_MISS.get(),
        &[],
        &[],
        None,
    ));
    logger.flush().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("an earlier line\n"), "{text}");
    assert_eq!(text.lines().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rotation_keeps_whole_lines_in_bounded_files() {
    let dir = temp_dir("rotation");
    let path = dir.join("app.jsonl");
    let max_bytes = 1_000;
    let keep = 3;
    let logger = Logger::builder()
        .json()
        .sink(Sink::rotating_file(&path, max_bytes, keep))
        .build()
        .unwrap();
    let name = EventName::new("delivery.rotation.event").unwrap();
    let total = 200u64;
    for seq in 0..total {
        logger.log(&Event::new(
            name,
            &[],
            &[
                ("seq", Value::Int(seq as i64)),
                (keys::MODEL, Value::Str("gpt-4o")),
            ],
            None,
        ));
    }
    logger.flush().unwrap();
    let numbered = |n: usize| dir.join(format!("app.jsonl.{n}"));
    assert!(
        !numbered(keep + 1).exists(),
        "more than {keep} rotated files"
    );
    // Oldest to newest: .3, .2, .1, then the live file.
    let files: Vec<PathBuf> = (1..=keep)
        .rev()
        .map(numbered)
        .chain([path.clone()])
        .collect();
    let mut seqs = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            text.len() as u64 <= max_bytes,
            "{} is {} bytes",
            file.display(),
            text.len()
        );
        assert!(text.ends_with('\n'));
        for line in text.lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            seqs.push(value["metadata"]["seq"].as_u64().unwrap());
        }
    }
    // The kept lines are the newest ones, consecutive and in order, ending with the last.
    assert_eq!(*seqs.last().unwrap(), total - 1);
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    assert!(seqs.len() > 3 * 3, "only {} lines kept", seqs.len());
    assert_eq!(logger.stats().write_errors, 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn prefix_pattern_and_level_filters_apply() {
    let bus = Bus::new();
    let memory = MemoryWriter::default();
    let handle = Logger::builder()
        .json()
        .prefix("llm.chat")
        .pattern("cache.*.hit")
        .level(Level::Info)
        .level_for("llm.chat.retry", Level::Debug)
        .sink(Sink::writer(memory.clone()))
        .attach(&bus)
        .unwrap();
    bus.span(&catalog::LLM_CHAT, &[], |_| {}); // start (debug, filtered) + stop (info)
    bus.execute(EventName::new("llm.chat.retry").unwrap(), &[], &[]); // overridden to debug
    bus.execute(&catalog::CACHE_LOOKUP_HIT, &[], &[]); // matches the pattern
    bus.execute(&catalog::CACHE_LOOKUP_MISS, &[], &[]); // not attached
    bus.span(&catalog::LLM_EMBED, &[], |_| {}); // not attached
    handle.flush(WAIT).unwrap();
    let events: Vec<String> = memory
        .lines()
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["event"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(events, ["llm.chat.stop", "cache.lookup.hit"]);
    // The two debug events never reached the logger: it declines their names at attach.
    assert_eq!(handle.stats().filtered, 0);
    let logger = bus.stats();
    let logger = logger
        .handler(llm_telemetry_log::DEFAULT_HANDLER_ID)
        .unwrap();
    assert_eq!((logger.delivered, logger.dropped), (2, 0));
    assert!(!bus.is_listening(&catalog::LLM_CHAT_START));
}

/// A burst of span starts (debug) and stops (info) into an info logger whose queue is smaller
/// than the burst: the starts never take a queue slot, so every stop is either written or counted
/// as dropped, and nothing else is.
#[test]
fn events_below_the_level_never_take_a_queue_slot() {
    let bus = Bus::new();
    let memory = MemoryWriter::default();
    let handle = Logger::builder()
        .json()
        .level(Level::Info)
        .delivery(Delivery::Queued { capacity: 1_024 })
        .sink(Sink::writer(memory.clone()))
        .attach(&bus)
        .unwrap();
    const SPANS: u64 = 20_000;
    for _ in 0..SPANS {
        bus.span(&catalog::LLM_CHAT, &[], |_| {});
    }
    handle.flush(WAIT).unwrap();
    let stats = bus.stats();
    let lane = stats
        .handler(llm_telemetry_log::DEFAULT_HANDLER_ID)
        .unwrap();
    let written = memory.lines().len() as u64;
    assert_eq!(written, lane.delivered);
    assert_eq!(lane.delivered + lane.dropped, SPANS, "{lane:?}");
    assert!(
        memory.lines().iter().all(|l| l.contains("llm.chat.stop")),
        "only stops are written"
    );
}

#[test]
fn exceptions_log_as_errors_through_a_real_span() {
    let bus = Bus::new();
    let memory = MemoryWriter::default();
    let handle = Logger::builder()
        .json()
        .level(Level::Warn)
        .sink(Sink::writer(memory.clone()))
        .attach(&bus)
        .unwrap();
    let result: Result<(), &str> =
        bus.try_span(&catalog::LLM_CHAT, &[], |_| Err("upstream timeout"));
    assert!(result.is_err());
    handle.flush(WAIT).unwrap();
    let lines = memory.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(v["event"], "llm.chat.exception");
    assert_eq!(v["level"], "error");
    assert!(v["measurements"]["duration"].as_f64().is_some());
}

#[test]
fn default_logger_attaches_once() {
    let bus = Bus::new();
    let handle = attach_default_logger(&bus, Level::Debug).unwrap();
    assert_eq!(bus.list_handlers("")[0].id, handle.id());
    assert!(matches!(
        attach_default_logger(&bus, Level::Info),
        Err(LogError::Attach(AttachError::AlreadyExists(_)))
    ));
    bus.execute(&catalog::CACHE_LOOKUP_HIT, &[(keys::SIZE_BYTES, 1.0)], &[]);
    handle.flush(WAIT).unwrap();
    assert_eq!(handle.stats().lines, 1);
    handle.detach(WAIT).unwrap();
    assert!(bus.list_handlers("").is_empty());
}

#[test]
fn bad_configuration_is_a_typed_error() {
    let err = Logger::builder()
        .service("a")
        .global_field("trace_id", "x")
        .build();
    assert!(matches!(err, Err(LogError::ReservedGlobalField { name }) if name == "trace_id"));
    assert!(matches!(
        Logger::builder().sample_rate(2.0).build(),
        Err(LogError::InvalidSampleRate(r)) if r == 2.0
    ));
    assert!(matches!(
        Logger::builder().max_lines_per_second(0).build(),
        Err(LogError::ZeroRateLimit)
    ));
    assert!(matches!(
        Logger::builder().pattern("llm..stop").build(),
        Err(LogError::InvalidEventFilter { filter, .. }) if filter == "llm..stop"
    ));
    assert!(matches!(
        Logger::builder().prefix("llm.*").build(),
        Err(LogError::InvalidEventFilter { filter, .. }) if filter == "llm.*"
    ));
    assert!(matches!(
        Logger::builder().level_for("", Level::Info).build(),
        Err(LogError::InvalidLevelPrefix { .. })
    ));
    let dir = temp_dir("errors");
    assert!(matches!(
        Logger::builder()
            .sink(Sink::rotating_file(dir.join("x.log"), 0, 3))
            .build(),
        Err(LogError::InvalidRotation {
            max_bytes: 0,
            keep: 3
        })
    ));
    let missing = dir.join("no-such-dir").join("x.log");
    match Logger::builder().sink(Sink::file(&missing)).build() {
        Err(LogError::OpenFile { path, .. }) => assert_eq!(path, missing),
        other => panic!("expected OpenFile, got {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_sink_that_fails_is_counted_not_fatal() {
    struct Broken;
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::other("disk on fire"))
        }
    }
    let bus = Bus::new();
    let handle = Logger::builder()
        .sink(Sink::writer(Broken))
        .flush_every_line(true)
        .attach(&bus)
        .unwrap();
    for _ in 0..3 {
        bus.execute(&catalog::CACHE_LOOKUP_HIT, &[], &[]);
    }
    assert!(handle.flush(WAIT).is_err());
    let stats = handle.stats();
    assert!(stats.write_errors >= 3, "{stats:?}");
    // Still attached: a failing sink does not detach the logger.
    assert_eq!(bus.stats().handler(handle.id()).unwrap().failed, 0);
    assert!(bus.list_handlers("").iter().any(|h| h.id == handle.id()));
}
