//! Sampling through a real logger: rates fall within binomial bounds (5 sigma), traces are logged
//! whole or not at all, and the lines-per-second limit holds.

use std::collections::HashMap;

use llm_telemetry_core::{Event, EventName, SpanContext};
use llm_telemetry_log::sample::trace_sampled;
use llm_telemetry_log::{Level, Logger, MemoryWriter, Sink};

fn logger(rate: f64, max_per_second: Option<u32>, memory: &MemoryWriter) -> Logger {
    let mut builder = Logger::builder()
        .json()
        .level(Level::Trace)
        .sample_rate(rate)
        .sink(Sink::writer(memory.clone()));
    if let Some(max) = max_per_second {
        builder = builder.max_lines_per_second(max);
    }
    builder.build().unwrap()
}

/// |kept - n p| <= 5 sqrt(n p (1 - p)): fails by chance about once in 3.5 million runs.
fn assert_binomial(kept: u64, n: u64, p: f64) {
    let mean = n as f64 * p;
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    assert!(
        (kept as f64 - mean).abs() <= 5.0 * sigma,
        "kept {kept} of {n} at rate {p}: expected {mean:.0} ± {:.0}",
        5.0 * sigma
    );
}

#[test]
fn per_event_rate_is_within_five_sigma() {
    let name = EventName::new("sampling.plain.event").unwrap();
    for rate in [0.01, 0.1, 0.5, 0.9] {
        let memory = MemoryWriter::default();
        let logger = logger(rate, None, &memory);
        let n = 20_000;
        for _ in 0..n {
            logger.log(&Event::new(name, &[], &[], None));
        }
        let stats = logger.stats();
        assert_eq!(stats.lines + stats.sampled_out, n);
        assert_binomial(stats.lines, n, rate);
    }
}

#[test]
fn traces_are_kept_whole_at_the_configured_rate() {
    let start = EventName::new("sampling.trace.start").unwrap();
    let inner = EventName::new("sampling.trace.inner").unwrap();
    let stop = EventName::new("sampling.trace.stop").unwrap();
    let rate = 0.2;
    let memory = MemoryWriter::default();
    let logger = logger(rate, None, &memory);
    let traces = 5_000u64;
    for _ in 0..traces {
        let root = SpanContext::new_root();
        let child = SpanContext::new_child(Some(&root));
        logger.log(&Event::new(start, &[], &[], Some(root)));
        logger.log(&Event::new(inner, &[], &[], Some(child)));
        logger.log(&Event::new(stop, &[], &[], Some(root)));
    }
    logger.flush().unwrap();
    let mut per_trace: HashMap<String, usize> = HashMap::new();
    for line in memory.lines() {
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        *per_trace
            .entry(value["trace_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    // Every trace that appears appears whole.
    assert!(per_trace.values().all(|&n| n == 3), "a trace was split");
    assert_binomial(per_trace.len() as u64, traces, rate);
}

#[test]
fn trace_decision_is_deterministic_and_monotonic_in_rate() {
    for _ in 0..1_000 {
        let id = SpanContext::new_root().trace_id;
        // A trace kept at a low rate is kept at every higher rate.
        let kept: Vec<bool> = [0.1, 0.3, 0.6, 1.0]
            .iter()
            .map(|r| trace_sampled(id, *r))
            .collect();
        assert!(kept.windows(2).all(|w| !w[0] || w[1]), "{kept:?}");
        assert_eq!(trace_sampled(id, 0.3), trace_sampled(id, 0.3));
    }
}

#[test]
fn rate_limit_caps_lines_and_counts_the_rest() {
    let name = EventName::new("sampling.limited.event").unwrap();
    let memory = MemoryWriter::default();
    let logger = logger(1.0, Some(50), &memory);
    let started = std::time::Instant::now();
    for _ in 0..10_000 {
        logger.log(&Event::new(name, &[], &[], None));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = logger.stats();
    // One second of burst plus what refilled while the loop ran.
    let allowed = 50.0 + 50.0 * elapsed;
    assert!(
        stats.lines as f64 <= allowed.ceil(),
        "{stats:?} in {elapsed} s"
    );
    assert!(stats.lines >= 50, "{stats:?}");
    assert_eq!(stats.lines + stats.rate_limited, 10_000);
}

/// The docs promise errors are always written: at rate 0 with a lines-per-second limit, every
/// exception and warning of a trace the rate left out is still written, info lines are not.
#[test]
fn errors_and_warnings_survive_sample_rate_zero_and_the_limit() {
    let stop = EventName::new("llm.chat.stop").unwrap();
    let exception = EventName::new("llm.chat.exception").unwrap();
    let rate_limit = EventName::new("llm.provider.rate_limit").unwrap();
    let memory = MemoryWriter::default();
    let logger = logger(0.0, Some(5), &memory);
    for _ in 0..10 {
        let span = SpanContext::new_root();
        logger.log(&Event::new(stop, &[], &[], Some(span)));
        logger.log(&Event::new(exception, &[], &[], Some(span)));
    }
    logger.log(&Event::new(rate_limit, &[], &[], None));
    logger.flush().unwrap();
    let stats = logger.stats();
    assert_eq!(stats.sampled_out, 10, "{stats:?}");
    assert_eq!(stats.lines, 11, "{stats:?}");
    let lines = memory.lines();
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("llm.chat.exception"))
            .count(),
        10
    );
    assert!(lines.iter().any(|l| l.contains("llm.provider.rate_limit")));
}

/// Warnings and errors have their own limit, counted apart: a storm of 1,000 errors against a
/// limit of 20 per second writes at most one second of burst plus what refilled.
#[test]
fn an_error_storm_meets_its_own_limit_and_is_counted() {
    let exception = EventName::new("llm.chat.exception").unwrap();
    let memory = MemoryWriter::default();
    let logger = Logger::builder()
        .json()
        .level(Level::Trace)
        .max_lines_per_second(2)
        .max_urgent_lines_per_second(20)
        .sink(Sink::writer(memory.clone()))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    for _ in 0..1_000 {
        logger.log(&Event::new(exception, &[], &[], None));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = logger.stats();
    assert!(stats.lines >= 20, "{stats:?}");
    assert!(
        stats.lines as f64 <= (20.0 + 20.0 * elapsed).ceil(),
        "{stats:?} in {elapsed} s"
    );
    assert_eq!(stats.lines + stats.urgent_rate_limited, 1_000, "{stats:?}");
    assert_eq!(stats.rate_limited, 0, "{stats:?}");
}
