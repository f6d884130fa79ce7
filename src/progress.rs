//! Batch statistics and the progress display.
//!
//! [`BatchStats`] holds a batch's counters (done, errors, tokens, cost) and per-item latencies,
//! all atomics that workers update lock-free. A [`ProgressDisplay`] only *reads* them from a
//! ticker task, so drawing costs the batch nothing per request:
//!
//! * when stderr is a terminal, a one-line bar redrawn 5 times a second: done/total, percent,
//!   requests/s, tokens, cost (once known), errors and ETA;
//! * otherwise an INFO line on the `liter_llm` log target every 10 s
//!   (`LITER_LLM_PROGRESS_LOG_SECS` overrides) and one at the end.
//!
//! The final line is drawn by whoever calls [`ProgressDisplay::finish`] (the worker that
//! records the last item, or the batch being dropped), so it always precedes the caller's output.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::percentile::nearest_rank;

/// Redraw period of the terminal bar.
const BAR_TICK: Duration = Duration::from_millis(200);
/// Default period of the log lines when stderr is not a terminal.
const LOG_TICK: Duration = Duration::from_secs(10);
/// Width of the bar itself, in characters.
const BAR_WIDTH: usize = 20;

/// Counters of one batch, shared by its workers, its display and its caller.
#[derive(Debug)]
pub struct BatchStats {
    total: u64,
    done: AtomicU64,
    errors: AtomicU64,
    tokens: AtomicU64,
    /// Sum of known costs, as `f64` bits.
    cost_bits: AtomicU64,
    cost_known: AtomicBool,
    /// Microseconds each item took (0: not finished), by input index.
    latencies: Box<[AtomicU32]>,
    started: Instant,
    /// Set once the batch has ended, by completion or cancellation.
    ended: Mutex<Option<Duration>>,
}

/// A point-in-time copy of [`BatchStats`].
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Items in the batch.
    pub total: u64,
    /// Items finished (successfully or not).
    pub done: u64,
    /// Items that failed.
    pub errors: u64,
    /// Tokens reported by the successful items.
    pub tokens: u64,
    /// Cost in USD of the items whose cost is known; `None` when none is.
    pub cost: Option<f64>,
    /// Time since the batch started (until it ended, once it has).
    pub elapsed: Duration,
}

impl BatchStats {
    /// Counters for a batch of `total` items, starting now.
    pub fn new(total: usize) -> Self {
        BatchStats {
            total: total as u64,
            done: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
            cost_bits: AtomicU64::new(0f64.to_bits()),
            cost_known: AtomicBool::new(false),
            latencies: (0..total).map(|_| AtomicU32::new(0)).collect(),
            started: Instant::now(),
            ended: Mutex::new(None),
        }
    }

    /// Records one finished item. Returns true when it was the last one.
    pub fn record(&self, index: usize, latency: Duration, ok: bool, tokens: u64, cost: Option<f64>) -> bool {
        if let Some(slot) = self.latencies.get(index) {
            let micros = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX).max(1);
            slot.store(micros, Ordering::Relaxed);
        }
        if ok {
            if tokens > 0 {
                self.tokens.fetch_add(tokens, Ordering::Relaxed);
            }
            if let Some(cost) = cost.filter(|c| c.is_finite()) {
                let _ = self
                    .cost_bits
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                        Some((f64::from_bits(bits) + cost).to_bits())
                    });
                self.cost_known.store(true, Ordering::Relaxed);
            }
        } else {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.done.fetch_add(1, Ordering::AcqRel) + 1 == self.total
    }

    /// Marks the batch as ended (idempotent); `elapsed` stops advancing.
    pub fn end(&self) {
        let mut ended = self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        if ended.is_none() {
            *ended = Some(self.started.elapsed());
        }
    }

    /// The current counters.
    pub fn snapshot(&self) -> Snapshot {
        let ended = *self.ended.lock().unwrap_or_else(PoisonError::into_inner);
        Snapshot {
            total: self.total,
            done: self.done.load(Ordering::Acquire),
            errors: self.errors.load(Ordering::Relaxed),
            tokens: self.tokens.load(Ordering::Relaxed),
            cost: self
                .cost_known
                .load(Ordering::Relaxed)
                .then(|| f64::from_bits(self.cost_bits.load(Ordering::Relaxed))),
            elapsed: ended.unwrap_or_else(|| self.started.elapsed()),
        }
    }

    /// Latency (seconds) at percentile `p` (0..=100, nearest rank) over the finished items;
    /// `None` before any item finished. Each item's latency covers its retries.
    pub fn latency_at_percentile(&self, p: f64) -> Option<f64> {
        let mut values: Vec<u32> = self
            .latencies
            .iter()
            .map(|l| l.load(Ordering::Relaxed))
            .filter(|&l| l > 0)
            .collect();
        if values.is_empty() {
            return None;
        }
        values.sort_unstable();
        let p = if p.is_finite() { p.clamp(0.0, 100.0) } else { 100.0 };
        let rank = usize::try_from(nearest_rank(p, values.len() as u64)).unwrap_or(values.len());
        let value = values[rank - 1];
        Some(f64::from(value) / 1e6)
    }
}

/// Where the display goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Bar,
    Log,
}

/// A running progress display for one batch. Dropping it finishes it.
#[derive(Debug)]
pub struct ProgressDisplay {
    inner: Arc<Display>,
}

#[derive(Debug)]
struct Display {
    label: String,
    stats: Arc<BatchStats>,
    mode: Mode,
    finished: AtomicBool,
    /// Serialises drawing so the final line is never followed by a stale tick.
    draw: Mutex<()>,
    stop: Notify,
}

impl ProgressDisplay {
    /// Starts displaying `stats` under `label`: a bar when stderr is a terminal, log lines
    /// otherwise. The ticker runs on the shared runtime.
    pub fn start(label: impl Into<String>, stats: Arc<BatchStats>) -> Self {
        let mode = if std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb") {
            Mode::Bar
        } else {
            Mode::Log
        };
        let tick = match mode {
            Mode::Bar => BAR_TICK,
            Mode::Log => std::env::var("LITER_LLM_PROGRESS_LOG_SECS")
                .ok()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|s| s.is_finite() && *s > 0.0)
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .unwrap_or(LOG_TICK),
        };
        let inner = Arc::new(Display {
            label: label.into(),
            stats,
            mode,
            finished: AtomicBool::new(false),
            draw: Mutex::new(()),
            stop: Notify::new(),
        });
        let ticker = Arc::clone(&inner);
        crate::runtime::get().spawn(async move {
            let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = interval.tick() => {
                        if !ticker.show(false) {
                            break;
                        }
                    }
                    () = ticker.stop.notified() => break,
                }
            }
        });
        if mode == Mode::Bar {
            inner.show(false);
        }
        ProgressDisplay { inner }
    }

    /// Draws the final line and stops the ticker. Idempotent.
    pub fn finish(&self) {
        self.inner.finish();
    }
}

impl Drop for ProgressDisplay {
    fn drop(&mut self) {
        self.inner.finish();
    }
}

impl Display {
    fn finish(&self) {
        if self.finished.swap(true, Ordering::AcqRel) {
            return;
        }
        self.stats.end();
        self.stop.notify_one();
        self.draw_now(true);
    }

    /// A periodic draw; returns false once the display is finished.
    fn show(&self, last: bool) -> bool {
        if self.finished.load(Ordering::Acquire) {
            return false;
        }
        self.draw_now(last);
        true
    }

    fn draw_now(&self, last: bool) {
        let _guard = self.draw.lock().unwrap_or_else(PoisonError::into_inner);
        if !last && self.finished.load(Ordering::Acquire) {
            return;
        }
        let snap = self.stats.snapshot();
        match self.mode {
            Mode::Bar => {
                let mut line = format!("\r\x1b[2K{}", bar_line(&self.label, &snap));
                if last {
                    line.push('\n');
                }
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(line.as_bytes());
                let _ = err.flush();
            }
            Mode::Log => {
                let word = if !last {
                    "progress"
                } else if snap.done >= snap.total {
                    "finished"
                } else {
                    "stopped"
                };
                log::info!(target: "liter_llm", "{} {word}: {}", self.label, summary_line(&snap));
            }
        }
    }
}

fn rate(snap: &Snapshot) -> f64 {
    let secs = snap.elapsed.as_secs_f64();
    #[allow(clippy::cast_precision_loss)]
    if secs > 0.0 {
        snap.done as f64 / secs
    } else {
        0.0
    }
}

/// `1234` -> `1.2k`, `2_500_000` -> `2.50M`.
fn compact(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let f = n as f64;
    if n >= 1_000_000_000 {
        format!("{:.2}G", f / 1e9)
    } else if n >= 1_000_000 {
        format!("{:.2}M", f / 1e6)
    } else if n >= 10_000 {
        format!("{:.0}k", f / 1e3)
    } else if n >= 1_000 {
        format!("{:.1}k", f / 1e3)
    } else {
        n.to_string()
    }
}

/// `h:mm:ss` or `m:ss`.
fn clock(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "?".to_owned();
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

fn cost_text(cost: f64) -> String {
    if cost < 0.01 {
        format!("${cost:.4}")
    } else {
        format!("${cost:.2}")
    }
}

/// The counters shared by both display forms.
fn details(snap: &Snapshot) -> String {
    let mut out = format!("{:.1} req/s | {} tok", rate(snap), compact(snap.tokens));
    if let Some(cost) = snap.cost {
        out.push_str(" | ");
        out.push_str(&cost_text(cost));
    }
    if snap.errors > 0 {
        out.push_str(&format!(" | {} err", snap.errors));
    }
    out
}

fn eta(snap: &Snapshot) -> String {
    let r = rate(snap);
    if snap.done >= snap.total {
        format!("in {}", clock(snap.elapsed.as_secs_f64()))
    } else if r > 0.0 {
        #[allow(clippy::cast_precision_loss)]
        let left = (snap.total - snap.done) as f64 / r;
        format!("ETA {}", clock(left))
    } else {
        "ETA ?".to_owned()
    }
}

/// The terminal bar: `label [#####.....] 50/100  50% | 12.0 req/s | 1.2k tok | 1 err | ETA 0:04`.
fn bar_line(label: &str, snap: &Snapshot) -> String {
    let fraction = if snap.total == 0 {
        1.0
    } else {
        #[allow(clippy::cast_precision_loss)]
        let f = snap.done as f64 / snap.total as f64;
        f.clamp(0.0, 1.0)
    };
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let filled = ((fraction * BAR_WIDTH as f64).floor() as usize).min(BAR_WIDTH);
    format!(
        "{label} [{}{}] {}/{} {:>3.0}% | {} | {}",
        "#".repeat(filled),
        ".".repeat(BAR_WIDTH - filled),
        snap.done,
        snap.total,
        fraction * 100.0,
        details(snap),
        eta(snap),
    )
}

/// The log form: `50/100 done (50%) | 12.0 req/s | 1.2k tok | ETA 0:04`.
fn summary_line(snap: &Snapshot) -> String {
    #[allow(clippy::cast_precision_loss)]
    let pct = if snap.total == 0 {
        100.0
    } else {
        snap.done as f64 * 100.0 / snap.total as f64
    };
    format!(
        "{}/{} done ({pct:.0}%) | {} | {}",
        snap.done,
        snap.total,
        details(snap),
        eta(snap)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_counts_tokens_cost_and_latency() {
        let stats = BatchStats::new(4);
        assert!(!stats.record(0, Duration::from_millis(10), true, 5, None));
        assert_eq!(stats.snapshot().cost, None);
        assert!(!stats.record(1, Duration::from_millis(30), true, 7, Some(0.5)));
        assert!(!stats.record(2, Duration::from_millis(20), false, 100, Some(9.0)));
        assert!(stats.record(3, Duration::from_millis(40), true, 1, Some(0.25)));
        let snap = stats.snapshot();
        assert_eq!((snap.done, snap.errors, snap.tokens), (4, 1, 13));
        assert_eq!(snap.cost, Some(0.75));
        assert_eq!(stats.latency_at_percentile(50.0), Some(0.02));
        assert_eq!(stats.latency_at_percentile(100.0), Some(0.04));
        assert_eq!(stats.latency_at_percentile(0.0), Some(0.01));
        assert_eq!(BatchStats::new(3).latency_at_percentile(50.0), None);
    }

    #[test]
    fn lines_read_well() {
        let snap = Snapshot {
            total: 200,
            done: 50,
            errors: 2,
            tokens: 12_345,
            cost: Some(0.004),
            elapsed: Duration::from_secs(5),
        };
        let bar = bar_line("batch", &snap);
        assert_eq!(
            bar,
            "batch [#####...............] 50/200  25% | 10.0 req/s | 12k tok | $0.0040 | 2 err | ETA 0:15"
        );
        let done = Snapshot {
            done: 200,
            cost: None,
            errors: 0,
            ..snap
        };
        assert_eq!(
            summary_line(&done),
            "200/200 done (100%) | 40.0 req/s | 12k tok | in 0:05"
        );
        assert_eq!(compact(999), "999");
        assert_eq!(compact(1_500), "1.5k");
        assert_eq!(compact(2_500_000), "2.50M");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
