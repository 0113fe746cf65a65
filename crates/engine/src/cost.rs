//! Pricing seam: the cost of a usage on a model, and the bill of a whole request.
//! An unknown price is `None` (reported as null), never zero.

use std::sync::atomic::Ordering;

use switchyard_core::{AttemptCost, AttemptRecord, CostDetails, Usage, Usd};

use crate::runtime::{Engine, ModelRt};

/// The money side of one request, all attempts included.
#[derive(Debug, Clone, Default)]
pub struct Bill {
    /// None when any billed attempt had an unknown price.
    pub total: Option<Usd>,
    pub baseline: Option<Usd>,
}

impl Bill {
    pub fn saved(&self) -> Option<Usd> {
        Some(self.baseline? - self.total?)
    }

    /// `usage.cost_details` as the client sees it.
    pub fn details(&self, attempts: &[AttemptRecord]) -> CostDetails {
        CostDetails {
            attempts: attempts
                .iter()
                .map(|a| AttemptCost {
                    cost: a.cost.map(Usd::to_f64),
                    model: a.model.clone(),
                    outcome: a.outcome.clone(),
                })
                .collect(),
            baseline: self.baseline.map(Usd::to_f64),
            saved: self.saved().map(Usd::to_f64),
            ..CostDetails::default()
        }
    }
}

impl Engine {
    /// USD for `usage` on `model` now. None = price unknown, logged once per model (the
    /// request's null cost and `switchyard_unknown_cost_requests_total` say it per request).
    pub fn price(&self, model: &ModelRt, usage: &Usage) -> Option<Usd> {
        let cost = self.prices.cost(&model.price_id, usage);
        if cost.is_none() && !model.price_warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                model = %model.name,
                price_id = %model.price_id,
                "no price known for model {} (price id {}): its costs are reported as null, \
                 not $0; add it under [pricing.overrides] to price it",
                model.name,
                model.price_id,
            );
        }
        cost
    }

    /// Bill the request: the winning attempt's usage priced on its model (failed attempts are
    /// billed at what they cost, recorded on their attempt), and the baseline on the same usage.
    pub fn bill(
        &self,
        winner: &ModelRt,
        usage: Option<&Usage>,
        attempts: &mut [AttemptRecord],
        baseline: Option<usize>,
    ) -> Bill {
        let Some(usage) = usage else {
            return Bill::default();
        };
        let won = self.price(winner, usage);
        if let Some(last) = attempts.last_mut() {
            last.cost = won;
        }
        let total = attempts
            .iter()
            .try_fold(Usd::ZERO, |acc, a| Some(acc + a.cost?));
        let baseline = baseline.and_then(|b| self.price(&self.models[b], usage));
        Bill { total, baseline }
    }
}

/// A model's per-token prices as `GET /v1/models` lists them (OpenRouter's `pricing`). The
/// optional classes are set only where the catalog (or an override) names a rate of its own;
/// otherwise they bill at the input or output rate and are left out, as OpenRouter does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedPrices {
    pub prompt: Usd,
    pub completion: Usd,
    pub input_cache_read: Option<Usd>,
    pub input_cache_write: Option<Usd>,
    pub internal_reasoning: Option<Usd>,
}

impl Engine {
    /// What a request sent now pays per token on `model` (live book: catalog, overrides, and
    /// the rules in force at this moment; base tier, no batch or flex discount). None: the
    /// price is unknown.
    pub fn listed_prices(&self, model: &ModelRt) -> Option<ListedPrices> {
        let book = self.shared.prices.current();
        let listed = book.entry(&model.price_id)?.prices.clone();
        let r = book.rates(&model.price_id, 0, &switchyard_pricing::PricingCtx::now())?;
        Some(ListedPrices {
            prompt: r.input,
            completion: r.output,
            input_cache_read: listed.cached_input.map(|_| r.cached_input),
            input_cache_write: listed.cache_write.map(|_| r.cache_write),
            internal_reasoning: listed.reasoning.map(|_| r.reasoning),
        })
    }
}

/// Prices by catalog id. Filled from `switchyard-pricing`; a table-driven stand-in keeps the
/// engine testable without the catalog.
pub trait PriceSource: Send + Sync {
    fn cost(&self, price_id: &str, usage: &Usage) -> Option<Usd>;
    /// Worst-case cost before dispatch: prompt tokens at the input rate, max output at the output rate.
    fn estimate(&self, price_id: &str, prompt_tokens: u64, max_output_tokens: u64) -> Option<Usd>;
}

/// The live catalog (bundled, file or URL, refreshed on an interval) with the config's rules
/// and overrides; prices are taken at the moment of the call, so time windows apply.
pub struct LiveSource(pub std::sync::Arc<switchyard_pricing::LivePrices>);

impl PriceSource for LiveSource {
    fn cost(&self, price_id: &str, usage: &Usage) -> Option<Usd> {
        self.0
            .current()
            .cost(price_id, usage, &switchyard_pricing::PricingCtx::now())
            .map(|b| b.total)
    }
    fn estimate(&self, price_id: &str, prompt_tokens: u64, max_output_tokens: u64) -> Option<Usd> {
        self.0.current().estimate(
            price_id,
            prompt_tokens,
            max_output_tokens,
            &switchyard_pricing::PricingCtx::now(),
        )
    }
}

/// No prices known: every cost is null.
pub struct NoPrices;

impl PriceSource for NoPrices {
    fn cost(&self, _: &str, _: &Usage) -> Option<Usd> {
        None
    }
    fn estimate(&self, _: &str, _: u64, _: u64) -> Option<Usd> {
        None
    }
}

#[cfg(test)]
#[path = "cost_tests.rs"]
mod tests;
