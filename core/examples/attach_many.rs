//! Times attaching many handlers (10,000 by default) and detaching them again: first each to its
//! own exact name, then a mix where one handler in ten takes a pattern (`attach.g7.*.stop`, which
//! matches the hundred names of its group). Every name is registered before the first attach.
//!
//! `cargo run --release -p llm-telemetry-core --example attach_many [count]`

use std::time::Instant;

use llm_telemetry_core::{Bus, Event, EventName};

fn noop(_: &Event<'_>) {}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 10_000,
    };
    let names: Vec<EventName> = (0..count)
        .map(|i| EventName::new(&format!("attach.g{}.n{i}.stop", i / 100)))
        .collect::<Result<_, _>>()?;

    let bus = Bus::new();
    let started = Instant::now();
    for (i, name) in names.iter().enumerate() {
        bus.attach(format!("exact-{i}"), name, noop)?;
    }
    let attached = started.elapsed();
    let started = Instant::now();
    for i in 0..count {
        bus.detach(&format!("exact-{i}"))?;
    }
    let detached = started.elapsed();
    println!("{count} exact attaches: {attached:?}, detaches: {detached:?}");

    let bus = Bus::new();
    let started = Instant::now();
    for (i, name) in names.iter().enumerate() {
        let pattern = if i % 10 == 0 {
            format!("attach.g{}.*.stop", i / 100)
        } else {
            name.as_str().to_owned()
        };
        bus.attach(format!("mixed-{i}"), &pattern, noop)?;
    }
    let attached = started.elapsed();
    let started = Instant::now();
    for i in 0..count {
        bus.detach(&format!("mixed-{i}"))?;
    }
    let detached = started.elapsed();
    println!("{count} mixed attaches (1 in 10 a pattern): {attached:?}, detaches: {detached:?}");
    Ok(())
}
