//! Issue 18, item 8: the tenant projects share one HTTP connection pool, so many
//! tenants do not multiply connections to the collector. Against a loopback OTLP/HTTP receiver
//! that counts the connections it accepts, 200 tenants' spans are exported whole over a few
//! connections, not one (or more) per tenant.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_otel::{OtelHandler, Protocol};
use support::receiver;

#[test]
fn many_tenants_share_the_connections_to_one_collector() {
    const TENANTS: usize = 200;
    let stop = Arc::new(AtomicBool::new(false));
    let (port, answered, connections) = receiver::answering_counted(Duration::ZERO, stop.clone());
    let bus = Bus::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .protocol(Protocol::HttpProtobuf)
        .endpoint(format!("http://127.0.0.1:{port}"))
        .tenant_projects(true)
        .scheduled_delay(Duration::from_millis(50))
        .attach(&bus)
        .unwrap();
    // Tenants one after another, so the exports of different tenants follow each other: a
    // shared pool reuses the idle connection of the previous tenant.
    for round in 0..3 {
        for t in 0..TENANTS {
            let tenant = format!("tenant-{t}");
            bus.span(
                &catalog::LLM_CHAT,
                &[
                    (keys::MODEL, Value::Str("gpt-4o")),
                    (keys::TENANT, Value::Str(&tenant)),
                    (keys::MAX_TOKENS, Value::Int(round)),
                ],
                |_| (),
            );
        }
        assert_eq!(otel.flush(Duration::from_secs(30)), Ok(()));
    }
    let stats = otel.stats();
    stop.store(true, Ordering::SeqCst);
    assert_eq!(stats.exported, 3 * TENANTS as u64, "{stats:?}");
    let connections = connections.load(Ordering::SeqCst);
    println!(
        "{} exports from {TENANTS} tenants over {connections} connections",
        answered.load(Ordering::SeqCst)
    );
    assert!(
        connections <= 8,
        "{connections} connections for {TENANTS} tenants: each tenant's exporter opened its own"
    );
    otel.detach(Duration::from_secs(10)).unwrap();
}
