//! The compiled price book: catalog + rules + overrides, resolved per model once, so that a
//! cost is one hash lookup and a handful of exact decimal multiplications.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use switchyard_core::{Usage, Usd};

use crate::catalog::{Catalog, ModelEntry, Prices};
use crate::rules::{Rule, WindowRule};

/// When and how a request is (or would be) sent; decides which rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PricingCtx {
    pub at: DateTime<Utc>,
    /// Sent through the provider's batch API.
    pub batch: bool,
    /// Sent with `service_tier: flex`.
    pub flex: bool,
}

impl PricingCtx {
    pub fn at(at: DateTime<Utc>) -> Self {
        PricingCtx {
            at,
            batch: false,
            flex: false,
        }
    }

    pub fn now() -> Self {
        PricingCtx::at(Utc::now())
    }
}

/// USD per token for each class, fallbacks resolved: cached input and cache writes bill at the
/// input rate when the model has no own rate, reasoning at the output rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Rates {
    pub input: Usd,
    pub cached_input: Usd,
    pub cache_write: Usd,
    pub output: Usd,
    pub reasoning: Usd,
}

impl Rates {
    fn from_prices(p: &Prices) -> Option<Rates> {
        let per = |d: Decimal| Usd::per_mtok_to_per_token(d);
        let input = per(p.input?);
        let output = per(p.output?);
        Some(Rates {
            input,
            cached_input: p.cached_input.map_or(input, per),
            cache_write: p.cache_write.map_or(input, per),
            output,
            reasoning: p.reasoning.map_or(output, per),
        })
    }

    fn scaled(&self, m: Decimal) -> Rates {
        let s = |u: Usd| Usd(u.0 * m);
        Rates {
            input: s(self.input),
            cached_input: s(self.cached_input),
            cache_write: s(self.cache_write),
            output: s(self.output),
            reasoning: s(self.reasoning),
        }
    }
}

/// The cost of one request, per token class, with the rules that shaped it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostBreakdown {
    pub input: Usd,
    pub cached_input: Usd,
    pub cache_write: Usd,
    /// Completion tokens that are not reasoning tokens.
    pub output: Usd,
    pub reasoning: Usd,
    pub total: Usd,
    pub tokens: ClassTokens,
    /// Human-readable rule labels, e.g. `tier>200000`, `window:deepseek-off-peak x0.5`.
    pub applied: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClassTokens {
    pub input: u64,
    pub cached_input: u64,
    pub cache_write: u64,
    pub output: u64,
    pub reasoning: u64,
}

impl ClassTokens {
    /// Split a usage into disjoint classes. Reasoning tokens are part of `completion_tokens`,
    /// so they are taken out of `output` here and billed exactly once.
    pub fn from_usage(u: &Usage) -> ClassTokens {
        let reasoning = u.reasoning_tokens().min(u.completion_tokens);
        ClassTokens {
            input: u.uncached_input_tokens(),
            cached_input: u.cached_tokens(),
            cache_write: u.cache_write_tokens(),
            output: u.completion_tokens - reasoning,
            reasoning,
        }
    }
}

#[derive(Debug)]
struct Tier {
    above: u64,
    rates: Rates,
    label: String,
}

#[derive(Debug)]
struct Discount {
    multiplier: Decimal,
    label: String,
}

#[derive(Debug)]
struct Compiled {
    entry: ModelEntry,
    base: Rates,
    /// Ascending by threshold; the highest one the prompt exceeds wins.
    tiers: Vec<Tier>,
    windows: Vec<WindowRule>,
    batch: Option<Discount>,
    flex: Option<Discount>,
    overridden: bool,
}

#[derive(Debug, Default)]
struct Inner {
    models: HashMap<String, Compiled>,
    as_of: String,
}

/// Catalog + rules, compiled. Cloning is an `Arc` bump; lookups are O(1) by id.
#[derive(Debug, Clone, Default)]
pub struct PriceBook {
    inner: Arc<Inner>,
}

impl PriceBook {
    /// Compile a catalog plus extra rules (applied after the catalog's own; for batch and flex
    /// the last matching rule wins, windows all multiply). Entries must already be validated.
    pub fn compile(catalog: &Catalog, extra_rules: &[Rule]) -> Result<PriceBook, Vec<String>> {
        PriceBook::compile_marked(catalog, extra_rules, &HashSet::new())
    }

    /// As [`PriceBook::compile`]; models in `overridden` carry an `override` label in every
    /// cost explanation, so a config price is never mistaken for a list price.
    pub(crate) fn compile_marked(
        catalog: &Catalog,
        extra_rules: &[Rule],
        overridden: &HashSet<String>,
    ) -> Result<PriceBook, Vec<String>> {
        let mut errors = catalog.validate();
        for (i, r) in extra_rules.iter().enumerate() {
            r.check(&format!("rules[{i}]"), &mut errors);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let rules: Vec<&Rule> = catalog.rules.iter().chain(extra_rules).collect();
        let mut models = HashMap::with_capacity(catalog.models.len());
        for (i, entry) in catalog.models.iter().enumerate() {
            let Some(base) = Rates::from_prices(&entry.prices) else {
                errors.push(format!("models[{i}].prices: input and output are required"));
                continue;
            };
            let mut c = Compiled {
                entry: entry.clone(),
                base,
                tiers: Vec::new(),
                windows: Vec::new(),
                batch: None,
                flex: None,
                overridden: overridden.contains(&entry.id),
            };
            for t in &entry.tiers {
                let merged = entry.prices.merged(&t.prices);
                if let Some(rates) = Rates::from_prices(&merged) {
                    c.tiers.push(Tier {
                        above: t.above_input_tokens,
                        rates,
                        label: format!("tier>{}", t.above_input_tokens),
                    });
                }
            }
            for rule in rules.iter().filter(|r| r.applies_to(&entry.id)) {
                match rule {
                    Rule::Window(w) => c.windows.push(w.clone()),
                    Rule::Tier(t) => c.tiers.push(Tier {
                        above: t.above_input_tokens,
                        rates: base.scaled(t.multiplier),
                        label: format!("tier:{} x{}", t.name, t.multiplier.normalize()),
                    }),
                    Rule::Batch(d) => c.batch = Some(discount("batch", d.multiplier, &d.name)),
                    Rule::Flex(d) => c.flex = Some(discount("flex", d.multiplier, &d.name)),
                }
            }
            c.tiers.sort_by_key(|t| t.above);
            models.insert(entry.id.clone(), c);
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(PriceBook {
            inner: Arc::new(Inner {
                models,
                as_of: catalog.as_of.clone(),
            }),
        })
    }

    /// The bundled catalog with its own rules and nothing else.
    pub fn bundled() -> Result<PriceBook, Vec<String>> {
        PriceBook::compile(&Catalog::bundled()?, &[])
    }

    pub fn entry(&self, id: &str) -> Option<&ModelEntry> {
        self.inner.models.get(id).map(|c| &c.entry)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.inner.models.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.inner.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.models.is_empty()
    }

    /// Every model id, unordered.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.inner.models.keys().map(String::as_str)
    }

    /// The catalog's `as_of` date.
    pub fn as_of(&self) -> &str {
        &self.inner.as_of
    }

    /// Effective per-token rates for a request with this many prompt tokens, every rule
    /// applied; `None` when the model has no known price. Routing compares these.
    pub fn rates(&self, id: &str, prompt_tokens: u64, ctx: &PricingCtx) -> Option<Rates> {
        let c = self.inner.models.get(id)?;
        let (rates, m, _) = c.resolve(prompt_tokens, ctx, false);
        Some(rates.scaled(m))
    }

    /// What this usage costs on this model; `None` (never zero) when the price is unknown.
    pub fn cost(&self, id: &str, usage: &Usage, ctx: &PricingCtx) -> Option<CostBreakdown> {
        let c = self.inner.models.get(id)?;
        let (rates, m, applied) = c.resolve(usage.prompt_tokens, ctx, true);
        let t = ClassTokens::from_usage(usage);
        let bill = |rate: Usd, n: u64| Usd(rate.0 * Decimal::from(n) * m);
        let input = bill(rates.input, t.input);
        let cached_input = bill(rates.cached_input, t.cached_input);
        let cache_write = bill(rates.cache_write, t.cache_write);
        let output = bill(rates.output, t.output);
        let reasoning = bill(rates.reasoning, t.reasoning);
        Some(CostBreakdown {
            input,
            cached_input,
            cache_write,
            output,
            reasoning,
            total: input + cached_input + cache_write + output + reasoning,
            tokens: t,
            applied,
        })
    }

    /// Worst case before dispatch: every prompt token uncached at the input rate and every
    /// allowed output token at the dearer of the output and reasoning rates.
    pub fn estimate(
        &self,
        id: &str,
        prompt_tokens: u64,
        max_output_tokens: u64,
        ctx: &PricingCtx,
    ) -> Option<Usd> {
        let c = self.inner.models.get(id)?;
        let (r, m, _) = c.resolve(prompt_tokens, ctx, false);
        let out_rate = r.output.max(r.reasoning);
        let raw = r.input.0 * Decimal::from(prompt_tokens)
            + out_rate.0 * Decimal::from(max_output_tokens);
        Some(Usd(raw * m))
    }
}

fn discount(kind: &str, multiplier: Decimal, name: &str) -> Discount {
    Discount {
        multiplier,
        label: format!("{kind}:{name} x{}", multiplier.normalize()),
    }
}

impl Compiled {
    /// Base or tier rates for this prompt size, and the product of every multiplier in force.
    fn resolve(
        &self,
        prompt_tokens: u64,
        ctx: &PricingCtx,
        explain: bool,
    ) -> (Rates, Decimal, Vec<String>) {
        let mut applied = Vec::new();
        if explain && self.overridden {
            applied.push("override".to_string());
        }
        let mut rates = self.base;
        if let Some(t) = self.tiers.iter().rev().find(|t| prompt_tokens > t.above) {
            rates = t.rates;
            if explain {
                applied.push(t.label.clone());
            }
        }
        let mut m = Decimal::ONE;
        for w in self.windows.iter().filter(|w| w.contains(ctx.at)) {
            m *= w.multiplier;
            if explain {
                applied.push(format!("window:{} x{}", w.name, w.multiplier.normalize()));
            }
        }
        // A request is either batch or flex; batch is the deeper commitment, so it wins.
        let service = if ctx.batch {
            self.batch.as_ref()
        } else if ctx.flex {
            self.flex.as_ref()
        } else {
            None
        };
        if let Some(d) = service {
            m *= d.multiplier;
            if explain {
                applied.push(d.label.clone());
            }
        }
        (rates, m, applied)
    }
}
