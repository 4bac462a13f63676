//! An [`InferenceBackend`](llm_telemetry_genai::instrument::InferenceBackend) running models
//! through [mlx-rs](https://github.com/oxiglade/mlx-rs): `MlxBackend` (generate, stream, embed),
//! `load` (loading inside an `llm.request` span) and the error, [`MlxError`].
//!
//! **Where it builds.** On macOS mlx-rs builds MLX from source with Metal, and the backend is
//! always there. On Linux x86-64 it runs on the CPU with the feature `system-mlx`, built by
//! `scripts/mlx-cargo.sh` after `scripts/setup-mlx.sh` installed the PyPI MLX wheel and compiled
//! mlx-c against it (`mlx/sys` stands in for mlx-rs's `mlx-sys`). Without either, the crate
//! compiles only its platform-independent parts (config parsing, sampling, stop strings, pooling,
//! errors), so the workspace's default build needs no MLX. Written against **mlx-rs 0.33.0** and
//! **tokenizers 0.23.2** (`fancy-regex`, no default features).
//!
//! # Use
//!
//! Point `MlxBackend::load_generator` and/or `MlxBackend::load_embedder` at a directory holding a
//! Hugging Face checkpoint: `config.json`, the weights as `*.safetensors` (all files in the
//! directory are loaded, so sharded checkpoints work) and `tokenizer.json`. Wrap the backend in
//! [`InstrumentedBackend`](llm_telemetry_genai::instrument::InstrumentedBackend) exactly like
//! [`SimulatedBackend`](llm_telemetry_genai::instrument::SimulatedBackend); its provider is `"mlx"`, which the
//! OpenTelemetry handler turns into the `mlx_lm.generate` / `mlx_embedding.embed` span names.
//!
//! - **Generation**: Llama-family decoders, `model_type` `llama`, `mistral` or `qwen2`, with
//!   unquantized weights (float16, bfloat16 or float32) and no `rope_scaling`; anything else is
//!   refused at load time with an error naming the `config.json` key. The prompt is encoded as
//!   is (no chat template; `chat` goes through the trait's default `role: content` rendering),
//!   run in one forward pass, then tokens are generated one at a time with a KV cache. Sampling
//!   is greedy unless `temperature` > 0, then temperature plus `top_p` nucleus filtering on the
//!   host, seeded by `seed` (reproducible) or by the clock. Generation ends at an
//!   `eos_token_id` from `config.json` (finish reason `stop`), at a stop string (cut before it,
//!   `stop`) or at `max_tokens` (256 when unset, `length`). `input_tokens` is the prompt's
//!   token count, `output_tokens` the number of sampled tokens (an end-of-sequence token
//!   counts). `stream` yields one chunk per token as it is sampled. When config.json gives
//!   `max_position_embeddings`, a prompt that fills it is refused and generation stops
//!   (`length`) where prompt and completion reach it.
//! - **Embeddings**: BERT encoders (`model_type` `bert`, e.g. bge or MiniLM sentence-transformers
//!   checkpoints). Each input is encoded on its own (so `batch_size` does not change the
//!   computation), pooled with the request's pooling (`mean` by default; `cls`, `last_token` and
//!   `max` too) and returned unnormalised, with the hidden size as the dimension. The
//!   tokenizer's padding and truncation are turned off (sentence-transformers exports pad to 128
//!   tokens), so `input_tokens` counts real tokens, and an input longer than
//!   `max_position_embeddings` is refused rather than cut.
//!
//! # Design
//!
//! The models are written with plain mlx-rs array operations over the tensors read by
//! `Array::load_safetensors` (Hugging Face tensor names), not with the `ModuleParameters`
//! derive macros of the mlx-rs examples: every tensor is looked up by its exact name, and a
//! missing one is a clear `model_load` error. The forward pass follows the mlx-rs Mistral
//! example (`examples/mistral/src/model.rs`): RMSNorm, RoPE and attention from `mlx_rs::fast`,
//! the KV cache as per-layer `(keys, values)` concatenated along the sequence axis. Sampling,
//! stop strings and pooling run on the host in plain Rust, which avoided depending on the less
//! documented parts of the mlx-rs API (the random module, indexing operators) and lets them be
//! tested without a Mac. The models sit behind a mutex (mlx-rs arrays are `Send` but not
//! `Sync`), so calls on one backend run one at a time.
//!
//! Errors are [`MlxError`], whose `error.type` is `model_load`, `tokenizer`, `inference`,
//! `not_loaded` or `invalid_request`.
//!
//! # What is checked
//!
//! On Linux, against the real MLX 0.32.2 CPU wheel (`mlx/tests/`, run by `scripts/test-all.sh`):
//! greedy completions of a tiny random Llama equal PyPI mlx-lm's on the same directory, token
//! counts included; streaming, stop strings, `max_tokens`, the context length and seeded
//! sampling; the real all-MiniLM-L6-v2 agrees with a float64 numpy BERT (cosine ≥ 0.9999) for
//! mean, CLS and last-token pooling; models loaded on one thread serve others (tensors are read
//! at load time: MLX streams are per thread); bad model directories and requests give typed
//! errors and exception events. The macOS (Metal) build was not re-checked.
// The platform-independent submodules are also compiled for the crate's unit tests on every
// target; without the backend (no MLX) some of their items look unused.
#![cfg_attr(
    not(any(target_os = "macos", feature = "system-mlx")),
    allow(dead_code)
)]

mod config;
mod error;
mod pooling;
mod sampling;
mod text;

#[cfg(any(target_os = "macos", feature = "system-mlx"))]
mod backend;
#[cfg(any(target_os = "macos", feature = "system-mlx"))]
mod decoder;
#[cfg(any(target_os = "macos", feature = "system-mlx"))]
mod encoder;
#[cfg(any(target_os = "macos", feature = "system-mlx"))]
mod load;
#[cfg(any(target_os = "macos", feature = "system-mlx"))]
mod weights;

#[cfg(any(target_os = "macos", feature = "system-mlx"))]
pub use backend::{MlxBackend, PROVIDER};
pub use error::MlxError;
#[cfg(any(target_os = "macos", feature = "system-mlx"))]
pub use load::{LOAD_OPERATION, load};
