//! [`Page`]: an extra page the `/metrics` server answers beside `/metrics` (an admin view such
//! as the facade's `/inspect`), rendered by the program on every `GET`.
//!
//! The server knows nothing of what a page shows: it calls the page's function on its own
//! thread, per request, and answers `200` with the page's content type. Pages are not scrapes:
//! they are not counted in [`crate::ReporterStats`] and not gzipped.

use std::fmt;
use std::sync::Arc;

type Render = Arc<dyn Fn() -> String + Send + Sync>;

/// An extra page of a [`crate::MetricsServer`] ([`crate::ServerConfig::page`]).
#[derive(Clone)]
pub struct Page {
    path: String,
    content_type: &'static str,
    render: Render,
}

impl Page {
    /// A page at `path` (e.g. `/inspect`) answering `content_type` with what `render` returns.
    pub fn new(
        path: impl Into<String>,
        content_type: &'static str,
        render: impl Fn() -> String + Send + Sync + 'static,
    ) -> Self {
        Self {
            path: path.into(),
            content_type,
            render: Arc::new(render),
        }
    }

    /// Its path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Its content type.
    pub fn content_type(&self) -> &'static str {
        self.content_type
    }

    /// Renders it now.
    pub fn render(&self) -> String {
        (self.render)()
    }

    /// Whether its path is one the server can serve it at: absolute, not `/` or `/metrics`.
    pub(crate) fn path_is_free(&self) -> bool {
        self.path.starts_with('/') && self.path != "/" && self.path != "/metrics"
    }
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Page")
            .field("path", &self.path)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}
