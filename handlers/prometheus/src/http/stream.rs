//! The body of a large `/metrics` page, sent a part at a time: [`StreamBody`] renders the next
//! part (about [`PART_BYTES`] of text, gzipped on the way when the client asked for it) only
//! when hyper asks for the next frame, that is once the socket has taken the previous one. A
//! scrape of a page of any size therefore holds one part and the compressor's window, not the
//! whole page; a client that stops reading stops the render where it is (and is cut at the
//! write deadline, see `super::io`).
//!
//! Which pages stream is `super::response`'s choice: those whose previous render was at least
//! [`STREAM_ABOVE`] bytes. Smaller pages keep the shared whole render (one render serves a
//! burst of scrapes), with an exact `Content-Length`.

use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use flate2::Compression;
use flate2::write::GzEncoder;
use hyper::body::{Body, Bytes, Frame};

use super::ledger::Ledger;
use crate::reporter::RenderStream;

/// Pages whose previous render was at least this long are streamed (1 MiB).
pub(crate) const STREAM_ABOVE: usize = 1 << 20;

/// The text rendered per part (64 KiB; a part ends after a whole series).
pub(crate) const PART_BYTES: usize = 64 << 10;

/// A streamed `/metrics` body (see the [module docs](self)).
pub(crate) struct StreamBody {
    render: RenderStream,
    /// The compressor, writing into its own buffer, emptied at every frame.
    gzip: Option<GzEncoder<Vec<u8>>>,
    finished: bool,
    /// Told when the last part is taken; `None` for a `HEAD` (not a scrape).
    ledger: Option<Arc<Ledger>>,
}

impl StreamBody {
    pub(crate) fn new(render: RenderStream, gzip: bool, ledger: Option<Arc<Ledger>>) -> Self {
        Self {
            render,
            gzip: gzip
                .then(|| GzEncoder::new(Vec::with_capacity(PART_BYTES / 4), Compression::fast())),
            finished: false,
            ledger,
        }
    }

    /// The next non-empty frame, or `None` at the end.
    fn next_frame(&mut self) -> std::io::Result<Option<Bytes>> {
        while !self.finished {
            let mut text = String::with_capacity(PART_BYTES + PART_BYTES / 8);
            let more = self.render.next_part(&mut text, PART_BYTES);
            let bytes = match &mut self.gzip {
                None => Bytes::from(text),
                Some(encoder) => {
                    encoder.write_all(text.as_bytes())?;
                    if !more {
                        encoder.try_finish()?;
                    }
                    // The encoder only appends to its buffer, so taking what is there is safe.
                    Bytes::from(std::mem::take(encoder.get_mut()))
                }
            };
            if !more {
                self.finished = true;
                if let Some(ledger) = self.ledger.take() {
                    ledger.handed();
                }
            }
            if !bytes.is_empty() {
                return Ok(Some(bytes));
            }
        }
        Ok(None)
    }
}

impl Body for StreamBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Poll::Ready(
            self.get_mut()
                .next_frame()
                .transpose()
                .map(|r| r.map(Frame::data)),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.finished
    }
}

impl Drop for StreamBody {
    fn drop(&mut self) {
        // Dropped before its last part was taken: the connection ended mid-page.
        if let Some(ledger) = self.ledger.take() {
            ledger.cut_short();
        }
    }
}
