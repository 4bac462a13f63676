//! `POST /v1/chat/completions`: a whole completion, or (`"stream": true`) server-sent
//! `chat.completion.chunk` events ending in `data: [DONE]`, with `usage` in a last chunk when
//! `stream_options.include_usage` is set.
//!
//! The backend runs on tokio's blocking pool with the request span current, so its `llm.chat`
//! span is the request span's child. A stream's producer sends chunks through a small channel;
//! when the client goes away the body is dropped, the next send fails, and dropping the token
//! iterator stops `llm.chat` with `status = "cancelled"`.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Response, StatusCode};
use llm_telemetry::context;
use llm_telemetry::instrument::{
    BackendError, ChatMessage, ChatRequest, Completion, GenerateRequest, InferenceBackend, Role,
};
use llm_telemetry::{SpanContext, SpanId};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use super::body::{self, ApiBody};
use super::error::ApiError;
use super::state::{Shared, StreamGuard};
use super::wire;

/// Chunks buffered between the producer and the connection.
const STREAM_BUFFER: usize = 8;

/// A parsed chat request.
pub struct ChatCall {
    request: ChatRequest,
    stream: bool,
    include_usage: bool,
}

/// Reads a chat request, checking the model against the served ones.
pub fn parse<B: InferenceBackend>(shared: &Shared<B>, body: &[u8]) -> Result<ChatCall, ApiError> {
    let map = wire::object(body)?;
    let model: String = wire::required(&map, "model", "a model name")?;
    let messages: Vec<Value> = wire::required(&map, "messages", "an array of messages")?;
    if messages.is_empty() {
        return Err(ApiError::InvalidParameter {
            param: "messages",
            message: "expected at least one message, got an empty array".to_owned(),
        });
    }
    let messages = messages
        .iter()
        .map(message)
        .collect::<Result<Vec<_>, _>>()?;
    if !shared.models.has_chat(&model) {
        return Err(ApiError::UnknownModel {
            model,
            kind: "chat",
        });
    }
    let n: Option<u32> = wire::optional(&map, "n", "an integer")?;
    if n.is_some_and(|n| n != 1) {
        return Err(ApiError::InvalidParameter {
            param: "n",
            message: "this server generates one choice per request; send n = 1 or leave it out"
                .to_owned(),
        });
    }
    let stream: bool = wire::optional(&map, "stream", "a boolean")?.unwrap_or(false);
    let stream_options: Option<Map<String, Value>> =
        wire::optional(&map, "stream_options", "an object")?;
    let include_usage = match &stream_options {
        Some(options) => wire::optional(options, "include_usage", "a boolean")?.unwrap_or(false),
        None => false,
    };
    let mut request = ChatRequest::new(model, messages);
    let max_tokens: Option<u32> = wire::optional(
        &map,
        "max_completion_tokens",
        "a positive integer",
    )?
    .or(wire::optional(&map, "max_tokens", "a positive integer")?);
    if let Some(max) = max_tokens {
        request.options.max_tokens = Some(max);
    }
    request.options.temperature = wire::optional(&map, "temperature", "a number")?;
    request.options.top_p = wire::optional(&map, "top_p", "a number")?;
    request.options.seed = wire::optional(&map, "seed", "an integer")?;
    request.options.stop = match map.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(_) => wire::required(&map, "stop", "a string or an array of strings")?,
    };
    request.options.streaming = stream;
    request.options.provider = Some(shared.backend.provider().to_owned());
    Ok(ChatCall {
        request,
        stream,
        include_usage,
    })
}

/// One message: `role` and `content` (text, an array of text parts, or null).
fn message(value: &Value) -> Result<ChatMessage, ApiError> {
    let invalid = |message: String| ApiError::InvalidParameter {
        param: "messages",
        message,
    };
    let Value::Object(map) = value else {
        return Err(invalid(
            "each message must be an object with role and content".to_owned(),
        ));
    };
    let role = match map.get("role").and_then(Value::as_str) {
        Some("system" | "developer") => Role::System,
        Some("user") => Role::User,
        Some("assistant") => Role::Assistant,
        Some("tool") => Role::Tool,
        Some(other) => {
            return Err(invalid(format!(
                "unknown role {other:?}; use system, developer, user, assistant or tool"
            )));
        }
        None => return Err(invalid("a message has no role".to_owned())),
    };
    let content = match map.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for part in parts {
                match (
                    part.get("type").and_then(Value::as_str),
                    part.get("text").and_then(Value::as_str),
                ) {
                    (Some("text"), Some(t)) => text.push_str(t),
                    _ => {
                        return Err(invalid(
                            "this server reads text content parts only ({\"type\": \"text\", \"text\": …})"
                                .to_owned(),
                        ));
                    }
                }
            }
            text
        }
        Some(_) => {
            return Err(invalid(
                "content must be a string, an array of text parts, or null".to_owned(),
            ));
        }
    };
    Ok(ChatMessage::new(role, content))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn completion_id() -> String {
    format!("chatcmpl-{:016x}", SpanId::random().to_u64())
}

/// The API error of a backend failure.
pub fn backend_error<E: BackendError>(error: &E) -> ApiError {
    ApiError::Backend {
        error_type: error.error_type(),
        message: error.to_string(),
    }
}

/// Runs a backend call on the blocking pool with `parent` as the current span (so its LLM span
/// is the request span's child); a panic in it is a `panic` backend error.
pub async fn blocking<T, E>(
    parent: Option<SpanContext>,
    call: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: BackendError + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let _parent = context::enter(parent);
        call().map_err(|e| backend_error(&e))
    })
    .await
    .map_err(|e| ApiError::Backend {
        error_type: "panic",
        message: e.to_string(),
    })?
}

fn usage(input: u64, output: u64) -> Value {
    json!({"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output})
}

/// Serves `call`: a JSON completion or an event stream.
pub async fn serve<B>(
    shared: Arc<Shared<B>>,
    call: ChatCall,
    parent: Option<SpanContext>,
) -> Result<Response<ApiBody>, ApiError>
where
    B: InferenceBackend + 'static,
{
    if call.stream {
        return Ok(stream(shared, call, parent));
    }
    let model = call.request.options.model.clone();
    let completion: Completion =
        blocking(parent, move || shared.backend.chat(&call.request)).await?;
    let document = json!({
        "id": completion_id(),
        "object": "chat.completion",
        "created": unix_now(),
        "model": completion.response_model.as_deref().unwrap_or(&model),
        "system_fingerprint": null,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": completion.text, "refusal": null},
            "logprobs": null,
            "finish_reason": completion.finish_reason.as_str(),
        }],
        "usage": usage(completion.input_tokens, completion.output_tokens),
    });
    Ok(body::json(StatusCode::OK, &document))
}

/// One server-sent event carrying `value`.
fn event(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

/// Starts the producer and answers with the event stream it feeds.
fn stream<B>(
    shared: Arc<Shared<B>>,
    call: ChatCall,
    parent: Option<SpanContext>,
) -> Response<ApiBody>
where
    B: InferenceBackend + 'static,
{
    let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
    tokio::task::spawn_blocking(move || {
        let _counted = StreamGuard::enter(&shared.active_streams);
        let _parent = context::enter(parent);
        produce(&shared, call, &sender);
    });
    body::event_stream(receiver)
}

/// Runs the backend's stream inside an `llm.chat` span, sending each piece as a chunk. Returns
/// early (dropping the stream: a cancelled stop) when the client is gone.
fn produce<B: InferenceBackend>(shared: &Shared<B>, call: ChatCall, sender: &mpsc::Sender<Bytes>) {
    let id = completion_id();
    let created = unix_now();
    let model = call.request.options.model.clone();
    let chunk = |delta: Value, finish: Option<&str>| {
        let mut value = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if call.include_usage {
            value["usage"] = Value::Null;
        }
        value
    };
    let send = |value: &Value| sender.blocking_send(event(value)).is_ok();
    let span = shared.telemetry().start_chat(&call.request);
    let started = {
        let _entered = span.enter();
        shared.backend.inner().stream(&GenerateRequest {
            prompt: call.request.prompt_text(),
            options: call.request.options.clone(),
        })
    };
    let backend_stream = match started {
        Ok(stream) => stream,
        Err(error) => {
            span.fail(error.error_type(), &error.to_string());
            let _ = send(&backend_error(&error).to_json());
            return;
        }
    };
    let input_tokens = backend_stream.input_tokens;
    let mut span = span;
    span.set_input_tokens(input_tokens);
    let mut tokens = span.stream(backend_stream.chunks);
    if !send(&chunk(json!({"role": "assistant", "content": ""}), None)) {
        return;
    }
    let mut output_tokens = 0u64;
    for piece in tokens.by_ref() {
        match piece {
            Ok(piece) => {
                output_tokens += piece.tokens;
                if !send(&chunk(json!({"content": piece.text}), None)) {
                    // The client is gone: dropping `tokens` stops llm.chat as cancelled.
                    return;
                }
            }
            Err(error) => {
                let _ = send(&backend_error(&error).to_json());
                return;
            }
        }
    }
    drop(tokens);
    let finish = match call.request.options.max_tokens {
        Some(max) if output_tokens >= u64::from(max) => "length",
        _ => "stop",
    };
    if !send(&chunk(json!({}), Some(finish))) {
        return;
    }
    if call.include_usage {
        let last = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": null, "choices": [],
            "usage": usage(input_tokens, output_tokens),
        });
        if !send(&last) {
            return;
        }
    }
    let _ = sender.blocking_send(Bytes::from_static(b"data: [DONE]\n\n"));
}
