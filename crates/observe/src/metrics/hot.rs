//! The series one request touches, resolved once per label combination.
//!
//! A finished request updates about fifteen series across ten families. Looking each up in its
//! family hashed and compared its labels again every time (about 7k instructions per request
//! in the benchmark profile). Requests repeat a handful of combinations, so the handles for one
//! `(model, provider, route, task, status)` are kept together and found with one lookup.
//!
//! A series that only some requests touch (a token class, an unknown cost, TTFT) is created in
//! its family on first use, as before, so the scrape lists the same series it always did.

use std::hash::BuildHasher;
use std::sync::{Arc, OnceLock};

use parking_lot::RwLock;

use super::registry::{Counter, Family, FxBuild, Gauge, Histogram, Series};

/// Combinations kept; past this, handles are resolved per request (the old cost, still correct).
const MAX_COMBOS: usize = 4096;

/// Label values, in this order: model, provider, route, task, status.
pub(super) type HotKey<'a> = [&'a str; 5];

#[derive(Default)]
pub(super) struct HotSeries {
    pub requests: OnceLock<Arc<Counter>>,
    /// input, cached_input, cache_write, output, reasoning.
    pub tokens: [OnceLock<Arc<Counter>>; 5],
    pub cost: OnceLock<Arc<Counter>>,
    pub unknown_cost: OnceLock<Arc<Counter>>,
    pub baseline: OnceLock<Arc<Counter>>,
    pub saved: OnceLock<Arc<Gauge>>,
    pub latency: OnceLock<Arc<Histogram>>,
    pub ttft: OnceLock<Arc<Histogram>>,
    pub overhead: OnceLock<Arc<Histogram>>,
    pub fallbacks: OnceLock<Arc<Counter>>,
    pub retries: OnceLock<Arc<Counter>>,
}

/// The series of `family` under `labels`, resolved on first use.
pub(super) fn series<'s, V: super::registry::Value>(
    slot: &'s OnceLock<Arc<V>>,
    family: &Family<V>,
    labels: &[&str],
) -> &'s V {
    slot.get_or_init(|| family.with(labels))
}

#[derive(Default)]
pub(super) struct HotCache {
    combos: RwLock<Series<HotSeries>>,
    hasher: FxBuild,
}

impl HotCache {
    pub fn get(&self, key: &HotKey<'_>) -> Arc<HotSeries> {
        let hash = self.hasher.hash_one(&key[..]);
        if let Some(v) = self.combos.read().get(hash, key) {
            return v.clone();
        }
        let mut w = self.combos.write();
        if let Some(v) = w.get(hash, key) {
            return v.clone();
        }
        let v = Arc::new(HotSeries::default());
        if w.len() < MAX_COMBOS {
            w.insert(hash, key, v.clone());
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_combination_is_resolved_once() {
        let c = HotCache::default();
        let a = c.get(&["m", "p", "r", "t", "200"]);
        let b = c.get(&["m", "p", "r", "t", "200"]);
        assert!(Arc::ptr_eq(&a, &b));
        let other = c.get(&["m", "p", "r", "t", "500"]);
        assert!(!Arc::ptr_eq(&a, &other));
        // Labels are compared, not just hashed: a different split of the same text differs.
        let split = c.get(&["mp", "", "r", "t", "200"]);
        assert!(!Arc::ptr_eq(&a, &split));
    }
}
