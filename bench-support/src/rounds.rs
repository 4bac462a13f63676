//! Figures that hold on a noisy machine: ours and the peer measured in alternating rounds.
//!
//! [`Rounds::compare`] calibrates each side to a round of about [`Rounds::round_time`], runs one
//! unrecorded warm-up round of each, then [`Rounds::rounds`] recorded rounds of each side in
//! turn (ours-peer, then peer-ours, so drift in the machine's load falls on both sides alike).
//! Each pair of rounds gives one ratio; the row reports the median ratio and its spread (min and
//! max), and the median time of each side. A machine that slows down for a second moves one or
//! two rounds, not the median.
//!
//! A side whose calibrated time per call is below [`BATCH_BELOW_NS`] is measured in batches of
//! [`BATCH`] calls per loop iteration, with the cost of the bare loop (the same loop with an
//! empty body, measured in each round) subtracted, so a 0.3 ns call is judged on what it adds
//! to the loop, not on the loop counter. What is left is floored at [`RESOLUTION_NS`]: a call
//! that adds nothing measurable (a load and a predicted branch, run in the loop's shadow) reads
//! as the resolution, and two such calls compare as 1.0.
//!
//! `ROUNDS` (default 7, at least 5) and `ROUND_MS` (default 300) in the environment adjust the
//! run. Under `cargo test --benches` (no `--bench` argument) each side runs once as a smoke test
//! and no row is produced.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::Row;

/// Calls per loop iteration for a side measured in batches.
pub const BATCH: u64 = 64;
/// A side whose time per call is below this (nanoseconds) is measured in batches.
pub const BATCH_BELOW_NS: f64 = 2.0;
/// The finest per-call difference a batched side resolves (nanoseconds, about a third of a
/// cycle): a batched side's time with the bare loop subtracted is floored here, so two calls
/// that both cost nothing beyond the loop read 0.1 ns each (ratio 1.0, indistinguishable)
/// instead of a ratio of two noise-sized numbers.
pub const RESOLUTION_NS: f64 = 0.1;

/// Times `iters` iterations of `batch` calls of `f`; monomorphized per closure, so `f` is
/// inlined into the loop as in a hand-written one (a `dyn` call per iteration would cost more
/// than the cheapest cases).
#[inline(always)]
fn timed_loop(f: &mut impl FnMut(), iters: u64, batch: u64) -> Duration {
    // The trip count is opaque to the optimizer: each call's code stays as in a hand-written
    // loop (not unrolled 64 times over, which changes what gets inlined); the loop's own cost
    // is what the runner subtracts for a batched side.
    let batch = black_box(batch);
    let start = Instant::now();
    for _ in 0..iters {
        for _ in 0..batch {
            f();
        }
    }
    start.elapsed()
}

/// A timed loop: given iterations and calls per iteration, returns the time they took.
type Timed<'a> = Box<dyn FnMut(u64, u64) -> Duration + 'a>;

/// What one side of a case runs.
pub enum Side<'a> {
    /// One call per iteration; the runner owns the timed loop (and batches it when the call is
    /// cheaper than [`BATCH_BELOW_NS`]). Made by [`Side::call`].
    Call(Timed<'a>),
    /// The side times itself: given an iteration count, it runs that many and returns the time
    /// that counts (so untimed work, like draining a queue between chunks, stays out).
    Custom(Box<dyn FnMut(u64) -> Duration + 'a>),
}

impl<'a> Side<'a> {
    /// A side of one call per iteration.
    pub fn call(mut f: impl FnMut() + 'a) -> Self {
        Side::Call(Box::new(move |iters, batch| {
            timed_loop(&mut f, iters, batch)
        }))
    }

    /// A side that times `iters` iterations itself.
    pub fn custom(f: impl FnMut(u64) -> Duration + 'a) -> Self {
        Side::Custom(Box::new(f))
    }

    /// Time of `iters` iterations (each `batch` calls for a [`Side::Call`]).
    fn run(&mut self, iters: u64, batch: u64) -> Duration {
        match self {
            Side::Call(f) => f(iters, batch),
            Side::Custom(f) => f(iters),
        }
    }
}

/// The bare loop of a batched side: `iters` iterations of `batch` empty calls.
#[inline(never)]
fn bare_loop(iters: u64, batch: u64) -> Duration {
    timed_loop(&mut || black_box(()), iters, batch)
}

/// Calls per loop iteration for a side whose calibrated time per call is `per_call_ns`
/// (only a [`Side::Call`], whose loop the runner owns, can be batched).
fn batch_for(per_call_ns: f64, runner_owns_the_loop: bool) -> u64 {
    if runner_owns_the_loop && per_call_ns < BATCH_BELOW_NS {
        BATCH
    } else {
        1
    }
}

/// One side's calibration: iterations per round and calls per iteration.
#[derive(Clone, Copy, Debug)]
struct Plan {
    iters: u64,
    batch: u64,
}

impl Plan {
    fn calls(self) -> f64 {
        (self.iters * self.batch) as f64
    }
}

/// The alternating-rounds runner; see the module docs.
#[derive(Clone, Debug)]
pub struct Rounds {
    /// Recorded rounds per side.
    pub rounds: usize,
    /// Target duration of one round of one side.
    pub round_time: Duration,
    measuring: bool,
    filter: Option<String>,
}

/// Times of one case, per side and round, in nanoseconds per call.
#[derive(Clone, Debug)]
pub struct Samples {
    /// Ours, per round.
    pub ours_ns: Vec<f64>,
    /// The peer, per round.
    pub peer_ns: Vec<f64>,
    /// Whether each side was batched (ours, peer).
    pub batched: (bool, bool),
}

impl Samples {
    /// ours / peer of each round pair.
    pub fn ratios(&self) -> Vec<f64> {
        self.ours_ns
            .iter()
            .zip(&self.peer_ns)
            .map(|(o, p)| o / p)
            .collect()
    }
}

/// The median of `values` (the mean of the middle two for an even count); NaN when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Rounds {
    /// A runner reading `ROUNDS`, `ROUND_MS` and the bench binary's arguments: `--bench`
    /// (absent under `cargo test --benches`) and an optional case-name filter.
    pub fn from_env() -> Self {
        Self {
            rounds: env_number("ROUNDS", 7).max(5) as usize,
            round_time: Duration::from_millis(env_number("ROUND_MS", 300).max(10)),
            measuring: crate::measuring(),
            filter: std::env::args()
                .skip(1)
                .find(|a| !a.starts_with('-') && !a.is_empty()),
        }
    }

    /// Whether this run measures (a `cargo bench` run) rather than smoke-testing.
    pub fn measuring(&self) -> bool {
        self.measuring
    }

    /// Whether the case-name filter, if any, selects `case`.
    pub fn selects(&self, case: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| case.contains(f))
    }

    /// Whether every case ran and measured, so a report may be written.
    pub fn complete(&self) -> bool {
        self.measuring && self.filter.is_none()
    }

    /// Measures both sides of `case` in alternating rounds; `None` when the filter leaves the
    /// case out or this is a smoke-test run (each side then runs once).
    pub fn samples(&self, case: &str, mut ours: Side<'_>, mut peer: Side<'_>) -> Option<Samples> {
        if !self.selects(case) {
            return None;
        }
        if !self.measuring {
            ours.run(1, 1);
            peer.run(1, 1);
            println!("{case}: smoke-tested (no --bench: not measured)");
            return None;
        }
        let ours_plan = self.calibrate(&mut ours);
        let peer_plan = self.calibrate(&mut peer);
        let bare_plan = Plan {
            iters: ours_plan.iters.max(peer_plan.iters),
            batch: BATCH,
        };
        let batched = ours_plan.batch > 1 || peer_plan.batch > 1;
        let measure = |side: &mut Side<'_>, plan: Plan, bare: f64| {
            let elapsed = side.run(plan.iters, plan.batch).as_nanos() as f64;
            let overhead = if plan.batch > 1 {
                bare * plan.iters as f64
            } else {
                0.0
            };
            let per_call = (elapsed - overhead) / plan.calls();
            if plan.batch > 1 {
                per_call.max(RESOLUTION_NS)
            } else {
                per_call.max(0.0)
            }
        };
        let bare_per_iter = |on: bool| {
            if on {
                bare_loop(bare_plan.iters, BATCH).as_nanos() as f64 / bare_plan.iters as f64
            } else {
                0.0
            }
        };
        // Warm-up round of each side, not recorded.
        let bare = bare_per_iter(batched);
        measure(&mut ours, ours_plan, bare);
        measure(&mut peer, peer_plan, bare);
        let mut samples = Samples {
            ours_ns: Vec::with_capacity(self.rounds),
            peer_ns: Vec::with_capacity(self.rounds),
            batched: (ours_plan.batch > 1, peer_plan.batch > 1),
        };
        for round in 0..self.rounds {
            let bare = bare_per_iter(batched);
            let (o, p) = if round % 2 == 0 {
                let o = measure(&mut ours, ours_plan, bare);
                (o, measure(&mut peer, peer_plan, bare))
            } else {
                let p = measure(&mut peer, peer_plan, bare);
                (measure(&mut ours, ours_plan, bare), p)
            };
            samples.ours_ns.push(o);
            samples.peer_ns.push(p);
        }
        Some(samples)
    }

    /// [`Rounds::samples`] turned into a table row (median ratio, spread, median times).
    pub fn compare(
        &self,
        case: &str,
        peer_is: &str,
        target: f64,
        ours: Side<'_>,
        peer: Side<'_>,
    ) -> Option<Row> {
        let samples = self.samples(case, ours, peer)?;
        let row = Row::from_samples(case, peer_is, target, &samples);
        println!(
            "{case}: ours {:.2} ns, peer {:.2} ns, ratio {:.3} (min {:.3}, max {:.3}, {} rounds{})",
            row.ours_ns,
            row.peer_ns,
            row.ratio,
            row.ratio_min,
            row.ratio_max,
            row.rounds,
            if row.batched {
                ", batched with loop overhead subtracted"
            } else {
                ""
            }
        );
        Some(row)
    }

    /// Iterations (and batch size) for a round of about `round_time`; doubles from one
    /// iteration, which warms the side up too. The batch decision takes the fastest of 16 short
    /// runs (~50 µs each, shorter than a scheduler time slice), so a loaded machine that
    /// preempts the thread does not make a 0.3 ns call look like a 2 ns one.
    fn calibrate(&self, side: &mut Side<'_>) -> Plan {
        let grow = |side: &mut Side<'_>, until: Duration| {
            let mut iters = 1u64;
            loop {
                let t = side.run(iters, 1);
                if t >= until || iters >= 1 << 40 {
                    return (iters, t);
                }
                iters *= 2;
            }
        };
        let (iters, t) = grow(side, self.round_time / 8);
        let mut per_call = t.as_nanos() as f64 / iters as f64;
        if matches!(side, Side::Call(_)) {
            let short = ((50_000.0 / per_call.max(0.01)) as u64).max(1);
            for _ in 0..16 {
                let t = side.run(short, 1).as_nanos() as f64 / short as f64;
                per_call = per_call.min(t);
            }
        }
        let batch = batch_for(per_call, matches!(side, Side::Call(_)));
        let per_iter = t.as_nanos() as f64 / iters as f64 * batch as f64;
        let iters = ((self.round_time.as_nanos() as f64 / per_iter.max(0.01)) as u64).max(1);
        Plan { iters, batch }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn a_row_from_rounds_carries_the_median_ratio_and_its_spread() {
        let samples = Samples {
            ours_ns: vec![10.0, 12.0, 30.0, 11.0, 10.0],
            peer_ns: vec![20.0, 20.0, 20.0, 22.0, 10.0],
            batched: (false, true),
        };
        let row = Row::from_samples("c", "p", 1.0, &samples);
        // Ratios 0.5, 0.6, 1.5, 0.5, 1.0: median 0.6, min 0.5, max 1.5.
        assert!((row.ratio - 0.6).abs() < 1e-12, "{row:?}");
        assert_eq!((row.ratio_min, row.ratio_max, row.rounds), (0.5, 1.5, 5));
        assert_eq!((row.ours_ns, row.peer_ns), (11.0, 20.0));
        assert!(row.batched);
    }

    #[test]
    fn a_sub_two_nanosecond_call_is_batched_and_a_slow_one_is_not() {
        let runner = Rounds {
            rounds: 5,
            round_time: Duration::from_millis(20),
            measuring: true,
            filter: None,
        };
        assert_eq!(batch_for(0.3, true), BATCH);
        assert_eq!(batch_for(0.3, false), 1, "a custom side times its own loop");
        assert_eq!(batch_for(2.5, true), 1);
        let slow = runner.calibrate(&mut Side::call(|| {
            std::thread::sleep(Duration::from_micros(50))
        }));
        assert_eq!(slow.batch, 1);
        let samples = runner
            .samples(
                "sleep",
                Side::call(|| std::thread::sleep(Duration::from_micros(200))),
                Side::call(|| std::thread::sleep(Duration::from_micros(50))),
            )
            .expect("measured");
        assert_eq!(samples.ours_ns.len(), 5);
        // 200 µs against 50 µs (plus the same sleep overshoot on both sides): well above 1.
        assert!(samples.ratios().iter().all(|r| *r > 1.2), "{samples:?}");
    }
}
