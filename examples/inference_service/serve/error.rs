//! Errors: [`ApiError`], what a request did wrong (answered in OpenAI's JSON error shape), and
//! [`ServeError`], why the server could not start.

use std::net::SocketAddr;

use http::StatusCode;
use serde_json::json;

/// A request the API refuses or could not serve, answered as
/// `{"error": {"message", "type", "param", "code"}}` with the matching status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON (or not a JSON object).
    #[error(
        "We could not parse the JSON body of your request ({0}). Send a JSON object with Content-Type: application/json."
    )]
    MalformedJson(String),
    /// A required field is absent.
    #[error("Missing required parameter: '{0}'.")]
    MissingParameter(&'static str),
    /// A field has a value this server cannot take.
    #[error("Invalid value for '{param}': {message}")]
    InvalidParameter {
        /// The field.
        param: &'static str,
        /// What is wrong with it and what to send instead.
        message: String,
    },
    /// The model is not served here.
    #[error(
        "The model `{model}` does not exist or you do not have access to it. GET /v1/models lists the {kind} models served here."
    )]
    UnknownModel {
        /// The requested model.
        model: String,
        /// `chat` or `embedding`.
        kind: &'static str,
    },
    /// The body is larger than the limit.
    #[error(
        "The request body ({size} bytes or more) exceeds this server's limit of {limit} bytes; send a smaller request."
    )]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
        /// How many bytes were seen (at least).
        size: u64,
    },
    /// The body could not be read (the client went away mid-upload).
    #[error("Could not read the request body: {0}")]
    BodyRead(String),
    /// No such route.
    #[error(
        "Unknown request URL: {method} {path}. This server serves POST /v1/chat/completions, POST /v1/embeddings and GET /v1/models."
    )]
    UnknownRoute {
        /// The method asked for.
        method: String,
        /// The path asked for.
        path: String,
    },
    /// The route exists with another method.
    #[error("Method {method} is not allowed on {path}; use {allowed}.")]
    MethodNotAllowed {
        /// The method asked for.
        method: String,
        /// The path.
        path: String,
        /// The method the route takes.
        allowed: &'static str,
    },
    /// The backend failed.
    #[error("The model backend failed ({error_type}): {message}")]
    Backend {
        /// The backend's error class (`rate_limit`, `error`, …).
        error_type: &'static str,
        /// Its message.
        message: String,
    },
}

impl ApiError {
    /// The HTTP status it is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_)
            | ApiError::MissingParameter(_)
            | ApiError::InvalidParameter { .. }
            | ApiError::BodyRead(_) => StatusCode::BAD_REQUEST,
            ApiError::UnknownModel { .. } | ApiError::UnknownRoute { .. } => StatusCode::NOT_FOUND,
            ApiError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Backend { error_type, .. } if *error_type == "rate_limit" => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Backend { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// OpenAI's `type`.
    fn kind(&self) -> &'static str {
        match self {
            ApiError::Backend { error_type, .. } if *error_type == "rate_limit" => "requests",
            ApiError::Backend { .. } => "server_error",
            _ => "invalid_request_error",
        }
    }

    /// OpenAI's `code`.
    fn code(&self) -> Option<&'static str> {
        match self {
            ApiError::MissingParameter(_) => Some("missing_required_parameter"),
            ApiError::InvalidParameter { .. } => Some("invalid_value"),
            ApiError::UnknownModel { .. } => Some("model_not_found"),
            ApiError::BodyTooLarge { .. } => Some("request_too_large"),
            ApiError::UnknownRoute { .. } => Some("unknown_url"),
            ApiError::MethodNotAllowed { .. } => Some("method_not_allowed"),
            ApiError::Backend { error_type, .. } if *error_type == "rate_limit" => {
                Some("rate_limit_exceeded")
            }
            _ => None,
        }
    }

    /// OpenAI's `param`.
    fn param(&self) -> Option<&'static str> {
        match self {
            ApiError::MissingParameter(p) => Some(p),
            ApiError::InvalidParameter { param, .. } => Some(param),
            ApiError::UnknownModel { .. } => Some("model"),
            _ => None,
        }
    }

    /// The JSON body: `{"error": {"message", "type", "param", "code"}}`.
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "error": {
                "message": self.to_string(),
                "type": self.kind(),
                "param": self.param(),
                "code": self.code(),
            }
        })
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}; give --serve a free address (port 0 picks one)")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The async runtime or the listener could not be set up.
    #[error("cannot start the HTTP server's runtime: {0}")]
    Runtime(std::io::Error),
}
