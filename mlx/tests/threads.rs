//! One MLX backend shared by several threads on a real MLX (the PyPI CPU wheel): models loaded
//! on one thread serve requests from others, concurrently, with the same results as on the
//! loading thread (MLX streams are per thread). Needs `scripts/setup-mlx.sh`; run with
//! `scripts/mlx-cargo.sh test -p llm-telemetry-mlx --features system-mlx -- --include-ignored`.
#![cfg(any(target_os = "macos", feature = "system-mlx"))]

mod common;

use std::sync::Arc;

use llm_telemetry_genai::instrument::{EmbedRequest, GenerateRequest, InferenceBackend};
use llm_telemetry_mlx::MlxBackend;

#[test]
#[ignore = "needs scripts/setup-mlx.sh (MLX, MiniLM); scripts/test-all.sh runs it"]
fn models_loaded_on_one_thread_serve_others_concurrently() {
    // Loaded on a thread of its own that has ended before any request: nothing has touched the
    // tensors on the loading thread after the load.
    let backend = Arc::new(
        std::thread::spawn(|| {
            MlxBackend::new()
                .load_generator(common::tiny_llama())
                .unwrap()
                .load_embedder(common::minilm())
                .unwrap()
        })
        .join()
        .unwrap(),
    );
    let request = GenerateRequest::new("tiny", "The sky is").max_tokens(12);
    let texts = ["hello", "The quick brown fox jumps over the lazy dog."];
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let backend = backend.clone();
            let request = request.clone();
            std::thread::spawn(move || {
                let mut out = Vec::new();
                for _ in 0..3 {
                    if i % 2 == 0 {
                        let text: String = backend
                            .stream(&request)
                            .unwrap()
                            .chunks
                            .map(|c| c.unwrap().text)
                            .collect();
                        out.push((Some(text), None));
                    } else {
                        let vectors = backend
                            .embed(&EmbedRequest::new("m", texts))
                            .unwrap()
                            .vectors;
                        out.push((None, Some(vectors)));
                    }
                }
                out
            })
        })
        .collect();
    let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let expected_text = backend.generate(&request).unwrap().text;
    let expected_vectors = backend
        .embed(&EmbedRequest::new("m", texts))
        .unwrap()
        .vectors;
    for result in results {
        for (text, vectors) in result {
            if let Some(text) = text {
                assert_eq!(text, expected_text);
            }
            if let Some(vectors) = vectors {
                for (got, want) in vectors.iter().zip(&expected_vectors) {
                    let want: Vec<f64> = want.iter().map(|&x| f64::from(x)).collect();
                    assert!(common::cosine(got, &want) > 0.999_999);
                }
            }
        }
    }
}
