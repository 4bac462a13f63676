//! Shared bench plumbing for the benches of every crate of the workspace (`core/benches/`,
//! `handlers/<name>/benches/`): a Criterion configured for a small noisy machine, reading
//! Criterion's own estimates back, and writing the side-by-side table as JSON under the
//! workspace's `target/bench/`, wherever the bench's crate lives.
//!
//! Every bench runs ours and the peer in one process, in the same group, and reports
//! `ratio = ours_ns / peer_ns`: on a small shared machine ratios are meaningful where absolute
//! times are not. The table cases run through [`rounds::Rounds`]: ours and the peer in
//! alternating rounds, the median ratio and its spread reported. Bench code: a missing or
//! unreadable estimate panics with what to do.

pub mod rounds;

pub use rounds::{Rounds, Side};

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::Criterion;

/// One row of a comparison table.
#[derive(Clone, Debug)]
pub struct Row {
    /// Case id, as the issue names it.
    pub case: String,
    /// Our mean time per iteration, in nanoseconds.
    pub ours_ns: f64,
    /// What the peer is.
    pub peer: String,
    /// The peer's mean time per iteration, in nanoseconds.
    pub peer_ns: f64,
    /// ours / peer.
    pub ratio: f64,
    /// The ratio the issue asks for (at most).
    pub target: f64,
    /// The smallest ratio of one round pair.
    pub ratio_min: f64,
    /// The largest ratio of one round pair.
    pub ratio_max: f64,
    /// Round pairs measured.
    pub rounds: usize,
    /// Whether a side was measured in batches with the loop overhead subtracted.
    pub batched: bool,
}

impl Row {
    /// A row from alternating rounds: `ratio` is the median of the per-round ratios, `ours_ns`
    /// and `peer_ns` the median time of each side.
    pub fn from_samples(case: &str, peer: &str, target: f64, samples: &rounds::Samples) -> Self {
        let ratios = samples.ratios();
        Row {
            case: case.to_owned(),
            ours_ns: rounds::median(&samples.ours_ns),
            peer: peer.to_owned(),
            peer_ns: rounds::median(&samples.peer_ns),
            ratio: rounds::median(&ratios),
            target,
            ratio_min: ratios.iter().copied().fold(f64::INFINITY, f64::min),
            ratio_max: ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            rounds: ratios.len(),
            batched: samples.batched.0 || samples.batched.1,
        }
    }
}

/// The workspace's root: the nearest directory above this crate whose `Cargo.toml` declares
/// `[workspace]` (this crate's own directory if none does).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|manifest| manifest.lines().any(|l| l.trim() == "[workspace]"))
        })
        .unwrap_or(here)
        .to_path_buf()
}

/// The workspace's target directory: `CARGO_TARGET_DIR` when set (a relative one is taken from
/// the workspace root, where the bench commands are run), else `<workspace root>/target`. Not
/// the bench's crate directory: cargo runs each bench from its own crate's directory, and every
/// table must land in the one `target/bench/` that `scripts/bench-report.py` reads.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// Whether this run measures: `cargo bench` passes `--bench` to the bench binary, while
/// `cargo test --benches` (Criterion's test mode, each case run once as a smoke test) does not,
/// and its estimates must not become a report.
pub fn measuring() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// A Criterion whose results land where [`estimate_ns`] reads them.
pub fn criterion() -> Criterion {
    Criterion::default()
        .output_directory(&target_dir().join("criterion"))
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
        .configure_from_args()
}

/// Criterion's mean estimate for `group/id`, in nanoseconds.
pub fn estimate_ns(group: &str, id: &str) -> f64 {
    let path = target_dir()
        .join("criterion")
        .join(group)
        .join(id)
        .join("new")
        .join("estimates.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e} (did the bench run?)", path.display()));
    let json: serde_json::Value =
        serde_json::from_str(&text).expect("criterion estimates are JSON");
    json["mean"]["point_estimate"]
        .as_f64()
        .expect("estimates.json has mean.point_estimate")
}

/// Prints the table and writes `<workspace>/target/bench/<name>.json` as a list of
/// `{"case", "ours_ns", "peer", "peer_ns", "ratio"}` (plus `"target"` and `"meets_target"`,
/// judged on the median ratio, and the spread: `"ratio_median"`, `"ratio_min"`,
/// `"ratio_max"`, `"rounds"`, `"batched"`).
pub fn write_report(name: &str, rows: &[Row]) {
    println!("\n{name}: ours vs peer (ratio = ours / peer; lower is better)");
    println!(
        "{:<24} {:>12} {:>12} {:>8} {:>15} {:>8}  peer",
        "case", "ours ns", "peer ns", "ratio", "min..max", "target"
    );
    for r in rows {
        println!(
            "{:<24} {:>12.2} {:>12.2} {:>8.3} {:>15} {:>8.2}  {}{}",
            r.case,
            r.ours_ns,
            r.peer_ns,
            r.ratio,
            format!("{:.3}..{:.3}", r.ratio_min, r.ratio_max),
            r.target,
            r.peer,
            if r.ratio <= r.target {
                ""
            } else {
                "  (MISSES TARGET)"
            }
        );
    }
    let json: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            serde_json::json!({
                "case": r.case,
                "ours_ns": r.ours_ns,
                "peer": r.peer,
                "peer_ns": r.peer_ns,
                "ratio": r.ratio,
                "target": r.target,
                "meets_target": r.ratio <= r.target,
                "ratio_median": r.ratio,
                "ratio_min": r.ratio_min,
                "ratio_max": r.ratio_max,
                "rounds": r.rounds,
                "batched": r.batched,
            })
        })
        .collect();
    write_json(name, &serde_json::Value::Array(json));
}

/// Writes any JSON value to `<workspace>/target/bench/<name>.json`.
pub fn write_json(name: &str, value: &serde_json::Value) {
    let dir = target_dir().join("bench");
    std::fs::create_dir_all(&dir).expect("create target/bench");
    let path = dir.join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value).expect("serialize report");
    std::fs::write(&path, text).expect("write bench report");
    println!("wrote {}", path.display());
}

/// The queued-producer peer shared by the core and log benches: the producer side of a
/// crossbeam-channel bounded `send` of a u64 while a thread drains the channel. Dropping it
/// closes the channel and joins the consumer.
pub struct CrossbeamSend {
    tx: Option<crossbeam_channel::Sender<u64>>,
    consumer: Option<std::thread::JoinHandle<u64>>,
}

impl CrossbeamSend {
    /// A bounded channel of 65,536 slots with its consumer thread running.
    pub fn start() -> Self {
        let (tx, rx) = crossbeam_channel::bounded::<u64>(1 << 16);
        let consumer = std::thread::spawn(move || {
            let mut n = 0u64;
            while rx.recv().is_ok() {
                n += 1;
            }
            n
        });
        Self {
            tx: Some(tx),
            consumer: Some(consumer),
        }
    }

    /// One `send` (blocks while the channel is full, as the peer does).
    #[inline]
    pub fn send(&self) {
        if let Some(tx) = &self.tx {
            tx.send(std::hint::black_box(42)).expect("consumer alive");
        }
    }
}

impl Drop for CrossbeamSend {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(consumer) = self.consumer.take() {
            let _ = consumer.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_root_is_above_this_crate_and_declares_the_workspace() {
        let root = workspace_root();
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_ne!(root, here, "this crate is a member, not the workspace root");
        assert!(
            here.starts_with(&root),
            "{} not under {}",
            here.display(),
            root.display()
        );
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains("\"bench-support\""),
            "not a member of {}",
            root.display()
        );
    }
}
