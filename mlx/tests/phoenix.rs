//! The spans of real MLX inference read back from a real Arize Phoenix: a greedy and a streamed
//! generation of the tiny Llama, a MiniLM embedding batch and a refused request go through the
//! instrumented backend and the OpenTelemetry handler (OTLP/HTTP) to Phoenix, whose REST API must
//! give back `mlx_lm.generate` / `mlx_embedding.embed` spans with PMD's attributes holding the
//! numbers the backend returned. Needs `scripts/setup-mlx.sh` and Phoenix
//! (`LLM_TELEMETRY_PHOENIX`); `scripts/test-all.sh` runs it.
#![cfg(any(target_os = "macos", feature = "system-mlx"))]

mod common;
#[path = "../../handlers/otel/tests/support/phoenix.rs"]
mod phoenix;

use std::time::Duration;

use llm_telemetry_core::Bus;
use llm_telemetry_genai::instrument::{
    EmbedRequest, GenerateRequest, InferenceBackend, Instrumentation, InstrumentedBackend, Pooling,
    TelemetryLevel,
};
use llm_telemetry_mlx::MlxBackend;
use llm_telemetry_otel::{OtelHandler, Protocol};
use phoenix::{Phoenix, attribute};
use serde_json::{Value as Json, json};

const PROJECT: &str = "mlx-real-inference";

fn find<'a>(spans: &'a [Json], what: &str, pred: impl Fn(&Json) -> bool) -> &'a Json {
    spans
        .iter()
        .find(|s| pred(s))
        .unwrap_or_else(|| panic!("no {what} among {spans:#?}"))
}

#[test]
#[ignore = "needs scripts/setup-mlx.sh and Phoenix; scripts/test-all.sh runs it"]
fn mlx_spans_reach_phoenix_with_pmd_attributes() {
    let phoenix = Phoenix::shared();
    let bus = Bus::new();
    let otel = OtelHandler::builder()
        .read_env(false)
        .protocol(Protocol::HttpProtobuf)
        .endpoint(phoenix.http_endpoint())
        .service_name("mlx-test")
        .project_name(PROJECT)
        .attach(&bus)
        .unwrap();
    let backend = InstrumentedBackend::new(
        MlxBackend::new()
            .load_generator(common::tiny_llama())
            .unwrap()
            .load_embedder(common::minilm())
            .unwrap(),
        Instrumentation::new(&bus, TelemetryLevel::Detailed),
    );
    let prompt = "The sky is";
    let greedy = backend
        .generate(
            &GenerateRequest::new("tiny-llama", prompt)
                .max_tokens(8)
                .seed(7)
                .device("cpu"),
        )
        .unwrap();
    let streamed: String = backend
        .stream(
            &GenerateRequest::new("tiny-llama", "Once upon a time")
                .max_tokens(6)
                .streaming(true),
        )
        .unwrap()
        .chunks
        .map(|c| c.unwrap().text)
        .collect();
    let embeddings = backend
        .embed(
            &EmbedRequest::new("all-MiniLM-L6-v2", ["hello", "a second, longer text"])
                .query(true)
                .pooling(Pooling::Cls),
        )
        .unwrap();
    backend
        .generate(&GenerateRequest::new("tiny-llama", prompt).max_tokens(0))
        .unwrap_err();
    assert!(
        otel.force_flush(Duration::from_secs(30)),
        "{:?}",
        otel.stats()
    );
    assert!(otel.shutdown(Duration::from_secs(30)));
    assert_eq!(otel.stats().exported, 4, "{:?}", otel.stats());

    let spans = phoenix.wait_for_spans(PROJECT, 4, Duration::from_secs(60));
    let generate = find(&spans, "greedy mlx_lm.generate", |s| {
        s["name"] == "mlx_lm.generate" && attribute(s, "gen_ai.seed") == 7
    });
    assert_eq!(attribute(generate, "mlx.model_id"), "tiny-llama");
    assert_eq!(attribute(generate, "mlx.device"), "cpu");
    assert_eq!(attribute(generate, "gen_ai.streaming"), false);
    assert_eq!(attribute(generate, "gen_ai.response.token_count"), 8);
    assert_eq!(
        attribute(generate, "gen_ai.response.token_count"),
        greedy.output_tokens
    );
    assert_eq!(
        attribute(generate, "gen_ai.usage.input_tokens"),
        greedy.input_tokens
    );
    assert_eq!(attribute(generate, "gen_ai.prompt.length"), prompt.len());
    assert_eq!(
        attribute(generate, "gen_ai.response.length"),
        greedy.text.chars().count()
    );
    assert_eq!(attribute(generate, "output.value"), greedy.text.as_str());
    assert!(attribute(generate, "mlx.latency_ms").as_f64().unwrap() > 0.0);

    let stream = find(&spans, "streamed mlx_lm.generate", |s| {
        s["name"] == "mlx_lm.generate" && attribute(s, "gen_ai.streaming") == true
    });
    assert_eq!(attribute(stream, "mlx.streaming"), true);
    assert_eq!(attribute(stream, "gen_ai.response.token_count"), 6);
    assert!(
        attribute(stream, "mlx.time_to_first_token_ms")
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(attribute(stream, "mlx.tokens_per_second").as_f64().unwrap() > 0.0);
    assert_eq!(
        attribute(stream, "gen_ai.response.length"),
        streamed.chars().count()
    );

    let embed = find(&spans, "mlx_embedding.embed", |s| {
        s["name"] == "mlx_embedding.embed"
    });
    assert_eq!(attribute(embed, "mlx.model_id"), "all-MiniLM-L6-v2");
    assert_eq!(attribute(embed, "embedding.dimension"), 384);
    assert_eq!(attribute(embed, "embedding.batch_size"), 2);
    assert_eq!(attribute(embed, "embedding.pooling_used"), "cls");
    assert_eq!(attribute(embed, "embedding.pooling_strategy"), "cls");
    assert_eq!(attribute(embed, "embedding.is_query"), true);
    assert_eq!(
        attribute(embed, "gen_ai.usage.input_tokens"),
        embeddings.input_tokens
    );

    let failed = find(&spans, "failed mlx_lm.generate", |s| {
        s["name"] == "mlx_lm.generate" && s["status_code"] == "ERROR"
    });
    assert_eq!(attribute(failed, "error.type"), "invalid_request");
    let exception = failed["events"]
        .as_array()
        .and_then(|events| events.iter().find(|e| e["name"] == "exception"))
        .unwrap_or_else(|| panic!("no exception event in {failed:#}"));
    assert_eq!(
        exception["attributes"]["exception.message"],
        json!("invalid request `max_tokens` = 0: expected at least 1")
    );
}
