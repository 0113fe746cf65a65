//! The order of the candidates that passed every constraint.
//!
//! - `cheapest`: ascending estimated cost of the whole request (every price rule in force);
//!   unknown prices go last (never treated as free); ties keep the configured order.
//! - `ordered`: the configured order.
//! - `weighted`: a draw without replacement by weight, so failover also follows the weights.
//! - `latency`: ascending p95 time to first token (a JSON answer's p95 stands in while no
//!   stream was measured, being an upper bound). A model with too few samples is ranked at
//!   the median of the measured ones, neither starved nor favoured, and wins ties against
//!   better-measured models so it gets measured; all unmeasured = configured order.
//! - `cascade`: **the seam for the cascade module.** A cascade route resolves here to its
//!   tiers, cheap to strong; until the cascade executor takes plans whose strategy is
//!   `cascade` (see [`super::Plan::is_cascade`]), they run as `ordered` over the tiers.
//!
//! Then, in this order: OpenRouter `provider.sort` replaces the strategy's order (price,
//! latency, or throughput, for which the whole-answer p95 is the measure we have);
//! `provider.order` moves the named providers to the front, in that order; OpenRouter
//! `models: [...]` fallbacks stay after the route's own candidates; and
//! `provider.allow_fallbacks: false` keeps only the first.

use std::time::Instant;

use serde::Serialize;

use super::{Decision, RouteCtx, Scored, Why};
use crate::controls::Controls;
use crate::latency::Series;
use crate::runtime::{Engine, RouteRt, Strategy};

/// OpenRouter `provider.sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SortBy {
    Price,
    Latency,
    Throughput,
}

impl SortBy {
    pub fn parse(s: Option<&str>) -> Option<SortBy> {
        match s? {
            "price" => Some(SortBy::Price),
            "latency" => Some(SortBy::Latency),
            "throughput" => Some(SortBy::Throughput),
            _ => None,
        }
    }
}

/// An integer sort key for an estimate, in units of 1e-18 USD: comparing `Decimal`s of
/// different scales rescales both on every comparison, which dominated the sort. Unknown
/// costs sort after every known one. Truncation below 1e-18 USD cannot reorder real prices.
fn cost_key(estimate: Option<switchyard_core::Usd>) -> i128 {
    let Some(u) = estimate else {
        return i128::MAX;
    };
    let (m, scale) = (u.0.mantissa(), u.0.scale());
    if scale <= 18 {
        m.saturating_mul(10i128.pow(18 - scale))
    } else {
        m / 10i128.pow(scale - 18)
    }
}

impl Engine {
    pub(crate) fn order_candidates(
        &self,
        d: &mut Decision,
        route: Option<&RouteRt>,
        controls: &Controls,
        _streamed: bool,
        ctx: &RouteCtx,
    ) {
        let ranked = &mut d.ranked;
        match (d.sort, d.strategy) {
            (Some(SortBy::Price), _) | (None, Strategy::Cheapest) => {
                ranked.sort_by_cached_key(|s| cost_key(s.estimate));
            }
            (Some(SortBy::Latency), _) | (None, Strategy::Latency) => {
                self.sort_by_latency(ranked, Series::FirstToken, ctx.now);
            }
            (Some(SortBy::Throughput), _) => {
                self.sort_by_latency(ranked, Series::Complete, ctx.now);
            }
            (None, Strategy::Weighted) => weighted(ranked, route.map_or(&[], |r| &r.weights), ctx),
            // The list is already in configured order; for cascades, tiers cheap to strong.
            (None, Strategy::Ordered | Strategy::Cascade) => {}
        }
        // OpenRouter `models: [...]` are fallbacks: after the route's own, in their order.
        ranked.sort_by_key(|s| s.fallback);
        if !controls.provider_order.is_empty() {
            ranked.sort_by_key(|s| {
                let p = &self.models[s.idx].provider_name;
                controls
                    .provider_order
                    .iter()
                    .position(|x| x == p)
                    .unwrap_or(usize::MAX)
            });
        }
        if !controls.allow_fallbacks && ranked.len() > 1 {
            d.fallbacks_cut = ranked.len() - 1;
            for s in ranked.drain(1..) {
                d.excluded.push((s.idx, Why::FallbacksDisallowed));
            }
        }
    }

    fn sort_by_latency(&self, ranked: &mut [Scored], series: Series, now: Instant) {
        // (p95 or the prior, samples); fixed-size stack work, no allocation per candidate
        // beyond one vector of keys.
        let mut keys: Vec<(f64, usize, usize)> = ranked
            .iter()
            .map(|s| {
                let f = self.models[s.idx].latency.expected(series, now);
                (
                    f.map_or(f64::NAN, |f| f.p95_ms),
                    f.map_or(0, |f| f.samples),
                    s.position,
                )
            })
            .collect();
        let mut measured: Vec<f64> = keys.iter().map(|k| k.0).filter(|v| !v.is_nan()).collect();
        let prior = if measured.is_empty() {
            0.0
        } else {
            // The upper median: an unmeasured model is assumed no faster than a typical one.
            let mid = measured.len() / 2;
            *measured.select_nth_unstable_by(mid, f64::total_cmp).1
        };
        for k in &mut keys {
            if k.0.is_nan() {
                k.0 = prior;
            }
        }
        let mut order: Vec<usize> = (0..ranked.len()).collect();
        order.sort_by(|&a, &b| {
            let (ka, kb) = (keys[a], keys[b]);
            ka.0.total_cmp(&kb.0)
                .then(ka.1.cmp(&kb.1))
                .then(ka.2.cmp(&kb.2))
        });
        let sorted: Vec<Scored> = order.iter().map(|&i| ranked[i]).collect();
        ranked.copy_from_slice(&sorted);
    }
}

/// Weighted draw without replacement (Efraimidis-Spirakis: key = u^(1/w), largest first).
/// A candidate without a weight (an OpenRouter fallback) or with weight 0 goes last.
fn weighted(ranked: &mut [Scored], weights: &[f64], ctx: &RouteCtx) {
    let mut rng = ctx
        .seed
        .map_or_else(fastrand::Rng::new, fastrand::Rng::with_seed);
    let mut keyed: Vec<(f64, Scored)> = ranked
        .iter()
        .map(|s| {
            let w = if s.fallback {
                0.0
            } else {
                weights.get(s.position).copied().unwrap_or(1.0)
            };
            let key = if w > 0.0 {
                rng.f64().powf(1.0 / w)
            } else {
                -1.0
            };
            (key, *s)
        })
        .collect();
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (slot, (_, s)) in ranked.iter_mut().zip(keyed) {
        *slot = s;
    }
}

#[cfg(test)]
mod tests {
    use super::cost_key;
    use switchyard_core::Usd;

    #[test]
    fn cost_keys_order_like_the_decimals() {
        let k = |s: &str| cost_key(Usd::from_str_exact(s));
        assert!(k("0.000207") < k("0.0002070000001"));
        assert_eq!(k("0.00041"), k("0.000410000"));
        assert!(k("12") > k("0.5"));
        assert_eq!(cost_key(None), i128::MAX);
    }
}
