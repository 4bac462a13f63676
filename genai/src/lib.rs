//! # llm-telemetry-genai
//!
//! What the bus carries for LLM inference: the event catalog (every `llm.*` and `cache.*` name
//! and the keys its events carry, in [`catalog`]) and the typed helpers that emit it correctly
//! ([`instrument`]: generate, chat, embed, streams with time to first token, cache and provider
//! events, and the [`instrument::InferenceBackend`] trait with a simulated backend).
//!
//! The bus itself is `llm-telemetry-core`, which knows nothing of LLMs; model backends that need
//! heavy dependencies (MLX) live in crates of their own. Users normally reach all of this through
//! the `llm-telemetry` facade (`llm_telemetry_genai::catalog`, `llm_telemetry_genai::instrument`).
//!
//! ```
//! use llm_telemetry_core::{Bus, testing::Capture};
//! use llm_telemetry_genai::instrument::{Completion, GenerateRequest, Instrumentation, TelemetryLevel};
//!
//! let bus = Bus::new();
//! let capture = Capture::attach(&bus, ["llm.*"]).unwrap();
//! let telemetry = Instrumentation::new(&bus, TelemetryLevel::Detailed);
//! let request = GenerateRequest::new("llama-3.1-8b", "Why is the sky blue?");
//! telemetry.generate(&request, || Ok::<_, std::io::Error>(Completion::new("Rayleigh.", 7, 2)))?;
//! assert!(capture.names().contains(&"llm.generate.stop"));
//! # Ok::<(), std::io::Error>(())
//! ```

#![warn(missing_docs)]

pub mod catalog;
pub mod instrument;
pub mod redact;
