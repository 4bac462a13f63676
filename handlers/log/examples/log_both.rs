//! Console lines on stderr for people, JSON lines on stdout for a pipeline, from the same bus.
//!
//! ```text
//! cargo run -p llm-telemetry-log --example log_both 2>/dev/null | jq .
//! ```

use std::time::Duration;

use llm_telemetry_core::{Bus, Value};
use llm_telemetry_genai::catalog::{self, keys};
use llm_telemetry_log::{Level, LogError, Logger, Sink, attach_default_logger};

fn main() -> Result<(), LogError> {
    let bus = Bus::new();
    let console = attach_default_logger(&bus, Level::Debug)?;
    let json = Logger::builder()
        .id("json-lines")
        .json()
        .sink(Sink::stdout())
        .service("example")
        .environment("dev")
        .version(env!("CARGO_PKG_VERSION"))
        .attach(&bus)?;

    bus.span(
        &catalog::LLM_CHAT,
        &[
            (keys::PROVIDER, Value::Str("openai")),
            (keys::MODEL, Value::Str("gpt-4o-mini")),
            // Hidden by redaction in both outputs.
            ("api_key", Value::Str("sk-proj-Abc123Def456Ghi789Jkl012")),
        ],
        |span| {
            std::thread::sleep(Duration::from_millis(3));
            span.measure(keys::INPUT_TOKENS, 120.0);
            span.measure(keys::OUTPUT_TOKENS, 42.0);
        },
    );
    let failed: Result<(), &str> = bus.try_span(&catalog::LLM_EMBED, &[], |_| Err("timeout"));
    debug_assert!(failed.is_err());

    // Detach both: each queue drains, then the buffered bytes are pushed out.
    let wait = Duration::from_secs(5);
    for handle in [&console, &json] {
        if let Err(error) = handle.detach(wait) {
            eprintln!("log detach of {} did not finish: {error}", handle.id());
        }
    }
    Ok(())
}
