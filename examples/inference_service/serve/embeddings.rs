//! `POST /v1/embeddings`: text inputs (one string or an array), vectors as JSON floats or, with
//! `"encoding_format": "base64"` (what the official Python client asks for by default), as
//! base64 of little-endian `f32`s; `dimensions` shortens and re-normalises the vectors.

use std::sync::Arc;

use http::{Response, StatusCode};
use llm_telemetry::SpanContext;
use llm_telemetry::instrument::{EmbedRequest, Embeddings, InferenceBackend};
use serde_json::{Value, json};

use super::body::{self, ApiBody};
use super::chat::blocking;
use super::error::ApiError;
use super::state::Shared;
use super::wire;

/// A parsed embeddings request.
pub struct EmbedCall {
    request: EmbedRequest,
    base64: bool,
    dimensions: Option<usize>,
}

/// Reads an embeddings request, checking the model against the served ones.
pub fn parse<B: InferenceBackend>(shared: &Shared<B>, body: &[u8]) -> Result<EmbedCall, ApiError> {
    let map = wire::object(body)?;
    let model: String = wire::required(&map, "model", "a model name")?;
    let inputs: Vec<String> = match map.get("input") {
        None | Some(Value::Null) => return Err(ApiError::MissingParameter("input")),
        Some(Value::String(s)) => vec![s.clone()],
        Some(_) => wire::required(&map, "input", "a string or an array of strings")?,
    };
    if inputs.is_empty() {
        return Err(ApiError::InvalidParameter {
            param: "input",
            message: "expected at least one input, got an empty array".to_owned(),
        });
    }
    if !shared.models.has_embedding(&model) {
        return Err(ApiError::UnknownModel {
            model,
            kind: "embedding",
        });
    }
    let format: Option<String> =
        wire::optional(&map, "encoding_format", "\"float\" or \"base64\"")?;
    let base64 = match format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::InvalidParameter {
                param: "encoding_format",
                message: format!("expected \"float\" or \"base64\", got {other:?}"),
            });
        }
    };
    let dimensions: Option<usize> = wire::optional(&map, "dimensions", "a positive integer")?;
    if dimensions == Some(0) {
        return Err(ApiError::InvalidParameter {
            param: "dimensions",
            message: "expected a positive integer, got 0".to_owned(),
        });
    }
    let request = EmbedRequest::new(model, inputs).provider(shared.backend.provider());
    Ok(EmbedCall {
        request,
        base64,
        dimensions,
    })
}

/// Serves `call` on the blocking pool with `parent` current.
pub async fn serve<B>(
    shared: Arc<Shared<B>>,
    call: EmbedCall,
    parent: Option<SpanContext>,
) -> Result<Response<ApiBody>, ApiError>
where
    B: InferenceBackend + 'static,
{
    let EmbedCall {
        request,
        base64,
        dimensions,
    } = call;
    let model = request.model.clone();
    let embeddings = blocking(parent, move || shared.backend.embed(&request)).await?;
    let Embeddings {
        vectors,
        input_tokens,
        ..
    } = embeddings;
    if let Some(asked) = dimensions {
        let served = vectors.first().map_or(0, Vec::len);
        if asked > served {
            return Err(ApiError::InvalidParameter {
                param: "dimensions",
                message: format!(
                    "{model} makes {served}-dimensional vectors; ask for {served} or fewer"
                ),
            });
        }
    }
    let data: Vec<Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(index, vector)| {
            let vector = match dimensions {
                Some(d) => shorten(vector, d),
                None => vector,
            };
            let embedding = if base64 {
                Value::String(base64_f32(&vector))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let document = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": input_tokens, "total_tokens": input_tokens},
    });
    Ok(body::json(StatusCode::OK, &document))
}

/// The first `dimensions` components, scaled back to unit length.
fn shorten(mut vector: Vec<f32>, dimensions: usize) -> Vec<f32> {
    vector.truncate(dimensions);
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
    vector
}

/// Standard base64 (with padding) of the vector's little-endian `f32` bytes.
fn base64_f32(vector: &[f32]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            group.get(1).copied().unwrap_or(0),
            group.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= group.len() {
                out.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard_alphabet() {
        // 1.0f32 = 00 00 80 3f; 0.0 = 00 00 00 00.
        assert_eq!(super::base64_f32(&[1.0]), "AACAPw==");
        assert_eq!(super::base64_f32(&[1.0, 0.0]), "AACAPwAAAAA=");
    }
}
