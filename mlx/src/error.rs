//! [`MlxError`]: everything that can go wrong loading or running an MLX model, classified for
//! `error.type` by [`BackendError::error_type`].
//!
//! The variants carry messages rather than the mlx-rs and tokenizers error values, so the type is
//! `Clone`, `'static` and independent of those crates' versions.

use std::path::PathBuf;

use llm_telemetry_genai::instrument::BackendError;

/// A failure of the MLX backend.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MlxError {
    /// A model directory could not be read or holds something the backend cannot run.
    #[error("cannot load the MLX model at `{}`: {reason}", path.display())]
    ModelLoad {
        /// The model directory or file.
        path: PathBuf,
        /// What went wrong and what to do.
        reason: String,
    },
    /// `config.json` holds a missing or invalid value.
    #[error(
        "invalid `{key}` = {value} in `{}`: expected {expected}",
        path.display()
    )]
    Config {
        /// The `config.json` file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// The value found (`missing` when absent).
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// `tokenizer.json` could not be loaded, or text could not be encoded or decoded.
    #[error("tokenizer error ({context}): {reason}")]
    Tokenizer {
        /// What the tokenizer was doing (`loading <path>`, `encoding the prompt`, …).
        context: String,
        /// The tokenizer's message.
        reason: String,
    },
    /// MLX failed while running the model.
    #[error("MLX inference failed: {reason}")]
    Inference {
        /// MLX's message.
        reason: String,
    },
    /// The backend has no model loaded for this operation.
    #[error(
        "the MLX backend has no {kind} model loaded: call `MlxBackend::{loader}` with a model \
         directory first"
    )]
    NotLoaded {
        /// `generation` or `embedding`.
        kind: &'static str,
        /// The loader to call.
        loader: &'static str,
    },
    /// A request field holds a value the backend cannot honour.
    #[error("invalid request `{field}` = {value}: expected {expected}")]
    InvalidRequest {
        /// The field (`temperature`, `top_p`, `inputs`, …).
        field: &'static str,
        /// The value found.
        value: String,
        /// What is allowed.
        expected: String,
    },
}

impl BackendError for MlxError {
    fn error_type(&self) -> &'static str {
        match self {
            MlxError::ModelLoad { .. } | MlxError::Config { .. } => "model_load",
            MlxError::Tokenizer { .. } => "tokenizer",
            MlxError::Inference { .. } => "inference",
            MlxError::NotLoaded { .. } => "not_loaded",
            MlxError::InvalidRequest { .. } => "invalid_request",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_bad_value_and_their_class() {
        let error = MlxError::InvalidRequest {
            field: "top_p",
            value: "1.5".into(),
            expected: "a number in (0, 1]".into(),
        };
        assert_eq!(error.error_type(), "invalid_request");
        assert_eq!(
            error.to_string(),
            "invalid request `top_p` = 1.5: expected a number in (0, 1]"
        );
        let config = MlxError::Config {
            path: PathBuf::from("/m/config.json"),
            key: "hidden_size",
            value: "missing".into(),
            expected: "a positive integer",
        };
        assert_eq!(config.error_type(), "model_load");
        assert!(config.to_string().contains("`hidden_size` = missing"));
        let tokenizer = MlxError::Tokenizer {
            context: "encoding the prompt".into(),
            reason: "bad".into(),
        };
        assert_eq!(tokenizer.error_type(), "tokenizer");
    }
}
