//! Deployment health: a circuit breaker per deployment (provider + model + key). Lives in `Shared`, so it survives config reloads.
//!
//! Breaker algorithm:
//! - Every finished attempt is an outcome: `ok` (the upstream answered, including a 4xx the
//!   client caused) or `fail` (5xx, 529, connect error, reset, timeout, stream cut). Rate
//!   limits and bad keys are the key pool's business and count as neither.
//! - Outcomes are weighted by age: both tallies decay by half every `window`, so the error
//!   rate is over a sliding, decaying window without buckets.
//! - Closed -> open when the decayed count is at least `min_requests` and the error rate is at
//!   least `error_rate`. An open breaker admits nothing: the attempt loop skips the deployment
//!   without calling it.
//! - After `cooldown` the breaker is half-open and admits `probes` concurrent requests. A probe
//!   that succeeds closes the breaker (tallies reset); one that fails reopens it with the
//!   cooldown doubled, up to `max_cooldown`. A probe that never reports (cancelled request)
//!   gives its slot back when its permit is dropped.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use serde::Deserialize;
use switchyard_core::ErrorKind;

use crate::hedge::Policies;

/// `[breaker]` in the config.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    pub enabled: bool,
    /// Half-life of the outcome tallies.
    #[serde(with = "dur")]
    pub window: Duration,
    /// Decayed outcomes needed before the error rate can open the breaker.
    pub min_requests: f64,
    /// Error share (0..1) that opens the breaker.
    pub error_rate: f64,
    #[serde(with = "dur")]
    pub cooldown: Duration,
    #[serde(with = "dur")]
    pub max_cooldown: Duration,
    /// Concurrent probes admitted while half-open.
    pub probes: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            enabled: true,
            window: Duration::from_secs(30),
            min_requests: 10.0,
            error_rate: 0.5,
            cooldown: Duration::from_secs(10),
            max_cooldown: Duration::from_secs(300),
            probes: 1,
        }
    }
}

mod dur {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

/// Breaker state as the metric encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed = 0,
    HalfOpen = 1,
    Open = 2,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half_open",
            BreakerState::Open => "open",
        }
    }
}

/// What an attempt outcome means for the deployment's health.
pub fn health_outcome(kind: ErrorKind) -> Option<bool> {
    match kind {
        ErrorKind::Overloaded
        | ErrorKind::Upstream
        | ErrorKind::Connect
        | ErrorKind::Timeout
        | ErrorKind::StreamInterrupted
        | ErrorKind::Decode => Some(false),
        ErrorKind::RateLimited | ErrorKind::Auth | ErrorKind::QuotaExhausted => None,
        // Refused by the adapter before any upstream call: says nothing about the deployment.
        ErrorKind::Unsupported => None,
        // The upstream answered; the request was the problem.
        ErrorKind::InvalidRequest
        | ErrorKind::ContextLengthExceeded
        | ErrorKind::ContentFiltered => Some(true),
    }
}

#[derive(Debug)]
struct Tally {
    ok: f64,
    fail: f64,
    at: Instant,
    state: BreakerState,
    opened_at: Instant,
    cooldown: Duration,
    probes: u32,
}

#[derive(Debug)]
pub struct Breaker {
    t: Mutex<Tally>,
}

/// Admission to call a deployment. Report the outcome with `ok`/`fail`; dropping it unreported
/// (cancelled attempt, neutral error) frees a probe slot without changing the state.
pub struct Permit {
    breaker: Option<Arc<Breaker>>,
    probe: bool,
}

impl Permit {
    /// A permit that tracks nothing (breakers disabled).
    pub fn none() -> Permit {
        Permit {
            breaker: None,
            probe: false,
        }
    }

    pub fn report(mut self, healthy: Option<bool>, cfg: &BreakerConfig) {
        if let Some(b) = self.breaker.take() {
            match healthy {
                Some(ok) => b.record(ok, self.probe, cfg),
                None => b.release(self.probe),
            }
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(b) = self.breaker.take() {
            b.release(self.probe);
        }
    }
}

impl Breaker {
    fn new(now: Instant, cfg: &BreakerConfig) -> Breaker {
        Breaker {
            t: Mutex::new(Tally {
                ok: 0.0,
                fail: 0.0,
                at: now,
                state: BreakerState::Closed,
                opened_at: now,
                cooldown: cfg.cooldown,
                probes: 0,
            }),
        }
    }

    /// `Some(probe)` if a call may go ahead; `None` while open (or half-open and probing).
    fn admit(&self, cfg: &BreakerConfig) -> Option<bool> {
        let mut t = self.t.lock();
        match t.state {
            BreakerState::Closed => Some(false),
            BreakerState::Open => {
                if t.opened_at.elapsed() >= t.cooldown {
                    t.state = BreakerState::HalfOpen;
                    t.probes = 1;
                    Some(true)
                } else {
                    None
                }
            }
            BreakerState::HalfOpen => {
                if t.probes < cfg.probes.max(1) {
                    t.probes += 1;
                    Some(true)
                } else {
                    None
                }
            }
        }
    }

    fn release(&self, probe: bool) {
        if probe {
            let mut t = self.t.lock();
            t.probes = t.probes.saturating_sub(1);
        }
    }

    fn record(&self, ok: bool, probe: bool, cfg: &BreakerConfig) {
        let mut t = self.t.lock();
        let now = Instant::now();
        let half_lives =
            now.duration_since(t.at).as_secs_f64() / cfg.window.as_secs_f64().max(1e-3);
        let decay = 0.5f64.powf(half_lives);
        t.ok *= decay;
        t.fail *= decay;
        t.at = now;
        if ok {
            t.ok += 1.0;
        } else {
            t.fail += 1.0;
        }
        if probe {
            t.probes = t.probes.saturating_sub(1);
        }
        match (t.state, ok) {
            (BreakerState::HalfOpen, true) if probe => {
                t.state = BreakerState::Closed;
                t.ok = 0.0;
                t.fail = 0.0;
                t.cooldown = cfg.cooldown;
                tracing::info!("circuit breaker closed after a successful probe");
            }
            (BreakerState::HalfOpen, false) if probe => {
                t.state = BreakerState::Open;
                t.opened_at = now;
                t.cooldown = (t.cooldown * 2).min(cfg.max_cooldown.max(cfg.cooldown));
            }
            (BreakerState::Closed, false) => {
                let n = t.ok + t.fail;
                if n >= cfg.min_requests && t.fail / n >= cfg.error_rate {
                    t.state = BreakerState::Open;
                    t.opened_at = now;
                    t.cooldown = cfg.cooldown;
                    tracing::warn!(
                        error_rate = t.fail / n,
                        "circuit breaker opened: deployment removed from routing"
                    );
                }
            }
            _ => {}
        }
    }

    pub fn state(&self) -> BreakerState {
        let t = self.t.lock();
        match t.state {
            BreakerState::Open if t.opened_at.elapsed() >= t.cooldown => BreakerState::HalfOpen,
            s => s,
        }
    }

    /// While open: how long until a probe will be admitted.
    pub fn reopens_in(&self) -> Option<Duration> {
        let t = self.t.lock();
        (t.state == BreakerState::Open).then(|| t.cooldown.saturating_sub(t.opened_at.elapsed()))
    }
}

/// Breakers and the current reliability policies, shared across config
/// generations (the policies are replaced by each successful build).
#[derive(Default)]
pub struct Health {
    cfg: RwLock<BreakerConfig>,
    policies: RwLock<Arc<Policies>>,
    breakers: RwLock<HashMap<String, Arc<Breaker>>>,
}

impl Health {
    pub fn configure(&self, cfg: BreakerConfig) {
        *self.cfg.write() = cfg;
    }

    /// Install a config generation's policies (breaker settings included).
    pub fn set_policies(&self, p: Policies) {
        self.configure(p.breaker);
        *self.policies.write() = Arc::new(p);
    }

    pub fn policies(&self) -> Arc<Policies> {
        self.policies.read().clone()
    }

    pub fn config(&self) -> BreakerConfig {
        *self.cfg.read()
    }

    fn breaker(&self, id: &str) -> Arc<Breaker> {
        if let Some(b) = self.breakers.read().get(id) {
            return b.clone();
        }
        let cfg = *self.cfg.read();
        self.breakers
            .write()
            .entry(id.to_owned())
            .or_insert_with(|| Arc::new(Breaker::new(Instant::now(), &cfg)))
            .clone()
    }

    /// Ask to call deployment `id`. `None` = its breaker is open: skip it.
    pub fn admit(&self, id: &str) -> Option<Permit> {
        let cfg = *self.cfg.read();
        if !cfg.enabled {
            return Some(Permit::none());
        }
        let b = self.breaker(id);
        let probe = b.admit(&cfg)?;
        Some(Permit {
            breaker: Some(b),
            probe,
        })
    }

    pub fn report(&self, permit: Permit, healthy: Option<bool>) {
        let cfg = *self.cfg.read();
        permit.report(healthy, &cfg);
    }

    /// Record a failure found after the attempt was already reported a success (a stream cut
    /// after its first byte).
    pub fn report_late_failure(&self, id: &str) {
        let cfg = *self.cfg.read();
        if cfg.enabled {
            self.breaker(id).record(false, false, &cfg);
        }
    }

    pub fn state(&self, id: &str) -> BreakerState {
        self.breakers
            .read()
            .get(id)
            .map_or(BreakerState::Closed, |b| b.state())
    }

    pub fn reopens_in(&self, id: &str) -> Option<Duration> {
        self.breakers.read().get(id).and_then(|b| b.reopens_in())
    }

    /// Every deployment seen so far with its state (0 closed, 1 half-open, 2 open).
    pub fn states(&self) -> Vec<(String, u8)> {
        let mut v: Vec<(String, u8)> = self
            .breakers
            .read()
            .iter()
            .map(|(k, b)| (k.clone(), b.state() as u8))
            .collect();
        v.sort();
        v
    }
}

impl crate::runtime::Engine {
    /// Every deployment's breaker state (0 closed, 1 half-open, 2 open), for metrics
    /// (`Metrics::set_breaker_state`); deployments never called are closed and not listed.
    pub fn breaker_states(&self) -> Vec<(String, u8)> {
        self.shared.health.states()
    }

    /// One model's breakers for `GET /v1/models`: `{"state": closed|half_open|open|mixed,
    /// "deployments": {id: state}}`. The model is routable while any deployment is not open.
    pub fn breaker_view(&self, idx: usize) -> serde_json::Value {
        let m = &self.models[idx];
        let ids: Vec<String> = if m.keys.is_empty() {
            vec![deployment_id(&m.provider_name, &m.name, None)]
        } else {
            (0..m.keys.len())
                .map(|k| deployment_id(&m.provider_name, &m.name, Some(k)))
                .collect()
        };
        let states: Vec<(String, BreakerState)> = ids
            .into_iter()
            .map(|id| {
                let s = self.shared.health.state(&id);
                (id, s)
            })
            .collect();
        let first = states.first().map_or(BreakerState::Closed, |(_, s)| *s);
        let overall = if states.iter().all(|(_, s)| *s == first) {
            first.as_str()
        } else {
            "mixed"
        };
        let map: serde_json::Map<String, serde_json::Value> = states
            .into_iter()
            .map(|(id, s)| (id, serde_json::Value::from(s.as_str())))
            .collect();
        serde_json::json!({"state": overall, "deployments": map})
    }
}

/// The deployment id of a model reached with one key of its pool.
pub fn deployment_id(provider: &str, model: &str, key: Option<usize>) -> String {
    match key {
        Some(k) => format!("{provider}:{model}:key{k}"),
        None => format!("{provider}:{model}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            enabled: true,
            window: Duration::from_secs(60),
            // Tallies decay between events, so 4 quick outcomes count as slightly under 4.
            min_requests: 3.5,
            error_rate: 0.5,
            cooldown: Duration::from_millis(50),
            max_cooldown: Duration::from_millis(400),
            probes: 1,
        }
    }

    #[test]
    fn opens_after_min_requests_probes_and_closes() {
        let h = Health::default();
        h.configure(cfg());
        for _ in 0..3 {
            let p = h.admit("d").unwrap();
            h.report(p, Some(false));
        }
        // 3 failures < 3.5: still closed.
        assert_eq!(h.state("d"), BreakerState::Closed);
        let p = h.admit("d").unwrap();
        h.report(p, Some(false));
        assert_eq!(h.state("d"), BreakerState::Open);
        assert!(h.admit("d").is_none(), "open breaker admits nothing");
        std::thread::sleep(Duration::from_millis(60));
        let probe = h.admit("d").expect("half-open admits a probe");
        assert!(h.admit("d").is_none(), "only one probe at a time");
        // A failed probe reopens with a longer cooldown.
        h.report(probe, Some(false));
        assert_eq!(h.state("d"), BreakerState::Open);
        std::thread::sleep(Duration::from_millis(60));
        assert!(h.admit("d").is_none(), "cooldown doubled to 100 ms");
        std::thread::sleep(Duration::from_millis(50));
        let probe = h.admit("d").unwrap();
        h.report(probe, Some(true));
        assert_eq!(h.state("d"), BreakerState::Closed);
        assert!(h.admit("d").is_some());
    }

    #[test]
    fn low_error_rate_and_neutral_outcomes_keep_it_closed() {
        let h = Health::default();
        h.configure(cfg());
        for i in 0..40 {
            let p = h.admit("d").unwrap();
            h.report(p, Some(i % 3 != 0)); // 33% errors < 50%
            let p = h.admit("d").unwrap();
            h.report(p, None); // 429s do not count
        }
        assert_eq!(h.state("d"), BreakerState::Closed);
    }

    #[test]
    fn a_dropped_probe_frees_its_slot() {
        let h = Health::default();
        h.configure(BreakerConfig {
            cooldown: Duration::ZERO,
            ..cfg()
        });
        for _ in 0..4 {
            let p = h.admit("d").unwrap();
            h.report(p, Some(false));
        }
        let probe = h.admit("d").unwrap();
        assert!(h.admit("d").is_none());
        drop(probe);
        assert!(h.admit("d").is_some());
    }

    #[test]
    fn old_failures_decay() {
        let h = Health::default();
        h.configure(BreakerConfig {
            window: Duration::from_millis(10),
            ..cfg()
        });
        for _ in 0..3 {
            let p = h.admit("d").unwrap();
            h.report(p, Some(false));
        }
        std::thread::sleep(Duration::from_millis(60)); // 6 half-lives: ~0.05 left
        let p = h.admit("d").unwrap();
        h.report(p, Some(false));
        assert_eq!(h.state("d"), BreakerState::Closed);
    }
}
