//! Reading OpenAI request bodies field by field, so that each mistake is named precisely
//! (`param` of the error) instead of as one opaque parse failure.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::error::ApiError;

/// The body as a JSON object.
pub fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(ApiError::MalformedJson(format!(
            "expected a JSON object, got {}",
            kind_of(&other)
        ))),
        Err(e) => Err(ApiError::MalformedJson(e.to_string())),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Field `key`, which must be present and not null.
pub fn required<T: DeserializeOwned>(
    map: &Map<String, Value>,
    key: &'static str,
    expected: &'static str,
) -> Result<T, ApiError> {
    optional(map, key, expected)?.ok_or(ApiError::MissingParameter(key))
}

/// Field `key`, `None` when absent or null.
pub fn optional<T: DeserializeOwned>(
    map: &Map<String, Value>,
    key: &'static str,
    expected: &'static str,
) -> Result<Option<T>, ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => T::deserialize(value)
            .map(Some)
            .map_err(|_| ApiError::InvalidParameter {
                param: key,
                message: format!("expected {expected}, got {}", kind_of(value)),
            }),
    }
}
