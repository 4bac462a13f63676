//! Sinks: where lines go (stderr, stdout, a file with optional size-based rotation, any
//! `io::Write + Send`), and the buffered output a logger writes through.
//!
//! Output is buffered (64 KiB) and flushed periodically, when the logger is flushed, and, for a
//! terminal, after every line (the write happens on the queued lane's worker, so the emitter never
//! pays for it). A rotating file is checked before each line: when the line would push it past
//! `max_bytes`, `app.log` becomes `app.log.1`, `app.log.1` becomes `app.log.2`, …, the file past
//! `keep` is deleted, and a fresh `app.log` is opened. Lines are never split across files.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::LogError;

/// Bytes buffered before a write reaches the sink.
const BUFFER_BYTES: usize = 64 * 1024;

/// Size-based rotation of a log file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rotation {
    /// Rotate before a line would make the file larger than this many bytes.
    pub max_bytes: u64,
    /// How many rotated files (`.1` … `.keep`) to keep.
    pub keep: usize,
}

enum Target {
    Stderr,
    Stdout,
    File {
        path: PathBuf,
        rotation: Option<Rotation>,
    },
    Writer(Box<dyn Write + Send>),
}

/// Where a logger writes. Opened when the logger is built.
pub struct Sink {
    target: Target,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.target {
            Target::Stderr => f.write_str("Sink::Stderr"),
            Target::Stdout => f.write_str("Sink::Stdout"),
            Target::File { path, rotation } => f
                .debug_struct("Sink::File")
                .field("path", path)
                .field("rotation", rotation)
                .finish(),
            Target::Writer(_) => f.write_str("Sink::Writer"),
        }
    }
}

impl Sink {
    /// The process's standard error (the default).
    pub fn stderr() -> Self {
        Self {
            target: Target::Stderr,
        }
    }

    /// The process's standard output.
    pub fn stdout() -> Self {
        Self {
            target: Target::Stdout,
        }
    }

    /// A file, created if missing and appended to.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            target: Target::File {
                path: path.into(),
                rotation: None,
            },
        }
    }

    /// A file rotated by size: see the [module docs](self). `max_bytes` and `keep` must be > 0.
    pub fn rotating_file(path: impl Into<PathBuf>, max_bytes: u64, keep: usize) -> Self {
        Self {
            target: Target::File {
                path: path.into(),
                rotation: Some(Rotation { max_bytes, keep }),
            },
        }
    }

    /// Any writer (a socket, a pipe, an in-memory buffer, …). Never treated as a terminal.
    pub fn writer(writer: impl Write + Send + 'static) -> Self {
        Self {
            target: Target::Writer(Box::new(writer)),
        }
    }

    /// Opens the sink.
    pub(crate) fn open(self) -> Result<Output, LogError> {
        let (writer, terminal, file): (Box<dyn Write + Send>, bool, Option<FileState>) =
            match self.target {
                Target::Stderr => (Box::new(io::stderr()), io::stderr().is_terminal(), None),
                Target::Stdout => (Box::new(io::stdout()), io::stdout().is_terminal(), None),
                Target::Writer(writer) => (writer, false, None),
                Target::File { path, rotation } => {
                    if let Some(r) = rotation {
                        if r.max_bytes == 0 || r.keep == 0 {
                            return Err(LogError::InvalidRotation {
                                max_bytes: r.max_bytes,
                                keep: r.keep,
                            });
                        }
                    }
                    let file = open_append(&path)?;
                    let written = file.metadata().map(|m| m.len()).unwrap_or(0);
                    (
                        Box::new(file),
                        false,
                        Some(FileState {
                            path,
                            rotation,
                            written,
                            closed: false,
                        }),
                    )
                }
            };
        Ok(Output {
            writer: BufWriter::with_capacity(BUFFER_BYTES, writer),
            terminal,
            file,
        })
    }
}

fn open_append(path: &Path) -> Result<File, LogError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| LogError::OpenFile {
            path: path.to_owned(),
            source,
        })
}

struct FileState {
    path: PathBuf,
    rotation: Option<Rotation>,
    written: u64,
    /// The file was closed for rotation and could not be reopened yet.
    closed: bool,
}

/// An opened sink behind a buffer.
pub(crate) struct Output {
    writer: BufWriter<Box<dyn Write + Send>>,
    terminal: bool,
    file: Option<FileState>,
}

impl Output {
    /// Whether the sink is a terminal (for colour and per-line flushing).
    pub(crate) fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// Writes one whole line (with its newline), rotating first if it is due. A failed rotation
    /// is reported, but the line is still written to the current file.
    pub(crate) fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        if let Some(file) = &mut self.file {
            if file.closed {
                let reopened = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&file.path)?;
                file.written = reopened.metadata().map(|m| m.len()).unwrap_or(0);
                file.closed = false;
                self.writer = BufWriter::with_capacity(BUFFER_BYTES, Box::new(reopened));
            }
        }
        let mut rotation_error = None;
        if let Some(file) = &self.file {
            if let Some(rotation) = file.rotation {
                if file.written > 0 && file.written + line.len() as u64 > rotation.max_bytes {
                    rotation_error = self.rotate(rotation).err();
                }
            }
        }
        self.writer.write_all(line)?;
        if let Some(file) = &mut self.file {
            file.written += line.len() as u64;
        }
        match rotation_error {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Closes the current file, shifts the numbered files, and reopens the path. Whatever fails,
    /// the path is reopened for appending, so no line is lost (a failed shift means the current
    /// file simply keeps growing).
    fn rotate(&mut self, rotation: Rotation) -> io::Result<()> {
        self.writer.flush()?;
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        let numbered = |n: usize| {
            let mut name = file.path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        // Close the file before renaming it (required on Windows, harmless elsewhere).
        self.writer = BufWriter::with_capacity(BUFFER_BYTES, Box::new(io::sink()));
        file.closed = true;
        let shifted = (|| -> io::Result<()> {
            match std::fs::remove_file(numbered(rotation.keep)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            for n in (1..rotation.keep).rev() {
                match std::fs::rename(numbered(n), numbered(n + 1)) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
            std::fs::rename(&file.path, numbered(1))
        })();
        let reopened = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&file.path)?;
        file.written = reopened.metadata().map(|m| m.len()).unwrap_or(0);
        file.closed = false;
        self.writer = BufWriter::with_capacity(BUFFER_BYTES, Box::new(reopened));
        shifted
    }

    /// Pushes buffered bytes to the sink.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// An in-memory sink shared with the code that reads it: for tests of your own logging setup.
///
/// ```
/// use llm_telemetry_log::{MemoryWriter, Sink};
/// let memory = MemoryWriter::default();
/// let sink = Sink::writer(memory.clone());
/// # drop(sink);
/// assert_eq!(memory.contents(), "");
/// ```
#[derive(Clone, Debug, Default)]
pub struct MemoryWriter {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl MemoryWriter {
    /// Everything written so far, as text (invalid UTF-8 replaced).
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.bytes.lock().unwrap_or_else(PoisonError::into_inner))
            .into_owned()
    }

    /// Every complete line written so far, without newlines.
    pub fn lines(&self) -> Vec<String> {
        let text = self.contents();
        let complete = text.rfind('\n').map(|end| &text[..end]).unwrap_or("");
        if complete.is_empty() && !text.starts_with('\n') {
            return Vec::new();
        }
        complete.split('\n').map(str::to_owned).collect()
    }
}

impl Write for MemoryWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
