//! Bodies: [`ApiBody`] (a whole JSON document or a server-sent-event stream), reading a request
//! body under the size limit, and JSON responses.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Either, Full};
use tokio::sync::mpsc;

use super::error::ApiError;

/// Past the limit, the rest of a too-large body is read and dropped (so that the client gets
/// the 413 rather than a reset connection) up to this many bytes; beyond, the connection closes.
const DRAIN_LIMIT: u64 = 64 << 20;

/// A server-sent-event stream: each message the producer sends is one frame.
#[derive(Debug)]
pub struct SseBody {
    receiver: mpsc::Receiver<Bytes>,
}

impl SseBody {
    /// The body fed by `receiver` (the stream ends when every sender is gone).
    pub fn new(receiver: mpsc::Receiver<Bytes>) -> Self {
        Self { receiver }
    }
}

impl Body for SseBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.receiver
            .poll_recv(cx)
            .map(|message| message.map(|bytes| Ok(Frame::data(bytes))))
    }
}

/// Every response body of the API.
pub type ApiBody = Either<Full<Bytes>, SseBody>;

/// A JSON response.
pub fn json(status: StatusCode, value: &serde_json::Value) -> Response<ApiBody> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::from(value.to_string()))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// The OpenAI-shaped error response of `error`.
pub fn error(error: &ApiError) -> Response<ApiBody> {
    json(error.status(), &error.to_json())
}

/// A server-sent-event response fed by `receiver`.
pub fn event_stream(receiver: mpsc::Receiver<Bytes>) -> Response<ApiBody> {
    let mut response = Response::new(Either::Right(SseBody::new(receiver)));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    response
}

/// Reads the whole body, refusing one larger than `limit` bytes (413).
pub async fn read_limited<B>(mut body: B, limit: usize) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    if let Some(declared) = body.size_hint().exact() {
        if declared > limit as u64 {
            drain(&mut body).await;
            return Err(ApiError::BodyTooLarge {
                limit,
                size: declared,
            });
        }
    }
    let mut collected = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::BodyRead(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            if collected.len() + data.len() > limit {
                let size = (collected.len() + data.len()) as u64;
                drain(&mut body).await;
                return Err(ApiError::BodyTooLarge { limit, size });
            }
            collected.extend_from_slice(&data);
        }
    }
    Ok(collected.freeze())
}

/// Reads and drops the rest of `body`, up to [`DRAIN_LIMIT`] bytes.
async fn drain<B>(body: &mut B)
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut drained = 0u64;
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(data) = frame.into_data() {
            drained += data.len() as u64;
            if drained > DRAIN_LIMIT {
                return;
            }
        }
    }
}
