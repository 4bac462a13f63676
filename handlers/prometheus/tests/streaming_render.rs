//! A large `/metrics` page streams (issue 13, item 3): after one 16 MB render, the next scrapes
//! are rendered a part at a time as the socket takes them, so the process's live heap grows by
//! far less than the page while a scrape is sent, plain or gzipped; the page read back is the
//! same as a whole render, passes `promtool check metrics`, and the scrape is counted served.
//!
//! One test in its own binary with a counting global allocator, so no other test's
//! allocations share the figures. The client writes what it receives to a file (not the heap).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use llm_telemetry_core::Bus;
use llm_telemetry_prometheus::ServerConfig;

use common::{BIG_SERIES, big_reporter, get, promtool_check, sample};

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is the system allocator's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is the system allocator's.
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            let live = LIVE.fetch_add(new_size, Ordering::Relaxed) + new_size;
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MB: usize = 1 << 20;

/// Scrapes `/metrics` (gzip asked or not), writing the raw response to a file while reading in
/// 64 KiB reads; returns the response's head and the file. The heap peak above the live bytes
/// at the start of the scrape is returned too.
fn scrape_to_file(addr: SocketAddr, gzip: bool, name: &str) -> (String, std::path::PathBuf, usize) {
    let path = std::env::temp_dir().join(format!(
        "llm-telemetry-stream-{}-{name}",
        std::process::id()
    ));
    let mut file = std::fs::File::create(&path).unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let encoding = if gzip {
        "Accept-Encoding: gzip\r\n"
    } else {
        ""
    };
    let request =
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\n{encoding}Connection: close\r\n\r\n");
    let mut buf = vec![0u8; 64 * 1024];
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    stream.write_all(request.as_bytes()).unwrap();
    loop {
        let n = stream.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        file.write_all(&buf[..n]).unwrap();
    }
    let grew = PEAK.load(Ordering::Relaxed) - base;
    drop(file);
    let raw = std::fs::read(&path).unwrap();
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(raw[..head_end].to_vec()).unwrap();
    (head, path, grew)
}

/// The body of a raw chunked response.
fn dechunk(raw: &[u8]) -> Vec<u8> {
    let mut at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut body = Vec::new();
    loop {
        let line_end = at + raw[at..].windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[at..line_end]).unwrap(), 16).unwrap();
        at = line_end + 2;
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[at..at + size]);
        at += size + 2;
    }
}

/// The `big_total` sample lines of a page.
fn big_lines(page: &str) -> Vec<&str> {
    page.lines()
        .filter(|l| l.starts_with("big_total{"))
        .collect()
}

#[test]
fn a_large_page_streams_in_parts_plain_and_gzipped_and_reads_back_whole() {
    let bus = Bus::new();
    let reporter = big_reporter(&bus);
    let server = reporter.serve(ServerConfig::at("127.0.0.1:0")).unwrap();
    let addr = server.local_addr();

    // The first scrape renders whole (nothing says yet that the page is large) and sizes it.
    let first = get(addr, "/metrics");
    assert_eq!(first.status, 200);
    let page_len = first.bytes.len();
    assert!(page_len > 15 * MB, "{page_len}");
    assert!(first.header("content-length").is_some());
    drop(first);

    let (head, path, plain_grew) = scrape_to_file(addr, false, "plain");
    let raw = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "a streamed page has no Content-Length: {head}"
    );
    let body = String::from_utf8(dechunk(&raw)).unwrap();
    drop(raw);

    let (head, path, gzip_grew) = scrape_to_file(addr, true, "gzip");
    let raw = std::fs::read(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        head.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{head}"
    );
    let compressed = dechunk(&raw);
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut unzipped)
        .unwrap();

    eprintln!(
        "page {page_len} bytes; heap grew by {plain_grew} bytes while it streamed plain, \
         {gzip_grew} gzipped ({} bytes on the wire)",
        compressed.len()
    );
    // The promise: a scrape holds parts, not the page (a whole render holds ≥ page_len).
    assert!(
        plain_grew < 2 * MB,
        "plain scrape grew the heap by {plain_grew} bytes"
    );
    assert!(
        gzip_grew < 2 * MB,
        "gzipped scrape grew the heap by {gzip_grew} bytes"
    );

    // Both read back as the whole render: every series once, the same lines.
    let whole = reporter.render();
    for page in [&body, &unzipped] {
        let lines = big_lines(page);
        assert_eq!(lines.len(), BIG_SERIES);
        assert_eq!(lines, big_lines(&whole));
        assert_eq!(page.matches("# TYPE big_total counter").count(), 1);
    }
    promtool_check(&body);

    // Both streamed scrapes (and the first) counted as served, none failed.
    let stats = reporter.stats();
    assert_eq!(stats.scrapes_failed, 0, "{stats:?}");
    let text = get(addr, "/metrics").body;
    assert_eq!(
        sample(
            &text,
            "llm_telemetry_scrapes_failed_total{reason=\"disconnected\"}"
        ),
        Some(0.0)
    );
    assert!(stats.scrapes_served >= 3, "{stats:?}");
}
