//! A loopback OTLP/HTTP receiver that records each request's line (method and path), headers
//! (lower-cased names) and body, answering `200 OK`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// One received request: the request line, the headers (lower-cased names) and the body.
pub struct Request {
    pub line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Serves `count` requests with `200 OK` and an empty protobuf body, then stops.
pub fn collector(count: usize) -> (u16, mpsc::Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..count {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(stream);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end().to_owned();
                    if h.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                    }
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                let stream = reader.get_mut();
                stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
                    .unwrap();
                let _ = tx.send(Request {
                    line: line.trim_end().to_owned(),
                    headers,
                    body,
                });
            }
        }
    });
    (port, rx)
}

impl Request {
    /// The value of header `name` (lower case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An OTLP/HTTP collector on loopback that answers every export correctly, but only after
/// `delay` (a slow collector, not a dead one), until `stop` is set (two minutes at most).
/// Counts the requests it answered. Also used by the facade's end-to-end tests.
pub fn answering(delay: Duration, stop: Arc<AtomicBool>) -> (u16, Arc<AtomicU64>) {
    let (port, answered, _) = answering_counted(delay, stop);
    (port, answered)
}

/// [`answering`], also counting the connections it accepted.
pub fn answering_counted(
    delay: Duration,
    stop: Arc<AtomicBool>,
) -> (u16, Arc<AtomicU64>, Arc<AtomicU64>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let answered = Arc::new(AtomicU64::new(0));
    let connections = Arc::new(AtomicU64::new(0));
    let count = answered.clone();
    let accepted = connections.clone();
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
            let Ok((stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            accepted.fetch_add(1, Ordering::SeqCst);
            let count = count.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                // One request after another on the connection (keep-alive), until told to stop.
                while !stop.load(Ordering::SeqCst) {
                    let mut length = 0usize;
                    let mut line = String::new();
                    let mut started = false;
                    loop {
                        line.clear();
                        match reader.read_line(&mut line) {
                            Ok(0) => return,
                            Ok(_) => {}
                            Err(_) if !started => break,
                            Err(_) => return,
                        }
                        started = true;
                        if line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    if !started {
                        continue;
                    }
                    let mut body = vec![0u8; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    std::thread::sleep(delay);
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
                    if writer.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    (port, answered, connections)
}
