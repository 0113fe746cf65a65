//! Live latency per model: the p95 of recent response times in a decaying window, so that the
//! `latency` strategy and latency budgets read what the upstream does now, not a constant.
//!
//! Two series per model, because a client that streams waits for the first token and a
//! client that does not waits for the whole answer:
//! - `first_token`: streamed requests, time from dispatch to the first content chunk (TTFT);
//! - `complete`: JSON requests, time from dispatch to the full answer.
//!
//! A sample counts for [`WINDOW`] (5 minutes) and at most the last [`CAPACITY`] are kept: old
//! evidence drops out by age, so a provider that recovers is trusted again within minutes.
//! The p95 is cached and recomputed only when a sample arrives or leaves the window, so a
//! routing decision reads it in a few nanoseconds per candidate. Lives in `Shared`, so the
//! figures survive a config reload.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

/// How long a sample counts.
pub const WINDOW: Duration = Duration::from_secs(300);
/// Samples kept per series (the most recent ones).
pub const CAPACITY: usize = 128;
/// Fewer samples than this and a series is "unmeasured": its p95 is not trusted for ranking
/// or for excluding a model (one slow request must not ban a model for five minutes).
pub const MIN_SAMPLES: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    FirstToken,
    Complete,
}

/// What routing reads about one series at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figure {
    pub p95_ms: f64,
    pub samples: usize,
}

#[derive(Debug, Default)]
struct Window {
    samples: VecDeque<(Instant, f32)>,
    /// p95 of `samples` and the instant the oldest of them leaves the window.
    cached: Option<(Figure, Instant)>,
}

impl Window {
    fn push(&mut self, at: Instant, ms: f32) {
        if self.samples.len() == CAPACITY {
            self.samples.pop_front();
        }
        self.samples.push_back((at, ms));
        self.cached = None;
    }

    fn figure(&mut self, now: Instant) -> Option<Figure> {
        if let Some((f, stale_at)) = self.cached {
            if now < stale_at {
                return Some(f);
            }
        }
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= WINDOW)
        {
            self.samples.pop_front();
        }
        let (oldest, _) = *self.samples.front()?;
        let mut buf = [0f32; CAPACITY];
        let n = self.samples.len();
        for (slot, (_, ms)) in buf.iter_mut().zip(&self.samples) {
            *slot = *ms;
        }
        let vals = &mut buf[..n];
        // Nearest rank: the smallest value with at least 95% of the samples at or below it.
        let rank = (n * 95).div_ceil(100).max(1) - 1;
        let (_, p95, _) = vals.select_nth_unstable_by(rank, f32::total_cmp);
        let f = Figure {
            p95_ms: f64::from(*p95),
            samples: n,
        };
        self.cached = Some((f, oldest + WINDOW));
        Some(f)
    }
}

/// Both series of one model.
#[derive(Debug, Default)]
pub struct ModelLatency {
    first_token: Mutex<Window>,
    complete: Mutex<Window>,
}

impl ModelLatency {
    pub fn record(&self, series: Series, took: Duration) {
        self.record_at(series, took, Instant::now());
    }

    /// As [`ModelLatency::record`], with the clock given (tests).
    pub fn record_at(&self, series: Series, took: Duration, at: Instant) {
        let ms = took.as_secs_f64() * 1000.0;
        #[expect(
            clippy::cast_possible_truncation,
            reason = "milliseconds fit f32 with room to spare"
        )]
        let ms = ms as f32;
        self.window(series).lock().push(at, ms);
    }

    /// The series' p95 at `now`; `None` when no sample is in the window.
    pub fn figure(&self, series: Series, now: Instant) -> Option<Figure> {
        self.window(series).lock().figure(now)
    }

    /// The p95 a client of this kind would wait for, if measured well enough: the series
    /// itself, else the other one when it still bounds the answer. A complete answer is an
    /// upper bound on the first token, so it may stand in for TTFT (pessimistic); TTFT is a
    /// lower bound on a complete answer, so it may stand in only to exclude (optimistic
    /// for ranking, so it is not used for that).
    pub fn expected(&self, series: Series, now: Instant) -> Option<Figure> {
        let trusted = |f: Option<Figure>| f.filter(|f| f.samples >= MIN_SAMPLES);
        match series {
            Series::FirstToken => trusted(self.figure(Series::FirstToken, now))
                .or_else(|| trusted(self.figure(Series::Complete, now))),
            Series::Complete => trusted(self.figure(Series::Complete, now)),
        }
    }

    /// A lower bound on what a client of this kind waits for (used to exclude a model that is
    /// too slow for a budget): the series' own p95, or for a complete answer the TTFT p95.
    pub fn lower_bound(&self, series: Series, now: Instant) -> Option<Figure> {
        let trusted = |f: Option<Figure>| f.filter(|f| f.samples >= MIN_SAMPLES);
        match series {
            Series::FirstToken => trusted(self.figure(Series::FirstToken, now)),
            Series::Complete => trusted(self.figure(Series::Complete, now))
                .or_else(|| trusted(self.figure(Series::FirstToken, now))),
        }
    }

    fn window(&self, series: Series) -> &Mutex<Window> {
        match series {
            Series::FirstToken => &self.first_token,
            Series::Complete => &self.complete,
        }
    }
}

/// Every model's latency, by model name; kept across reloads in `Shared`.
#[derive(Debug, Default)]
pub struct LatencyBook {
    models: Mutex<HashMap<String, Arc<ModelLatency>>>,
}

impl LatencyBook {
    /// The tracker of `model`, created on first use. Called at engine build, so the request
    /// path holds the `Arc` and never looks a name up.
    pub fn tracker(&self, model: &str) -> Arc<ModelLatency> {
        self.models
            .lock()
            .entry(model.to_owned())
            .or_default()
            .clone()
    }
}

impl crate::runtime::Engine {
    /// Feed the winning attempt's time (the last attempt) into its model's window. The
    /// attempt loop times a streamed attempt up to its first content chunk and a JSON attempt
    /// to the whole answer, hence the caller names the series.
    pub fn note_latency(
        &self,
        model: usize,
        attempts: &[switchyard_core::AttemptRecord],
        series: Series,
    ) {
        if let (Some(m), Some(a)) = (self.models.get(model), attempts.last()) {
            m.latency.record(
                series,
                Duration::from_secs_f64(a.latency_ms.max(0.0) / 1000.0),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn p95_is_nearest_rank() {
        let m = ModelLatency::default();
        let t0 = Instant::now();
        for i in 1..=100 {
            m.record_at(Series::FirstToken, ms(i), t0);
        }
        let f = m.figure(Series::FirstToken, t0).unwrap();
        assert_eq!(f.samples, 100);
        assert!((f.p95_ms - 95.0).abs() < 1e-3, "{f:?}");
    }

    #[test]
    fn samples_leave_the_window_and_capacity_keeps_the_newest() {
        let m = ModelLatency::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            m.record_at(Series::Complete, ms(900), t0);
        }
        assert!(m.figure(Series::Complete, t0).is_some());
        // Past the window the old evidence is gone.
        assert_eq!(m.figure(Series::Complete, t0 + WINDOW), None);
        // More than CAPACITY samples: only the newest count.
        for _ in 0..CAPACITY {
            m.record_at(Series::Complete, ms(900), t0);
        }
        for _ in 0..CAPACITY {
            m.record_at(Series::Complete, ms(100), t0 + ms(10));
        }
        let f = m.figure(Series::Complete, t0 + ms(10)).unwrap();
        assert_eq!(f.samples, CAPACITY);
        assert!((f.p95_ms - 100.0).abs() < 1e-3);
    }

    #[test]
    fn cached_figure_expires_with_its_oldest_sample() {
        let m = ModelLatency::default();
        let t0 = Instant::now();
        m.record_at(Series::FirstToken, ms(500), t0);
        m.record_at(Series::FirstToken, ms(50), t0 + ms(1000));
        assert!((m.figure(Series::FirstToken, t0).unwrap().p95_ms - 500.0).abs() < 1e-3);
        // The 500 ms sample leaves first; the cache must notice.
        let later = m.figure(Series::FirstToken, t0 + WINDOW).unwrap();
        assert_eq!(later.samples, 1);
        assert!((later.p95_ms - 50.0).abs() < 1e-3);
    }

    #[test]
    fn too_few_samples_are_not_trusted_and_series_stand_in_one_direction() {
        let m = ModelLatency::default();
        let t0 = Instant::now();
        m.record_at(Series::Complete, ms(800), t0);
        m.record_at(Series::Complete, ms(800), t0);
        assert_eq!(m.expected(Series::FirstToken, t0), None);
        m.record_at(Series::Complete, ms(800), t0);
        // A complete answer bounds the first token from above: usable for TTFT.
        assert_eq!(m.expected(Series::FirstToken, t0).unwrap().samples, 3);
        // TTFT alone never ranks complete answers, but bounds them from below.
        let n = ModelLatency::default();
        for _ in 0..3 {
            n.record_at(Series::FirstToken, ms(700), t0);
        }
        assert_eq!(n.expected(Series::Complete, t0), None);
        assert!((n.lower_bound(Series::Complete, t0).unwrap().p95_ms - 700.0).abs() < 1e-3);
    }
}
