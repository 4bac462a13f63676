//! Loading a model directory's files: every `*.safetensors` file into one name → [`Array`] map
//! (sharded checkpoints included), the `tokenizer.json`, and conversions of mlx-rs and tokenizers
//! errors into [`MlxError`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mlx_rs::Array;
use mlx_rs::error::Exception;
use tokenizers::Tokenizer;

use super::error::MlxError;

impl From<Exception> for MlxError {
    fn from(error: Exception) -> Self {
        MlxError::Inference {
            reason: error.what().to_owned(),
        }
    }
}

/// The tensors of a checkpoint, by name, and the directory they came from.
pub(crate) struct Weights {
    dir: PathBuf,
    tensors: HashMap<String, Array>,
}

impl Weights {
    /// Loads every `*.safetensors` file in `dir` (sorted by name, so shards load in order).
    pub(crate) fn load(dir: &Path) -> Result<Self, MlxError> {
        let load_error = |reason: String| MlxError::ModelLoad {
            path: dir.to_owned(),
            reason,
        };
        let entries = std::fs::read_dir(dir)
            .map_err(|e| load_error(format!("cannot list the model directory: {e}")))?;
        let mut files = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|e| load_error(format!("cannot list the model directory: {e}")))?
                .path();
            if path.extension().is_some_and(|ext| ext == "safetensors") {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(load_error(
                "no *.safetensors file: the directory must hold the model's weights in \
                 safetensors format"
                    .into(),
            ));
        }
        files.sort();
        let mut tensors = HashMap::new();
        for file in &files {
            let loaded = Array::load_safetensors(file).map_err(|e| MlxError::ModelLoad {
                path: file.clone(),
                reason: format!("cannot load the safetensors file: {e}"),
            })?;
            // Read the data now, on this thread: MLX streams are per thread, and a lazily
            // loaded tensor could not be evaluated on the thread that later runs the model.
            mlx_rs::transforms::eval(loaded.values()).map_err(|e| MlxError::ModelLoad {
                path: file.clone(),
                reason: format!("cannot read the tensors of the safetensors file: {e}"),
            })?;
            tensors.extend(loaded);
        }
        Ok(Self {
            dir: dir.to_owned(),
            tensors,
        })
    }

    /// Removes and returns the tensor `name`, or an error naming it.
    pub(crate) fn take(&mut self, name: &str) -> Result<Array, MlxError> {
        self.tensors
            .remove(name)
            .ok_or_else(|| MlxError::ModelLoad {
                path: self.dir.clone(),
                reason: format!(
                    "tensor `{name}` is missing from the safetensors files: is this the \
                     architecture config.json names, in Hugging Face layout?"
                ),
            })
    }

    /// Removes and returns the tensor `name` when present (optional biases).
    pub(crate) fn take_optional(&mut self, name: &str) -> Option<Array> {
        self.tensors.remove(name)
    }

    /// The directory the weights came from.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether some tensor's name starts with `prefix`.
    pub(crate) fn has_prefix(&self, prefix: &str) -> bool {
        self.tensors.keys().any(|k| k.starts_with(prefix))
    }
}

/// Loads `dir/tokenizer.json` with its padding and truncation turned off: each text is encoded
/// to exactly its own tokens (sentence-transformers exports such as all-MiniLM-L6-v2 pad every
/// input to 128 tokens, which the models here would attend to and pool as if they were text),
/// and a text too long for the model is refused rather than silently cut.
pub(crate) fn load_tokenizer(dir: &Path) -> Result<Tokenizer, MlxError> {
    let path = dir.join("tokenizer.json");
    let mut tokenizer = Tokenizer::from_file(&path).map_err(|e| MlxError::Tokenizer {
        context: format!("loading `{}`", path.display()),
        reason: e.to_string(),
    })?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(None)
        .map_err(|e| MlxError::Tokenizer {
            context: format!("turning truncation off in `{}`", path.display()),
            reason: e.to_string(),
        })?;
    Ok(tokenizer)
}

/// Checks that every id `tokenizer` can produce has a row in the model's embedding matrix of
/// `rows` rows (`tensor` names it), so a tokenizer from another model is refused at load time.
pub(crate) fn check_vocabulary(
    dir: &Path,
    tokenizer: &Tokenizer,
    tensor: &str,
    rows: i32,
) -> Result<(), MlxError> {
    let ids = tokenizer.get_vocab_size(true);
    if i64::try_from(ids).map_or(true, |ids| ids > i64::from(rows)) {
        return Err(MlxError::ModelLoad {
            path: dir.join("tokenizer.json"),
            reason: format!(
                "the tokenizer has {ids} token ids but the model's `{tensor}` has {rows} rows: \
                 tokenizer.json belongs to another model; use the tokenizer.json shipped with \
                 these weights"
            ),
        });
    }
    Ok(())
}

/// Encodes `text` (with the tokenizer's special tokens, e.g. BOS) into token ids.
pub(crate) fn encode(tokenizer: &Tokenizer, text: &str, what: &str) -> Result<Vec<u32>, MlxError> {
    tokenizer
        .encode(text, true)
        .map(|encoding| encoding.get_ids().to_vec())
        .map_err(|e| MlxError::Tokenizer {
            context: format!("encoding {what}"),
            reason: e.to_string(),
        })
}

/// Decodes `ids`, skipping special tokens.
pub(crate) fn decode(tokenizer: &Tokenizer, ids: &[u32]) -> Result<String, MlxError> {
    tokenizer
        .decode(ids, true)
        .map_err(|e| MlxError::Tokenizer {
            context: "decoding generated tokens".into(),
            reason: e.to_string(),
        })
}

/// The directory's last component, used as the loaded model's name.
pub(crate) fn model_name(dir: &Path) -> String {
    dir.file_name().map_or_else(
        || dir.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}
