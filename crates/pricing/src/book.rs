//! The compiled price book: catalog + rules + overrides, resolved per model once, so that a
//! cost is one hash lookup and a handful of exact decimal multiplications.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
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
    fast: Option<FastRates>,
    label: String,
}

/// The two rates an estimate reads, as integer mantissas at one shared decimal scale, so an
/// estimate is two integer multiply-adds instead of `Decimal` multiplications (which rescale on
/// every operation and dominated a 200-model routing decision). `None` when a rate does not fit
/// (scale above 28 or a mantissa beyond 96 bits), in which case the `Decimal` path is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FastRates {
    scale: u32,
    input: i128,
    /// The dearer of the output and reasoning rates: the estimate's worst case.
    output: i128,
}

impl FastRates {
    fn of(r: &Rates) -> Option<FastRates> {
        let out = r.output.max(r.reasoning).0;
        let inp = r.input.0;
        let scale = inp.scale().max(out.scale());
        let at = |d: Decimal| -> Option<i128> {
            d.mantissa()
                .checked_mul(10i128.checked_pow(scale - d.scale())?)
        };
        Some(FastRates {
            scale,
            input: at(inp)?,
            output: at(out)?,
        })
    }

    /// `input * prompt + output * completion` exactly, at `self.scale`; `None` on overflow of
    /// what a `Decimal` can hold.
    fn estimate(&self, prompt_tokens: u64, output_tokens: u64) -> Option<Decimal> {
        let raw = self
            .input
            .checked_mul(i128::from(prompt_tokens))?
            .checked_add(self.output.checked_mul(i128::from(output_tokens))?)?;
        Decimal::try_from_i128_with_scale(raw, self.scale).ok()
    }
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
    fast: Option<FastRates>,
    /// Ascending by threshold; the highest one the prompt exceeds wins.
    tiers: Vec<Tier>,
    windows: Vec<WindowRule>,
    batch: Option<Discount>,
    flex: Option<Discount>,
    overridden: bool,
}

#[derive(Debug, Default)]
struct Inner {
    models: Vec<Compiled>,
    /// FxHash: ids are our own catalog's, not attacker-chosen keys, and SipHash's cost showed
    /// in a 200-model routing decision (one lookup per candidate).
    by_id: FxHashMap<String, u32>,
    as_of: String,
    /// Unique per compiled book (from 1), so a [`PriceSlot`] knows when its index is stale.
    generation: u64,
}

static GENERATIONS: AtomicU64 = AtomicU64::new(1);

/// A price id's position in the current book, remembered: a caller that prices the same
/// model on every request (routing) keeps one per model and skips the id lookup until the
/// book is replaced (a catalog refresh or reload compiles a new generation).
#[derive(Debug, Default)]
pub struct PriceSlot(AtomicU64);

/// The slot's index value for an id the book does not price.
const ABSENT: u32 = u32::MAX;

impl PriceSlot {
    fn index(&self, book: &PriceBook, id: &str) -> Option<usize> {
        let generation = book.inner.generation & 0xFFFF_FFFF;
        let v = self.0.load(Ordering::Relaxed);
        let idx = if v != 0 && v >> 32 == generation {
            (v & 0xFFFF_FFFF) as u32
        } else {
            let i = book.inner.by_id.get(id).copied().unwrap_or(ABSENT);
            self.0
                .store((generation << 32) | u64::from(i), Ordering::Relaxed);
            i
        };
        (idx != ABSENT).then_some(idx as usize)
    }

    /// [`PriceBook::estimate`] for `id`, through the remembered slot.
    pub fn estimate(
        &self,
        book: &PriceBook,
        id: &str,
        prompt_tokens: u64,
        max_output_tokens: u64,
        ctx: &PricingCtx,
    ) -> Option<Usd> {
        let c = &book.inner.models[self.index(book, id)?];
        Some(c.estimate(prompt_tokens, max_output_tokens, ctx))
    }
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
        let mut models = Vec::with_capacity(catalog.models.len());
        let mut by_id: FxHashMap<String, u32> =
            FxHashMap::with_capacity_and_hasher(catalog.models.len(), Default::default());
        for (i, entry) in catalog.models.iter().enumerate() {
            let Some(base) = Rates::from_prices(&entry.prices) else {
                errors.push(format!("models[{i}].prices: input and output are required"));
                continue;
            };
            let mut c = Compiled {
                entry: entry.clone(),
                base,
                fast: FastRates::of(&base),
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
                        fast: FastRates::of(&rates),
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
                        fast: FastRates::of(&base.scaled(t.multiplier)),
                        label: format!("tier:{} x{}", t.name, t.multiplier.normalize()),
                    }),
                    Rule::Batch(d) => c.batch = Some(discount("batch", d.multiplier, &d.name)),
                    Rule::Flex(d) => c.flex = Some(discount("flex", d.multiplier, &d.name)),
                }
            }
            c.tiers.sort_by_key(|t| t.above);
            match by_id.get(&entry.id) {
                // A repeated id: the later entry wins, as a map insert would.
                Some(&at) => models[at as usize] = c,
                None => {
                    by_id.insert(
                        entry.id.clone(),
                        u32::try_from(models.len()).unwrap_or(ABSENT),
                    );
                    models.push(c);
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(PriceBook {
            inner: Arc::new(Inner {
                models,
                by_id,
                as_of: catalog.as_of.clone(),
                generation: GENERATIONS.fetch_add(1, Ordering::Relaxed),
            }),
        })
    }

    /// The bundled catalog with its own rules and nothing else.
    pub fn bundled() -> Result<PriceBook, Vec<String>> {
        PriceBook::compile(&Catalog::bundled()?, &[])
    }

    pub fn entry(&self, id: &str) -> Option<&ModelEntry> {
        self.get(id).map(|c| &c.entry)
    }

    pub fn contains(&self, id: &str) -> bool {
        self.inner.by_id.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.inner.models.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inner.models.is_empty()
    }

    /// Every model id, unordered.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.inner.by_id.keys().map(String::as_str)
    }

    fn get(&self, id: &str) -> Option<&Compiled> {
        self.inner
            .by_id
            .get(id)
            .map(|&i| &self.inner.models[i as usize])
    }

    /// The catalog's `as_of` date.
    pub fn as_of(&self) -> &str {
        &self.inner.as_of
    }

    /// Effective per-token rates for a request with this many prompt tokens, every rule
    /// applied; `None` when the model has no known price. Routing compares these.
    pub fn rates(&self, id: &str, prompt_tokens: u64, ctx: &PricingCtx) -> Option<Rates> {
        let c = self.get(id)?;
        let (rates, m, _) = c.resolve(prompt_tokens, ctx, false);
        Some(rates.scaled(m))
    }

    /// What this usage costs on this model; `None` (never zero) when the price is unknown.
    pub fn cost(&self, id: &str, usage: &Usage, ctx: &PricingCtx) -> Option<CostBreakdown> {
        let c = self.get(id)?;
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
        Some(
            self.get(id)?
                .estimate(prompt_tokens, max_output_tokens, ctx),
        )
    }
}

fn discount(kind: &str, multiplier: Decimal, name: &str) -> Discount {
    Discount {
        multiplier,
        label: format!("{kind}:{name} x{}", multiplier.normalize()),
    }
}

impl Compiled {
    fn estimate(&self, prompt_tokens: u64, max_output_tokens: u64, ctx: &PricingCtx) -> Usd {
        let (fast, m) = self.fast_resolve(prompt_tokens, ctx);
        if let Some(raw) = fast.and_then(|f| f.estimate(prompt_tokens, max_output_tokens)) {
            return Usd(if m == Decimal::ONE { raw } else { raw * m });
        }
        let (r, m, _) = self.resolve(prompt_tokens, ctx, false);
        let out_rate = r.output.max(r.reasoning);
        let raw = r.input.0 * Decimal::from(prompt_tokens)
            + out_rate.0 * Decimal::from(max_output_tokens);
        Usd(raw * m)
    }

    /// The integer rates for this prompt size and the multiplier in force (as
    /// [`Compiled::resolve`], without labels or the rate tables).
    fn fast_resolve(&self, prompt_tokens: u64, ctx: &PricingCtx) -> (Option<FastRates>, Decimal) {
        let fast = match self.tiers.iter().rev().find(|t| prompt_tokens > t.above) {
            Some(t) => t.fast,
            None => self.fast,
        };
        (fast, self.multiplier(ctx))
    }

    fn multiplier(&self, ctx: &PricingCtx) -> Decimal {
        let mut m = Decimal::ONE;
        for w in self.windows.iter().filter(|w| w.contains(ctx.at)) {
            m *= w.multiplier;
        }
        if let Some(d) = self.service(ctx) {
            m *= d.multiplier;
        }
        m
    }

    /// A request is either batch or flex; batch is the deeper commitment, so it wins.
    fn service(&self, ctx: &PricingCtx) -> Option<&Discount> {
        if ctx.batch {
            self.batch.as_ref()
        } else if ctx.flex {
            self.flex.as_ref()
        } else {
            None
        }
    }

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
        if let Some(d) = self.service(ctx) {
            m *= d.multiplier;
            if explain {
                applied.push(d.label.clone());
            }
        }
        (rates, m, applied)
    }
}
