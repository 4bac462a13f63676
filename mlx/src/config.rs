//! Reading a Hugging Face `config.json` into the few numbers the MLX models need, with an error
//! naming the key, the value and what is allowed for anything missing, malformed or unsupported.
//!
//! Two architectures are understood: decoder-only Llama-family models ([`DecoderConfig`]:
//! `model_type` `llama`, `mistral` or `qwen2`, unquantized, without `rope_scaling`) and BERT
//! encoders ([`EncoderConfig`]: `model_type` `bert`, `hidden_act` `gelu`).

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::MlxError;

/// A Llama-family decoder's shape.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DecoderConfig {
    pub(crate) hidden_size: i32,
    pub(crate) layers: usize,
    pub(crate) heads: i32,
    pub(crate) kv_heads: i32,
    pub(crate) head_dim: i32,
    pub(crate) rms_norm_eps: f32,
    pub(crate) rope_theta: f32,
    pub(crate) tie_word_embeddings: bool,
    /// End-of-sequence token ids (`eos_token_id`, a number or a list); may be empty.
    pub(crate) eos_token_ids: Vec<u32>,
    /// The context length (`max_position_embeddings`), when config.json gives one: the most
    /// tokens a prompt and its completion may hold together.
    pub(crate) max_positions: Option<usize>,
}

/// A BERT encoder's shape.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EncoderConfig {
    pub(crate) hidden_size: i32,
    pub(crate) layers: usize,
    pub(crate) heads: i32,
    pub(crate) layer_norm_eps: f32,
    pub(crate) max_positions: usize,
}

/// A parsed `config.json` and where it came from (for error messages).
struct Json {
    path: PathBuf,
    value: Value,
}

impl Json {
    fn read(path: &Path) -> Result<Self, MlxError> {
        let text = std::fs::read_to_string(path).map_err(|e| MlxError::ModelLoad {
            path: path.to_owned(),
            reason: format!(
                "cannot read config.json ({e}): the directory must hold the model's config.json"
            ),
        })?;
        Self::parse(path, &text)
    }

    fn parse(path: &Path, text: &str) -> Result<Self, MlxError> {
        let value: Value = serde_json::from_str(text).map_err(|e| MlxError::ModelLoad {
            path: path.to_owned(),
            reason: format!("config.json is not valid JSON: {e}"),
        })?;
        if !value.is_object() {
            return Err(MlxError::ModelLoad {
                path: path.to_owned(),
                reason: "config.json must hold a JSON object".into(),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            value,
        })
    }

    fn error(&self, key: &'static str, expected: &'static str) -> MlxError {
        MlxError::Config {
            path: self.path.clone(),
            key,
            value: self
                .value
                .get(key)
                .map_or_else(|| "missing".to_owned(), Value::to_string),
            expected,
        }
    }

    fn present(&self, key: &str) -> bool {
        self.value.get(key).is_some_and(|v| !v.is_null())
    }

    fn positive(&self, key: &'static str) -> Result<Option<i32>, MlxError> {
        match self.value.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .filter(|&n| n > 0)
                .and_then(|n| i32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.error(key, "a positive integer")),
        }
    }

    fn required(&self, key: &'static str) -> Result<i32, MlxError> {
        self.positive(key)?
            .ok_or_else(|| self.error(key, "a positive integer"))
    }

    fn float(&self, key: &'static str, default: f32) -> Result<f32, MlxError> {
        match self.value.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite() && *x > 0.0)
                .map(|x| x as f32)
                .ok_or_else(|| self.error(key, "a positive number")),
        }
    }

    fn string(&self, key: &'static str) -> Option<&str> {
        self.value.get(key).and_then(Value::as_str)
    }
}

impl DecoderConfig {
    /// Reads `config.json` at `path`.
    pub(crate) fn read(path: &Path) -> Result<Self, MlxError> {
        Self::from_json(Json::read(path)?)
    }

    #[cfg(test)]
    fn parse(text: &str) -> Result<Self, MlxError> {
        Self::from_json(Json::parse(Path::new("config.json"), text)?)
    }

    fn from_json(json: Json) -> Result<Self, MlxError> {
        match json.string("model_type") {
            Some("llama" | "mistral" | "qwen2") => {}
            _ => {
                return Err(json.error(
                    "model_type",
                    "`llama`, `mistral` or `qwen2` (a Llama-family decoder)",
                ));
            }
        }
        for key in ["quantization", "quantization_config"] {
            if json.present(key) {
                return Err(MlxError::ModelLoad {
                    path: json.path.clone(),
                    reason: format!(
                        "`{key}` is set: quantized weights are not supported; use an unquantized \
                         float16, bfloat16 or float32 export of the model"
                    ),
                });
            }
        }
        if json.present("rope_scaling") {
            return Err(json.error(
                "rope_scaling",
                "null or absent (RoPE scaling is not implemented)",
            ));
        }
        let hidden_size = json.required("hidden_size")?;
        let heads = json.required("num_attention_heads")?;
        let kv_heads = json.positive("num_key_value_heads")?.unwrap_or(heads);
        if heads % kv_heads != 0 {
            return Err(json.error("num_key_value_heads", "a divisor of num_attention_heads"));
        }
        let head_dim = match json.positive("head_dim")? {
            Some(d) => d,
            None if hidden_size % heads == 0 => hidden_size / heads,
            None => {
                return Err(json.error(
                    "num_attention_heads",
                    "a divisor of hidden_size (or set head_dim)",
                ));
            }
        };
        let tie_word_embeddings = match json.value.get("tie_word_embeddings") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(json.error("tie_word_embeddings", "true or false")),
        };
        let eos_token_ids = match json.value.get("eos_token_id") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(ids)) => ids
                .iter()
                .map(|id| id.as_u64().and_then(|n| u32::try_from(n).ok()))
                .collect::<Option<Vec<u32>>>()
                .ok_or_else(|| json.error("eos_token_id", "a token id or a list of token ids"))?,
            Some(v) => vec![
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        json.error("eos_token_id", "a token id or a list of token ids")
                    })?,
            ],
        };
        Ok(Self {
            hidden_size,
            layers: json.required("num_hidden_layers")? as usize,
            heads,
            kv_heads,
            head_dim,
            rms_norm_eps: json.float("rms_norm_eps", 1e-6)?,
            rope_theta: json.float("rope_theta", 10_000.0)?,
            tie_word_embeddings,
            eos_token_ids,
            max_positions: json
                .positive("max_position_embeddings")?
                .map(|n| n as usize),
        })
    }
}

impl EncoderConfig {
    /// Reads `config.json` at `path`.
    pub(crate) fn read(path: &Path) -> Result<Self, MlxError> {
        Self::from_json(Json::read(path)?)
    }

    #[cfg(test)]
    fn parse(text: &str) -> Result<Self, MlxError> {
        Self::from_json(Json::parse(Path::new("config.json"), text)?)
    }

    fn from_json(json: Json) -> Result<Self, MlxError> {
        if json.string("model_type") != Some("bert") {
            return Err(json.error("model_type", "`bert` (a BERT encoder)"));
        }
        match json.string("hidden_act") {
            None | Some("gelu") => {}
            Some(_) => return Err(json.error("hidden_act", "`gelu`")),
        }
        let hidden_size = json.required("hidden_size")?;
        let heads = json.required("num_attention_heads")?;
        if hidden_size % heads != 0 {
            return Err(json.error("num_attention_heads", "a divisor of hidden_size"));
        }
        Ok(Self {
            hidden_size,
            layers: json.required("num_hidden_layers")? as usize,
            heads,
            layer_norm_eps: json.float("layer_norm_eps", 1e-12)?,
            max_positions: json.positive("max_position_embeddings")?.unwrap_or(512) as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LLAMA: &str = r#"{"model_type":"llama","hidden_size":2048,"num_hidden_layers":22,
        "num_attention_heads":32,"num_key_value_heads":4,"rms_norm_eps":1e-5,
        "rope_theta":10000.0,"tie_word_embeddings":false,"eos_token_id":2,"rope_scaling":null}"#;

    #[test]
    fn a_llama_config_is_read() {
        let c = DecoderConfig::parse(LLAMA).unwrap();
        assert_eq!(
            c,
            DecoderConfig {
                hidden_size: 2048,
                layers: 22,
                heads: 32,
                kv_heads: 4,
                head_dim: 64,
                rms_norm_eps: 1e-5,
                rope_theta: 10_000.0,
                tie_word_embeddings: false,
                eos_token_ids: vec![2],
                max_positions: None,
            }
        );
        let list = LLAMA.replace("\"eos_token_id\":2", "\"eos_token_id\":[1,7]");
        assert_eq!(DecoderConfig::parse(&list).unwrap().eos_token_ids, [1, 7]);
    }

    #[test]
    fn unsupported_decoders_are_refused_with_the_key_and_value() {
        let cases = [
            (
                LLAMA.replace("\"llama\"", "\"gpt2\""),
                "model_type",
                "\"gpt2\"",
            ),
            (
                LLAMA.replace(
                    "\"rope_scaling\":null",
                    "\"rope_scaling\":{\"type\":\"llama3\"}",
                ),
                "rope_scaling",
                "{\"type\":\"llama3\"}",
            ),
            (
                LLAMA.replace("\"hidden_size\":2048,", ""),
                "hidden_size",
                "missing",
            ),
            (
                LLAMA.replace("\"num_key_value_heads\":4", "\"num_key_value_heads\":5"),
                "num_key_value_heads",
                "5",
            ),
            (
                LLAMA.replace("\"eos_token_id\":2", "\"eos_token_id\":\"</s>\""),
                "eos_token_id",
                "\"</s>\"",
            ),
        ];
        for (text, key, value) in cases {
            match DecoderConfig::parse(&text) {
                Err(MlxError::Config {
                    key: k, value: v, ..
                }) => {
                    assert_eq!((k, v.as_str()), (key, value));
                }
                other => panic!("expected an error on {key}, got {other:?}"),
            }
        }
        let quantized = LLAMA.replace(
            "\"rope_theta\"",
            "\"quantization\":{\"bits\":4},\"rope_theta\"",
        );
        assert!(matches!(
            DecoderConfig::parse(&quantized),
            Err(MlxError::ModelLoad { reason, .. }) if reason.contains("quantized")
        ));
    }

    #[test]
    fn a_bert_config_is_read_and_others_refused() {
        let bert = r#"{"model_type":"bert","hidden_size":384,"num_hidden_layers":12,
            "num_attention_heads":12,"layer_norm_eps":1e-12,"hidden_act":"gelu",
            "max_position_embeddings":512}"#;
        let c = EncoderConfig::parse(bert).unwrap();
        assert_eq!(
            (c.hidden_size, c.layers, c.heads, c.max_positions),
            (384, 12, 12, 512)
        );
        assert!(matches!(
            EncoderConfig::parse(&bert.replace("\"gelu\"", "\"relu\"")),
            Err(MlxError::Config {
                key: "hidden_act",
                ..
            })
        ));
        assert!(matches!(
            EncoderConfig::parse(LLAMA),
            Err(MlxError::Config {
                key: "model_type",
                ..
            })
        ));
        assert!(matches!(
            EncoderConfig::parse("[1]"),
            Err(MlxError::ModelLoad { .. })
        ));
    }
}
