//! Shared mutable state: request counters for `/sim/stats` and the active fault rules.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::config::{FaultRule, SimConfig};

/// FNV-1a: stable across runs and Rust versions (std's hasher is not promised to be).
pub fn fnv(bytes: &[u8]) -> u64 {
    fnv_extend(0xcbf2_9ce4_8422_2325, bytes)
}

pub fn fnv_extend(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// SplitMix64 finaliser: turns a counter-derived value into a well-mixed one.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Uniform in [0, 1) from 53 random bits.
pub fn unit(z: u64) -> f64 {
    (mix(z) >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Default)]
struct ModelStats {
    requests: u64,
    stream: u64,
    outcomes: BTreeMap<&'static str, u64>,
}

#[derive(Default)]
pub struct Stats {
    inner: Mutex<(u64, BTreeMap<String, ModelStats>)>,
    in_flight: AtomicI64,
}

impl Stats {
    /// Counts one request for `model` and its outcome label (`ok`, a status code, a fault kind).
    pub fn record(&self, model: &str, stream: bool, outcome: &'static str) {
        let mut g = self.inner.lock();
        g.0 += 1;
        let s = match g.1.get_mut(model) {
            Some(s) => s,
            None => g.1.entry(model.to_owned()).or_default(),
        };
        s.requests += 1;
        s.stream += u64::from(stream);
        *s.outcomes.entry(outcome).or_insert(0) += 1;
    }

    pub fn clear(&self) {
        let mut g = self.inner.lock();
        g.0 = 0;
        g.1.clear();
    }

    pub fn snapshot(&self) -> Value {
        let g = self.inner.lock();
        let models: serde_json::Map<String, Value> =
            g.1.iter()
                .map(|(k, s)| {
                    (
                        k.clone(),
                        json!({"requests": s.requests, "stream": s.stream, "outcomes": s.outcomes}),
                    )
                })
                .collect();
        json!({
            "total": g.0,
            "in_flight": self.in_flight.load(Ordering::Relaxed),
            "models": models,
        })
    }

    /// Held for as long as a request is being handled; dropped when hyper drops the handler
    /// (for example when a client gives up on a hanging request), so leaks show in `in_flight`.
    pub fn in_flight(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }
}

pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

struct ActiveRule {
    rule: FaultRule,
    /// Decisions taken so far; with the seed and the rule's slot it fixes the next decision, so
    /// a test sending the same sequence of requests sees the same faults.
    decisions: u64,
    slot: u64,
}

pub struct Faults {
    seed: u64,
    rules: Mutex<Vec<ActiveRule>>,
    next_slot: AtomicU64,
    initial: Vec<FaultRule>,
}

impl Faults {
    pub fn new(config: &SimConfig) -> Faults {
        let initial: Vec<FaultRule> = config
            .models
            .iter()
            .flat_map(|m| {
                m.faults.iter().map(|f| FaultRule {
                    model: if f.model == "*" {
                        m.name.clone()
                    } else {
                        f.model.clone()
                    },
                    ..f.clone()
                })
            })
            .collect();
        let faults = Faults {
            seed: config.seed,
            rules: Mutex::new(Vec::new()),
            next_slot: AtomicU64::new(0),
            initial,
        };
        faults.reset();
        faults
    }

    pub fn add(&self, rule: FaultRule) {
        let slot = self.next_slot.fetch_add(1, Ordering::Relaxed);
        self.rules.lock().push(ActiveRule {
            rule,
            decisions: 0,
            slot,
        });
    }

    pub fn clear(&self) {
        self.rules.lock().clear();
    }

    /// Back to the startup state: only the faults declared in the config file.
    pub fn reset(&self) {
        self.clear();
        self.next_slot.store(0, Ordering::Relaxed);
        for r in self.initial.clone() {
            self.add(r);
        }
    }

    pub fn list(&self) -> Value {
        let g = self.rules.lock();
        Value::Array(
            g.iter()
                .map(|r| serde_json::to_value(&r.rule).unwrap_or(Value::Null))
                .collect(),
        )
    }

    /// The first matching rule that fires for this request (made with `key`), if any.
    pub fn pick(&self, model: &str, key: Option<&str>) -> Option<FaultRule> {
        let mut g = self.rules.lock();
        for r in g.iter_mut() {
            if r.rule.model != "*" && r.rule.model != model {
                continue;
            }
            if r.rule.key.as_deref().is_some_and(|k| Some(k) != key) {
                continue;
            }
            let n = r.decisions;
            r.decisions += 1;
            let x = unit(self.seed ^ mix(r.slot.wrapping_add(1)) ^ n.wrapping_mul(0x2545_f491));
            if x < r.rule.rate {
                return Some(r.rule.clone());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FaultKind;

    fn rule(rate: f64) -> FaultRule {
        FaultRule {
            model: "*".into(),
            kind: FaultKind::RateLimit,
            rate,
            after_chunks: 0,
            retry_after_s: None,
            key: None,
        }
    }

    #[test]
    fn a_rule_with_a_key_matches_only_that_key() {
        let f = Faults::new(&SimConfig::default());
        f.add(FaultRule {
            key: Some("k1".into()),
            ..rule(1.0)
        });
        assert!(f.pick("m", Some("k2")).is_none());
        assert!(f.pick("m", None).is_none());
        assert!(f.pick("m", Some("k1")).is_some());
    }

    #[test]
    fn fault_rate_is_reproducible_and_close_to_the_rate() {
        let run = || {
            let f = Faults::new(&SimConfig::default());
            f.add(rule(0.3));
            (0..2000)
                .map(|_| f.pick("m", None).is_some())
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        let hits = a.iter().filter(|x| **x).count();
        assert!((500..700).contains(&hits), "{hits}");
    }

    #[test]
    fn rate_bounds_are_exact() {
        let f = Faults::new(&SimConfig::default());
        f.add(rule(0.0));
        assert!((0..100).all(|_| f.pick("m", None).is_none()));
        f.clear();
        f.add(rule(1.0));
        assert!((0..100).all(|_| f.pick("m", None).is_some()));
    }
}
