//! `CORE_PROFILE=<case>` runs one side of one case untimed, `CORE_PROFILE_ITERS` times (default
//! 1 000 000), for an instruction count under callgrind: run it at two iteration counts and divide
//! the difference by the difference to get instructions per call without the setup.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use llm_telemetry_core::{Delivery, Value};
use tracing_subscriber::layer::SubscriberExt;

use crate::{CHAT_STOP, CountingLayer, UNHEARD, UNHEARD_SPAN, counting_bus};

/// The cases `CORE_PROFILE` accepts.
const CASES: &str = "inline_counter_ours, inline_counter_peer, queued_producer_ours, \
                     no_listener_ours, no_listener_peer, span_no_listener_ours, span_no_listener_peer";

/// Runs the case named by `CORE_PROFILE` if it is set; returns whether it was.
pub fn run_from_env() -> bool {
    let Ok(case) = std::env::var("CORE_PROFILE") else {
        return false;
    };
    let iters: u64 = std::env::var("CORE_PROFILE_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let tokens = 42.0f64;
    match case.as_str() {
        "inline_counter_ours" => {
            let (bus, count) = counting_bus(Delivery::Inline, 1);
            for _ in 0..iters {
                bus.execute(
                    &CHAT_STOP,
                    &[("output_tokens", black_box(tokens))],
                    &[
                        ("model", Value::Str(black_box("gpt-4o"))),
                        ("tenant", Value::Str(black_box("acme"))),
                    ],
                )
            }
            println!("handled {}", count.load(Ordering::Relaxed));
        }
        "inline_counter_peer" => {
            let count = Arc::new(AtomicU64::new(0));
            let subscriber = tracing::Dispatch::new(
                tracing_subscriber::registry().with(CountingLayer(count.clone())),
            );
            tracing::dispatcher::with_default(&subscriber, || {
                for _ in 0..iters {
                    tracing::info!(
                        output_tokens = black_box(tokens),
                        model = black_box("gpt-4o"),
                        tenant = black_box("acme")
                    )
                }
            });
            println!("handled {}", count.load(Ordering::Relaxed));
        }
        "queued_producer_ours" => {
            let (bus, _count) = counting_bus(Delivery::Queued { capacity: 1 << 16 }, 1);
            for _ in 0..iters {
                bus.execute(&CHAT_STOP, &[("output_tokens", black_box(42.0))], &[])
            }
            let _ = bus.shutdown(Duration::from_secs(10));
        }
        "no_listener_ours" => {
            for _ in 0..iters {
                llm_telemetry_core::emit!(&UNHEARD, ["output_tokens" => black_box(42.0)], ["model" => black_box("gpt-4o"), "tenant" => black_box("acme")])
            }
        }
        "no_listener_peer" => {
            for _ in 0..iters {
                tracing::info!(
                    output_tokens = black_box(42.0),
                    model = black_box("gpt-4o"),
                    tenant = black_box("acme")
                )
            }
        }
        "span_no_listener_ours" => {
            for _ in 0..iters {
                black_box(llm_telemetry_core::span(&UNHEARD_SPAN, &[], |_| {
                    black_box(1u64)
                }));
            }
        }
        "span_no_listener_peer" => {
            for _ in 0..iters {
                black_box(tracing::info_span!("bench_span").in_scope(|| black_box(1u64)));
            }
        }
        other => {
            eprintln!("CORE_PROFILE={other}: expected one of {CASES}");
            std::process::exit(2);
        }
    }
    true
}
