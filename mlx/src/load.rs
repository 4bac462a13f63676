//! [`load`]: loading an [`MlxBackend`]'s models inside an `llm.request` span
//! (`gen_ai.operation.name` = `mlx.load`), so that a model directory the backend cannot use is
//! both a typed [`MlxError`] for the caller and an `llm.request.exception` event (with
//! `error.type` = `model_load`, `tokenizer`…) for the handlers.

use std::path::Path;

use llm_telemetry_genai::instrument::{BackendError, Instrumentation};

use super::backend::MlxBackend;
use super::error::MlxError;

/// The `gen_ai.operation.name` of the loading span.
pub const LOAD_OPERATION: &str = "mlx.load";

/// Loads a backend with the text-generation model in `generator` and/or the embedding model in
/// `embedder`, inside an `llm.request` span named [`LOAD_OPERATION`]. On failure the span ends
/// with an exception carrying the error's class and message, and the error is returned.
pub fn load(
    telemetry: &Instrumentation,
    generator: Option<&Path>,
    embedder: Option<&Path>,
) -> Result<MlxBackend, MlxError> {
    let span = telemetry.start_request(LOAD_OPERATION, &[]);
    let loaded: Result<MlxBackend, MlxError> = {
        let _entered = span.enter();
        let mut backend = MlxBackend::new();
        (|| {
            if let Some(dir) = generator {
                backend = backend.load_generator(dir)?;
            }
            if let Some(dir) = embedder {
                backend = backend.load_embedder(dir)?;
            }
            Ok(backend)
        })()
    };
    match loaded {
        Ok(backend) => {
            span.finish();
            Ok(backend)
        }
        Err(error) => {
            span.fail(error.error_type(), &error.to_string());
            Err(error)
        }
    }
}
