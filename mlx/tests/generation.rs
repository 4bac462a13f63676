//! Generation on a real MLX (the PyPI CPU wheel): a tiny random 2-layer Llama created by the test
//! gives the same greedy completions as PyPI mlx-lm running the same directory; streaming, stop
//! strings, max tokens, the context length and seeded sampling; the events the instrumented
//! backend emits for them. Needs `scripts/setup-mlx.sh`; run with `scripts/mlx-cargo.sh test -p
//! llm-telemetry-mlx --features system-mlx -- --include-ignored`.
#![cfg(any(target_os = "macos", feature = "system-mlx"))]

mod common;

use llm_telemetry_genai::catalog::keys;
use llm_telemetry_genai::instrument::{
    FinishReason, GenerateRequest, InferenceBackend, InstrumentedBackend,
};
use llm_telemetry_mlx::MlxBackend;

/// Prompts of different lengths.
const PROMPTS: [&str; 3] = [
    "The sky is",
    "Telemetry turns every inference call into",
    "Once upon a time there was a small language model that liked numbers: 1 2 3",
];

/// mlx-lm's greedy completion of `prompt`: (prompt token count, generated token count, text).
fn reference(prompt: &str, max_tokens: u32) -> (u64, u64, String) {
    let out = common::run_python(
        "mlx_lm_reference.py",
        &[
            common::tiny_llama().to_str().unwrap(),
            prompt,
            &max_tokens.to_string(),
        ],
    );
    (
        out["prompt_ids"].as_array().unwrap().len() as u64,
        out["tokens"].as_array().unwrap().len() as u64,
        out["text"].as_str().unwrap().to_owned(),
    )
}

fn backend() -> MlxBackend {
    MlxBackend::new()
        .load_generator(common::tiny_llama())
        .unwrap()
}

#[test]
#[ignore = "needs scripts/setup-mlx.sh (MLX, mlx-lm); scripts/test-all.sh runs it"]
fn greedy_completions_match_mlx_lm_token_for_token() {
    let backend = backend();
    for prompt in PROMPTS {
        let (input_tokens, output_tokens, text) = reference(prompt, 24);
        let completion = backend
            .generate(&GenerateRequest::new("tiny", prompt).max_tokens(24))
            .unwrap();
        assert_eq!(completion.text, text, "prompt {prompt:?}");
        assert_eq!(completion.input_tokens, input_tokens, "prompt {prompt:?}");
        assert_eq!(completion.output_tokens, output_tokens, "prompt {prompt:?}");
        assert_eq!(completion.output_tokens, 24, "no end-of-sequence expected");
        assert_eq!(completion.finish_reason, FinishReason::Length);
        // Every prefix matches too: max_tokens cuts exactly where mlx-lm's would.
        let (_, five, text5) = reference(prompt, 5);
        let short = backend
            .generate(&GenerateRequest::new("tiny", prompt).max_tokens(5))
            .unwrap();
        assert_eq!((short.output_tokens, short.text), (five, text5));
    }
}

#[test]
#[ignore = "needs scripts/setup-mlx.sh (MLX, mlx-lm); scripts/test-all.sh runs it"]
fn a_stream_yields_the_same_text_one_token_at_a_time_with_events() {
    let (_bus, capture, telemetry) = common::telemetry();
    let backend = InstrumentedBackend::new(backend(), telemetry);
    let request = GenerateRequest::new("tiny", PROMPTS[1]).max_tokens(16);
    let whole = backend.generate(&request).unwrap();
    capture.clear();
    let stream = backend.stream(&request).unwrap();
    assert_eq!(stream.input_tokens, whole.input_tokens);
    let chunks: Vec<_> = stream.chunks.map(Result::unwrap).collect();
    assert_eq!(chunks.len(), 16, "one chunk per token");
    assert!(chunks.iter().all(|c| c.tokens == 1));
    let text: String = chunks.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(text, whole.text);
    assert_eq!(capture.named("llm.stream.first_token").len(), 1);
    let stop = capture.named("llm.generate.stop");
    assert_eq!(stop.len(), 1, "{:?}", capture.names());
    assert_eq!(stop[0].measurement(keys::OUTPUT_TOKENS), Some(16.0));
    assert_eq!(
        stop[0].measurement(keys::INPUT_TOKENS),
        Some(whole.input_tokens as f64)
    );
    assert_eq!(stop[0].str(keys::PROVIDER), Some("mlx"));
}

#[test]
#[ignore = "needs scripts/setup-mlx.sh (MLX, mlx-lm); scripts/test-all.sh runs it"]
fn a_stop_string_cuts_the_text_before_it() {
    let backend = backend();
    let prompt = PROMPTS[0];
    let (_, _, text) = reference(prompt, 24);
    // A stop string from the middle of mlx-lm's completion: two characters of plain text.
    let chars: Vec<char> = text.chars().collect();
    let at = (4..chars.len() - 1)
        .find(|&i| chars[i..i + 2].iter().all(|c| c.is_ascii_graphic()))
        .expect("the reference completion has two printable ASCII characters in a row");
    let stop: String = chars[at..at + 2].iter().collect();
    let before = &text[..text.find(&stop).unwrap()];
    let completion = backend
        .generate(
            &GenerateRequest::new("tiny", prompt)
                .max_tokens(24)
                .stop(stop.clone()),
        )
        .unwrap();
    assert_eq!(completion.text, before, "stop {stop:?}");
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert!(completion.output_tokens < 24);
    // Streaming holds the stop string back the same way.
    let streamed: String = backend
        .stream(
            &GenerateRequest::new("tiny", prompt)
                .max_tokens(24)
                .stop(stop),
        )
        .unwrap()
        .chunks
        .map(|c| c.unwrap().text)
        .collect();
    assert_eq!(streamed, before);
}

#[test]
#[ignore = "needs scripts/setup-mlx.sh (MLX, mlx-lm); scripts/test-all.sh runs it"]
fn seeded_sampling_is_reproducible_and_the_seed_matters() {
    let backend = backend();
    let sample = |seed: u64| {
        backend
            .generate(
                &GenerateRequest::new("tiny", PROMPTS[2])
                    .max_tokens(20)
                    .temperature(1.0)
                    .top_p(0.95)
                    .seed(seed),
            )
            .unwrap()
    };
    let a = sample(7);
    assert_eq!(a.text, sample(7).text, "the same seed gives the same text");
    assert_eq!(a.output_tokens, 20);
    let others: Vec<String> = (8..12).map(|seed| sample(seed).text).collect();
    assert!(
        others.iter().any(|t| *t != a.text),
        "four other seeds all gave {:?}",
        a.text
    );
    let (_, _, greedy) = reference(PROMPTS[2], 20);
    assert!(
        std::iter::once(&a.text)
            .chain(&others)
            .any(|t| *t != greedy),
        "sampling at temperature 1 never left the greedy path"
    );
}

#[test]
#[ignore = "needs scripts/setup-mlx.sh (MLX, mlx-lm); scripts/test-all.sh runs it"]
fn generation_ends_where_the_context_is_full() {
    // The tiny model's context is 256 tokens (max_position_embeddings).
    let backend = backend();
    let long = "1 2 3 4 5 ".repeat(24);
    let completion = backend
        .generate(&GenerateRequest::new("tiny", long.clone()).max_tokens(100))
        .unwrap();
    assert!(completion.input_tokens > 200 && completion.input_tokens < 256);
    assert_eq!(completion.input_tokens + completion.output_tokens, 256);
    assert_eq!(completion.finish_reason, FinishReason::Length);
}
