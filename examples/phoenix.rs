//! Traces to Arize Phoenix, one Phoenix project per tenant.
//!
//! ```text
//! phoenix serve                                    # another shell; UI and OTLP on :6006
//! cargo run --example phoenix
//! PHOENIX_COLLECTOR_ENDPOINT=http://phoenix.internal:6006 cargo run --example phoenix
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 cargo run --example phoenix   # any OTLP/gRPC collector
//! ```
//!
//! It shows:
//! - [`OtelHandler::builder`] with the endpoint taken from `PHOENIX_COLLECTOR_ENDPOINT`, else
//!   `OTEL_EXPORTER_OTLP_ENDPOINT`, else `http://127.0.0.1:6006` (Phoenix's OTLP/HTTP port);
//! - per-tenant projects: spans carrying a `tenant` go to the Phoenix project named by the
//!   template (`demo-acme`, `demo-globex` here), through one exporter per tenant;
//! - a hybrid-search request span per tenant, with an embedding and a generation nested under
//!   it (OpenInference `input.value`, `output.value`, `llm.model_name`, token counts, and the
//!   GenAI `gen_ai.*` attributes on each span);
//! - [`OtelHandler::force_flush`] and [`OtelHandler::shutdown`] before exit, and the handler's
//!   [`OtelHandler::stats`].
//!
//! Without a collector the program still exits within a few seconds: the failed exports are
//! counted as dropped spans (the bus and the instrumented code never wait on the network).

use std::time::{Duration, Instant};

use llm_telemetry::catalog::keys;
use llm_telemetry::instrument::{
    EmbedRequest, GenerateRequest, InferenceBackend, Instrumentation, InstrumentedBackend,
    LatencyProfile, Pooling, SimulatedBackend, TelemetryLevel,
};
use llm_telemetry::{Bus, Value};
use llm_telemetry_otel::OtelHandler;

type Error = Box<dyn std::error::Error>;

/// The tenants whose traces are kept apart.
const TENANTS: [&str; 2] = ["acme", "globex"];
/// The service name on every span's resource (the `{service}` of the project template).
const SERVICE: &str = "phoenix-example";
/// Phoenix's default OTLP/HTTP address.
const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:6006";

fn main() {
    if let Err(e) = run() {
        eprintln!("phoenix: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    let endpoint = ["PHOENIX_COLLECTOR_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());

    let bus = Bus::new();
    let otel = OtelHandler::builder()
        .endpoint(endpoint)
        .service_name(SERVICE)
        .service_version(env!("CARGO_PKG_VERSION"))
        // Spans without a tenant would go here.
        .project_name("demo-shared")
        // Spans with `tenant = "acme"` go to project "demo-acme".
        .tenant_projects(true)
        .tenant_prefix("demo")
        .tenant_project_template("{prefix}-{tenant}")
        // A collector that is down or slow costs at most this per export.
        .export_timeout(Duration::from_secs(3))
        .attach(&bus)?;
    println!(
        "exporting to {} ({:?})",
        otel.config().endpoint,
        otel.config().protocol
    );

    // `Detailed` records prompts and responses (`input.value`, `output.value`).
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Detailed);
    let backend = InstrumentedBackend::new(
        SimulatedBackend::new("openai")
            .with_latency(LatencyProfile::realistic().scaled(0.05))
            .with_dimension(256),
        telemetry.clone(),
    );

    let started = Instant::now();
    for tenant in TENANTS {
        for question in ["Which contract renews first?", "What does HTTP 429 mean?"] {
            let answer = hybrid_search(&telemetry, &backend, tenant, question)?;
            println!("[{tenant}] {question} -> {} output tokens", answer);
        }
    }

    // Export what was emitted: bus queue, then the batch, then every tenant's exporter.
    let flushed = otel.force_flush(Duration::from_secs(5));
    let stats = otel.stats();
    let shut_down = otel.shutdown(Duration::from_secs(5));

    println!("\nopen Phoenix at the collector's address and look at these projects:");
    for tenant in TENANTS {
        println!(
            "  {:<14} tenant {tenant}",
            otel.config().tenants.project_name(tenant, SERVICE)
        );
    }
    println!(
        "\nspans exported {}  dropped {}  (export failed {}, queue full {}, bus queue {})  \
         failed exports {}  tenant exporters made {}",
        stats.exported,
        stats.dropped(),
        stats.dropped_export_failed,
        stats.dropped_queue_full,
        stats.dropped_bus_queue,
        stats.failed_exports,
        stats.tenants.misses,
    );
    println!(
        "flushed {flushed}, shut down cleanly {shut_down}, {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
    if stats.exported == 0 {
        println!(
            "no span reached the collector: is Phoenix running? (`phoenix serve`, or set \
             PHOENIX_COLLECTOR_ENDPOINT)"
        );
    }
    Ok(())
}

/// One retrieval-augmented answer: an `llm.request` span named `hybrid_search`, with the query
/// embedding and the generation as its children (the helpers pick the current span up as
/// parent). Returns the output token count.
fn hybrid_search(
    telemetry: &Instrumentation,
    backend: &InstrumentedBackend<SimulatedBackend>,
    tenant: &str,
    question: &str,
) -> Result<u64, Error> {
    let tokens = telemetry.try_request(
        "hybrid_search",
        &[(keys::TENANT, Value::Str(tenant))],
        || {
            let query = EmbedRequest::new("text-embedding-3-small", [question])
                .query(true)
                .pooling(Pooling::Mean)
                .tenant(tenant);
            let embedding = backend.embed(&query)?;
            // A real service would search a vector index with `embedding` here.
            let context = format!(
                "[{} documents nearest to a {}-dimensional query vector]",
                3,
                embedding.dimension()
            );
            let prompt = format!("Context: {context}\n\nQuestion: {question}");
            let request = GenerateRequest::new("gpt-4o-mini", prompt)
                .max_tokens(64)
                .temperature(0.2)
                .tenant(tenant);
            backend.generate(&request).map(|c| c.output_tokens)
        },
    )?;
    Ok(tokens)
}
