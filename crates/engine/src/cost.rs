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
