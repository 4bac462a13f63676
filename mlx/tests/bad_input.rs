//! Bad input to the MLX backend on a real MLX: model directories missing a file, of an
//! unsupported architecture, with another model's tokenizer or truncated weights; an empty
//! prompt, `max_tokens` 0, a prompt longer than the context, no or too long embedding inputs.
//! Each gives a typed [`MlxError`] naming the file or value, an `llm.*.exception` event with its
//! class as `error.type`, and no panic. Needs `scripts/setup-mlx.sh`; run with
//! `scripts/mlx-cargo.sh test -p llm-telemetry-mlx --features system-mlx -- --include-ignored`.
#![cfg(any(target_os = "macos", feature = "system-mlx"))]

mod common;

use std::fs;
use std::path::Path;

use llm_telemetry_core::testing::Capture;
use llm_telemetry_genai::catalog::keys;
use llm_telemetry_genai::instrument::{
    EmbedRequest, GenerateRequest, InferenceBackend, InstrumentedBackend,
};
use llm_telemetry_mlx::{MlxBackend, MlxError, load};

/// The one exception event `name`: its `error.type` must be `error_type` and its message must
/// be the error's.
fn exception(capture: &Capture, name: &str, error_type: &str, error: &MlxError) {
    let events = capture.named(name);
    assert_eq!(events.len(), 1, "one {name}: {:?}", capture.names());
    assert_eq!(events[0].str(keys::ERROR_TYPE), Some(error_type));
    assert_eq!(
        events[0].str(keys::EXCEPTION_MESSAGE),
        Some(error.to_string().as_str())
    );
}

/// Loads `dir` as a generator through [`load`]; returns the error and checks its event.
fn load_error(dir: &Path, error_type: &str) -> MlxError {
    let (_bus, capture, telemetry) = common::telemetry();
    let error = load(&telemetry, Some(dir), None).expect_err("the load must fail");
    exception(&capture, "llm.request.exception", error_type, &error);
    error
}

#[test]
#[ignore = "needs scripts/setup-mlx.sh (MLX); scripts/test-all.sh runs it"]
fn a_missing_file_is_named() {
    for (file, error_type) in [
        ("config.json", "model_load"),
        ("tokenizer.json", "tokenizer"),
        ("model.safetensors", "model_load"),
    ] {
        let dir = common::tiny_llama_copy(&format!("missing-{file}"));
        fs::remove_file(dir.join(file)).unwrap();
        let error = load_error(&dir, error_type);
        let message = error.to_string();
        match file {
            "model.safetensors" => assert!(message.contains("no *.safetensors file"), "{message}"),
            _ => assert!(message.contains(file), "{file}: {message}"),
        }
        assert!(message.contains(dir.to_str().unwrap()), "{message}");
    }
}

#[test]
#[ignore = "needs scripts/setup-mlx.sh (MLX); scripts/test-all.sh runs it"]
fn an_unsupported_architecture_names_the_key_and_value() {
    let dir = common::tiny_llama_copy("gpt2");
    let config = fs::read_to_string(dir.join("config.json")).unwrap();
    fs::write(
        dir.join("config.json"),
        config.replace("\"llama\"", "\"gpt2\""),
    )
    .unwrap();
    let error = load_error(&dir, "model_load");
    assert!(
        matches!(&error, MlxError::Config { key: "model_type", value, .. } if value == "\"gpt2\""),
        "{error:?}"
    );
    // A decoder is not an embedding model either.
    let (_bus, capture, telemetry) = common::telemetry();
    let error = load(&telemetry, None, Some(common::tiny_llama())).unwrap_err();
    assert!(
        matches!(&error, MlxError::Config { key: "model_type", value, .. } if value == "\"llama\""),
        "{error:?}"
    );
    exception(&capture, "llm.request.exception", "model_load", &error);
}

#[test]
#[ignore = "needs scripts/setup-mlx.sh (MLX, MiniLM); scripts/test-all.sh runs it"]
fn another_models_tokenizer_is_refused() {
    let dir = common::tiny_llama_copy("foreign-tokenizer");
    fs::copy(
        common::minilm().join("tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
    let error = load_error(&dir, "model_load");
    let message = error.to_string();
    assert!(
        matches!(&error, MlxError::ModelLoad { path, .. } if path == &dir.join("tokenizer.json")),
        "{error:?}"
    );
    assert!(
        message.contains("30522 token ids") && message.contains("320 rows"),
        "{message}"
    );
}

#[test]
#[ignore = "needs scripts/setup-mlx.sh (MLX); scripts/test-all.sh runs it"]
fn truncated_weights_are_refused_at_load() {
    let dir = common::tiny_llama_copy("truncated");
    let weights = dir.join("model.safetensors");
    let bytes = fs::read(&weights).unwrap();
    fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let error = load_error(&dir, "model_load");
    assert!(
        matches!(&error, MlxError::ModelLoad { path, .. } if path == &weights),
        "{error:?}"
    );
}

#[test]
#[ignore = "needs scripts/setup-mlx.sh (MLX); scripts/test-all.sh runs it"]
fn bad_generation_requests_name_the_value() {
    let (_bus, capture, telemetry) = common::telemetry();
    let backend = InstrumentedBackend::new(
        MlxBackend::new()
            .load_generator(common::tiny_llama())
            .unwrap(),
        telemetry,
    );
    let long = "1 2 3 4 5 ".repeat(30);
    let cases = [
        (GenerateRequest::new("tiny", ""), "prompt", "\"\""),
        (
            GenerateRequest::new("tiny", "The sky is").max_tokens(0),
            "max_tokens",
            "0",
        ),
        (GenerateRequest::new("tiny", long), "prompt", "301 tokens"),
    ];
    for (request, field, value) in cases {
        for streaming in [false, true] {
            capture.clear();
            let error = if streaming {
                backend.stream(&request).err().unwrap()
            } else {
                backend.generate(&request).unwrap_err()
            };
            assert!(
                matches!(&error, MlxError::InvalidRequest { field: f, value: v, .. } if *f == field && v == value),
                "{error:?}"
            );
            exception(
                &capture,
                "llm.generate.exception",
                "invalid_request",
                &error,
            );
        }
    }
    // The backend still works afterwards.
    assert_eq!(
        backend
            .generate(&GenerateRequest::new("tiny", "The sky is").max_tokens(3))
            .unwrap()
            .output_tokens,
        3
    );
}

#[test]
#[ignore = "needs scripts/setup-mlx.sh (MLX, MiniLM); scripts/test-all.sh runs it"]
fn bad_embedding_requests_name_the_value() {
    let (_bus, capture, telemetry) = common::telemetry();
    let backend = InstrumentedBackend::new(
        MlxBackend::new().load_embedder(common::minilm()).unwrap(),
        telemetry,
    );
    let none: [&str; 0] = [];
    let error = backend.embed(&EmbedRequest::new("m", none)).unwrap_err();
    assert!(
        matches!(&error, MlxError::InvalidRequest { field: "inputs", value, .. } if value == "[]"),
        "{error:?}"
    );
    exception(&capture, "llm.embed.exception", "invalid_request", &error);
    capture.clear();
    // 600 words: more than MiniLM's 512 positions (its tokenizer.json would silently cut at 128).
    let long = "word ".repeat(600);
    let error = backend
        .embed(&EmbedRequest::new("m", ["short", long.as_str()]))
        .unwrap_err();
    assert!(
        matches!(&error, MlxError::InvalidRequest { field: "inputs", value, .. } if value == "input 1 of 602 tokens"),
        "{error:?}"
    );
    assert!(error.to_string().contains("1 to 512 tokens"), "{error}");
    exception(&capture, "llm.embed.exception", "invalid_request", &error);
    // Generation was never loaded.
    capture.clear();
    let error = backend
        .generate(&GenerateRequest::new("m", "hi"))
        .unwrap_err();
    assert!(matches!(error, MlxError::NotLoaded { .. }), "{error:?}");
    exception(&capture, "llm.generate.exception", "not_loaded", &error);
}
