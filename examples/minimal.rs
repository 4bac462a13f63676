//! The smallest useful setup: one console logger on a bus, a few catalog events, one span.
//!
//! ```text
//! cargo run --example minimal
//! ```
//!
//! It shows:
//! - [`llm_telemetry_log::attach_default_logger`]: console lines on stderr at `info`;
//! - the typed helpers of [`llm_telemetry::instrument`] (a chat call, an embedding, a streamed
//!   generation, cache lookups), which emit the catalog with the right keys;
//! - a span of your own with [`Bus::span`], carrying measurements and metadata;
//! - an event of your own with [`llm_telemetry::emit!`];
//! - flushing before exit, so the queued logger writes every line.
//!
//! Every line printed on stderr comes from the logger; the program's own output is on stdout.

use std::time::Duration;

use llm_telemetry::catalog::{self, keys};
use llm_telemetry::instrument::{
    ChatMessage, ChatRequest, Completion, EmbedRequest, Embeddings, GenerateRequest,
    Instrumentation, Pooling, TelemetryLevel,
};
use llm_telemetry::{Bus, Value, emit};
use llm_telemetry_log::{Level, attach_default_logger};

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    // A bus of our own (`Bus::global()` works the same), and a console logger on it. The logger
    // is a queued handler: formatting and writing happen on its own thread, never on ours.
    let bus = Bus::new();
    let logger = attach_default_logger(&bus, Level::Info)?;

    // The typed helpers. `Detailed` also puts prompt and response text on the events; the
    // logger's default redactor prints them as [REDACTED].
    let telemetry = Instrumentation::new(&bus, TelemetryLevel::Detailed);

    // 1. A chat call: `llm.chat.start`, then `llm.chat.stop` with duration and token counts.
    let chat = ChatRequest::new(
        "gpt-4o-mini",
        vec![
            ChatMessage::system("You are terse."),
            ChatMessage::user("What is the capital of France?"),
        ],
    )
    .provider("openai")
    .max_tokens(32)
    .temperature(0.0)
    .tenant("acme");
    let answer = telemetry.chat(&chat, || {
        std::thread::sleep(Duration::from_millis(20)); // the "model"
        Ok::<_, std::io::Error>(Completion::new("Paris.", 18, 2))
    })?;
    println!("chat answered {:?}", answer.text);

    // 2. An embedding: `llm.embed.*` with the dimension and the pooling used.
    let embed = EmbedRequest::new("text-embedding-3-small", ["capital of France"])
        .provider("openai")
        .query(true)
        .pooling(Pooling::Mean);
    let vectors = telemetry.embed(&embed, || {
        Ok::<_, std::io::Error>(Embeddings {
            vectors: vec![vec![0.1; 8]],
            input_tokens: 4,
            pooling: Pooling::Mean,
        })
    })?;
    println!("embedded into {} dimensions", vectors.dimension());

    // 3. A streamed generation: `llm.stream.first_token`, then the stop event with tokens per
    //    second and time per output token.
    let request = GenerateRequest::new("llama-3.1-8b", "Count to five").provider("local");
    let text: String = telemetry
        .stream_generate(&request, ["one", " two", " three", " four", " five"])
        .collect();
    println!("streamed {text:?}");

    // 4. Cache lookups: the key is hashed, never logged.
    let cache = telemetry.cache("responses");
    cache.miss("What is the capital of France?");
    cache.put("What is the capital of France?", Some(6));
    cache.hit("What is the capital of France?", Some(6));

    // 5. A span of your own on the bus: start and stop (or exception, on a panic) with one
    //    trace context. Metadata keys come from `catalog::keys`, never typed by hand.
    let words = bus.span(
        &catalog::LLM_REQUEST,
        &[
            (keys::OPERATION, Value::Str("rerank")),
            (keys::TENANT, Value::Str("acme")),
        ],
        |span| {
            span.measure(keys::BATCH_SIZE, 3.0);
            span.set(keys::STATUS, keys::STATUS_OK);
            3
        },
    );
    println!("reranked {words} documents");

    // 6. A single event of your own; arguments are evaluated only if someone listens.
    emit!(
        bus,
        &catalog::LLM_PROVIDER_RATE_LIMIT,
        [keys::RETRY_AFTER => 2.0],
        [keys::PROVIDER => "openai", keys::STATUS => "429"],
    );

    // Before exit: the logger's queue drains and its writer is flushed, by a deadline. The
    // handle's stats stay readable after the detach.
    logger.detach(Duration::from_secs(5))?;
    let stats = logger.stats();
    println!(
        "logged {} lines (dropped: {})",
        stats.lines, stats.queue_dropped
    );
    Ok(())
}
