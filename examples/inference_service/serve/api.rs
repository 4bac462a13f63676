//! The API as a tower service: routing by method and path to the chat, embeddings and models
//! handlers, every failure answered in OpenAI's error shape.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response, StatusCode};
use llm_telemetry::SpanContext;
use llm_telemetry::instrument::InferenceBackend;
use tower_service::Service;

use super::body::{self, ApiBody};
use super::chat;
use super::embeddings;
use super::error::ApiError;
use super::state::Shared;

/// `http.route` of a path this API serves.
pub fn route(path: &str) -> Option<&'static str> {
    match path {
        "/v1/chat/completions" => Some("/v1/chat/completions"),
        "/v1/embeddings" => Some("/v1/embeddings"),
        "/v1/models" => Some("/v1/models"),
        _ => None,
    }
}

/// The API service over `B`.
pub struct Api<B> {
    shared: Arc<Shared<B>>,
}

impl<B> Clone for Api<B> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

impl<B> Api<B> {
    /// Serves from `shared`.
    pub fn new(shared: Arc<Shared<B>>) -> Self {
        Self { shared }
    }
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<ApiBody>, Infallible>> + Send>>;

impl<B, Body> Service<Request<Body>> for Api<B>
where
    B: InferenceBackend + 'static,
    Body: http_body::Body<Data = bytes::Bytes> + Send + Unpin + 'static,
    Body::Error: std::fmt::Display + Send,
{
    type Response = Response<ApiBody>;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let shared = self.shared.clone();
        Box::pin(async move {
            Ok(answer(shared, request)
                .await
                .unwrap_or_else(|e| body::error(&e)))
        })
    }
}

async fn answer<B, Body>(
    shared: Arc<Shared<B>>,
    request: Request<Body>,
) -> Result<Response<ApiBody>, ApiError>
where
    B: InferenceBackend + 'static,
    Body: http_body::Body<Data = bytes::Bytes> + Send + Unpin,
    Body::Error: std::fmt::Display + Send,
{
    // The request span the tower layer opened (or the caller's context): the parent of the
    // backend's spans, which run on another thread.
    let parent = request.extensions().get::<SpanContext>().copied();
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    match (&method, route(&path)) {
        (&Method::POST, Some("/v1/chat/completions")) => {
            let bytes = body::read_limited(request.into_body(), shared.max_body_bytes).await?;
            let call = chat::parse(&shared, &bytes)?;
            chat::serve(shared, call, parent).await
        }
        (&Method::POST, Some("/v1/embeddings")) => {
            let bytes = body::read_limited(request.into_body(), shared.max_body_bytes).await?;
            let call = embeddings::parse(&shared, &bytes)?;
            embeddings::serve(shared, call, parent).await
        }
        (&Method::GET, Some("/v1/models")) => Ok(body::json(
            StatusCode::OK,
            &shared.models.listing(shared.started_unix),
        )),
        (_, Some(route)) => Err(ApiError::MethodNotAllowed {
            method: method.to_string(),
            path,
            allowed: if route == "/v1/models" { "GET" } else { "POST" },
        }),
        (_, None) => Err(ApiError::UnknownRoute {
            method: method.to_string(),
            path,
        }),
    }
}
