//! What the endpoint answers: `GET`/`HEAD` of `/metrics` (the exposition in the negotiated
//! format, gzipped when the client accepts it), of `/` (a pointer to `/metrics`), of each extra
//! [`crate::Page`] (rendered per request), `404` for other paths and `405` for other methods. Malformed requests never get here: hyper's parser answers
//! them (`400`, `431`, …).
//!
//! **Shared renders.** A request first yields once to the runtime, so that the requests that
//! arrived with it are read too, then takes the endpoint's latest render if that render *started
//! after the request arrived* (same format and encoding), or renders. Every answer is therefore
//! at least as fresh as its request (an event emitted before the request is in it), yet under a
//! flood of N requests one render serves them all instead of N renders queueing in front of
//! Prometheus's scrape.
//!
//! **Large pages stream.** A page whose previous render was 1 MiB or more is not rendered
//! whole: it is sent a part at a time, each part rendered when the socket took the previous
//! one (`super::stream`), so a scrape's memory does not grow with the page.

use std::convert::Infallible;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use flate2::Compression;
use flate2::write::GzEncoder;
use hyper::body::{Body, Bytes, Frame, SizeHint};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::ledger::Ledger;
use super::stream::{STREAM_ABOVE, StreamBody};
use crate::exposition::Format;
use crate::reporter::{PrometheusReporter, RenderStream};

/// The latest render of the endpoint (see the module docs): when it started, in which format
/// and encoding, and the bytes.
#[derive(Default)]
pub(crate) struct RenderCache(Mutex<Option<(Instant, Format, bool, Bytes)>>);

impl RenderCache {
    /// A render started after `arrived` in `format` (gzipped or not), made now if there is none.
    fn get(
        &self,
        arrived: Instant,
        format: Format,
        gzip: bool,
        reporter: &PrometheusReporter,
    ) -> (Bytes, bool) {
        // Only the server thread takes this lock, one task at a time.
        let mut latest = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((started, f, g, bytes)) = latest.as_ref() {
            if *started >= arrived && *f == format && *g == gzip {
                return (bytes.clone(), gzip);
            }
        }
        let started = Instant::now();
        let text = reporter.render_as(format);
        let (bytes, encoded) = match gzip.then(|| gzipped(text.as_bytes())).flatten() {
            Some(bytes) => (bytes, true),
            None => (Bytes::from(text), false),
        };
        *latest = Some((started, format, encoded, bytes.clone()));
        (bytes, encoded)
    }
}

/// The answer to `request` (whose body is ignored), under the endpoint's `settings`.
pub(crate) async fn respond<B>(
    request: Request<B>,
    reporter: PrometheusReporter,
    ledger: Arc<Ledger>,
    settings: Arc<super::Settings>,
    cache: Arc<RenderCache>,
) -> Response<ScrapeBody> {
    let gzip = settings.gzip;
    let arrived = Instant::now();
    let head_only = match *request.method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "use GET /metrics\n");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
    };
    match request.uri().path() {
        "/metrics" => {}
        "/" => {
            return plain(
                StatusCode::OK,
                "llm-telemetry Prometheus endpoint: scrape /metrics\n",
            );
        }
        path => {
            let Some(page) = settings.pages.iter().find(|p| p.path() == path) else {
                return plain(StatusCode::NOT_FOUND, "not found; scrape /metrics\n");
            };
            let body = WholeBody::new(Bytes::from(page.render()), None);
            let mut response = Response::new(ScrapeBody::Whole(body));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(page.content_type()),
            );
            return response;
        }
    }
    let headers = request.headers();
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let gzip = gzip
        && headers
            .get_all(header::ACCEPT_ENCODING)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(accepts_gzip);
    // HEAD gets the headers of a GET; hyper writes no body for it. Only GETs count as scrapes.
    let ledger = (!head_only).then_some(ledger);
    let (body, encoded) = if reporter.last_render_len() >= STREAM_ABOVE {
        let render = RenderStream::new(reporter, format);
        (
            ScrapeBody::Stream(Box::new(StreamBody::new(render, gzip, ledger))),
            gzip,
        )
    } else {
        // Let the requests that arrived with this one be read: one render can then serve them
        // all (a streamed page is rendered per request, a part at a time).
        tokio::task::yield_now().await;
        let (bytes, encoded) = cache.get(arrived, format, gzip, &reporter);
        (ScrapeBody::Whole(WholeBody::new(bytes, ledger)), encoded)
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept, Accept-Encoding"),
    );
    if encoded {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// Whether one `Accept-Encoding` header value allows gzip (`gzip` or `*` with `q` > 0).
pub(crate) fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|coding| {
        let mut params = coding.split(';');
        let name = params.next().unwrap_or("").trim();
        let q = params
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        q > 0.0 && (name.eq_ignore_ascii_case("gzip") || name == "*")
    })
}

/// `text` gzipped at the fastest level (a scrape compresses about twentyfold even so).
fn gzipped(text: &[u8]) -> Option<Bytes> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(text.len() / 8 + 64), Compression::fast());
    encoder.write_all(text).ok()?;
    encoder.finish().ok().map(Bytes::from)
}

fn plain(status: StatusCode, text: &'static str) -> Response<ScrapeBody> {
    let body = WholeBody::new(Bytes::from_static(text.as_bytes()), None);
    let mut response = Response::new(ScrapeBody::Whole(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A response: a whole body, or a large `/metrics` page streamed a part at a time.
pub(crate) enum ScrapeBody {
    /// One chunk with its exact length.
    Whole(WholeBody),
    /// A large page (see `super::stream`).
    Stream(Box<StreamBody>),
}

impl Body for ScrapeBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            ScrapeBody::Whole(body) => Pin::new(body)
                .poll_frame(cx)
                .map(|frame| frame.map(|r| r.map_err(|never| match never {}))),
            ScrapeBody::Stream(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ScrapeBody::Whole(body) => body.is_end_stream(),
            ScrapeBody::Stream(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ScrapeBody::Whole(body) => body.size_hint(),
            ScrapeBody::Stream(body) => body.size_hint(),
        }
    }
}

/// A response body of one chunk with its exact length (hyper writes `Content-Length`), telling
/// the connection's [`Ledger`] when hyper takes it (a `/metrics` body).
pub(crate) struct WholeBody {
    data: Option<Bytes>,
    len: u64,
    ledger: Option<Arc<Ledger>>,
}

impl WholeBody {
    fn new(data: Bytes, ledger: Option<Arc<Ledger>>) -> Self {
        // hyper never polls an empty body: it is handed over with the head.
        let ledger = match ledger {
            Some(ledger) if data.is_empty() => {
                ledger.handed();
                None
            }
            ledger => ledger,
        };
        Self {
            len: data.len() as u64,
            data: (!data.is_empty()).then_some(data),
            ledger,
        }
    }
}

impl Body for WholeBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(ledger) = this.ledger.take() {
            ledger.handed();
        }
        Poll::Ready(this.data.take().map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

impl Drop for WholeBody {
    fn drop(&mut self) {
        if let Some(ledger) = self.ledger.take() {
            ledger.dropped();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_accepted_as_clients_write_it() {
        assert!(accepts_gzip("gzip"));
        assert!(accepts_gzip("deflate, gzip;q=0.5"));
        assert!(accepts_gzip("GZIP"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip(""));
    }
}
