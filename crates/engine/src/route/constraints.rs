//! The per-candidate checks. Each failing check is a typed [`Why`] (numbers, no strings), so
//! the hot loop allocates nothing per candidate; [`super::explain`] words them.
//!
//! Checks run cheapest first and the first failure is the reason given:
//! chat model -> capabilities -> context window -> quality for the task -> OpenRouter
//! `max_price` -> price ceiling -> latency budget -> key health.
//!
//! Decisions worth knowing:
//! - **Quality with no figure for the task**: a model's `quality` table is looked up by task,
//!   then by a `default` entry. A model with neither is excluded when a floor applies (a floor
//!   is a promise an unmeasured model cannot keep), unless *no* candidate has a figure for the
//!   task: then the floor cannot tell them apart and is not applied, and the plan says so.
//! - **Ceiling**: against the estimate of the whole request: prompt tokens at the effective
//!   input rate plus `max_tokens` (or [`super::request::ASSUMED_OUTPUT_TOKENS`] when unset) at
//!   the dearer of the output and reasoning rates, every price rule in force (time windows,
//!   context tiers, flex). A model with an unknown price is excluded under a ceiling, since
//!   its cost cannot be bounded.
//! - **Latency budget**: against the p95 the client would wait for (first token when
//!   streaming, whole answer otherwise; see [`crate::latency`]). A model with too few samples
//!   passes: there is no evidence it is slow.
//! - **Key health**: a model whose every key is dead or cooling down is excluded, unless that
//!   would leave nothing, in which case such models stay as a last resort (the attempt loop
//!   may still get through after the cool-down).

use std::time::Instant;

use rust_decimal::Decimal;
use switchyard_core::Usd;
use switchyard_pricing::PriceBook;

use super::{Decision, RouteCtx, Scored};
use crate::latency::{Figure, Series};
use crate::runtime::{Engine, ModelRt};

/// Why a candidate was left out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Why {
    /// An embedding model asked for chat.
    NotChat,
    MissingCapability(&'static str),
    ContextTooSmall {
        needed: u64,
        window: u32,
    },
    QualityBelow {
        quality: f64,
        min: f64,
    },
    NoQualityFigure {
        min: f64,
    },
    /// OpenRouter `provider.max_price`: an effective rate above the client's maximum.
    OverMaxPrice {
        class: &'static str,
        per_mtok: Decimal,
        max: Decimal,
    },
    OverCeiling {
        estimate: Usd,
        ceiling: Usd,
    },
    UnknownPriceUnderCeiling {
        ceiling: Usd,
    },
    TooSlow {
        p95_ms: f64,
        samples: usize,
        budget_ms: u64,
        first_token: bool,
    },
    /// Every key dead (`dead`) or cooling down.
    KeysUnavailable {
        dead: bool,
    },
    /// `provider.allow_fallbacks: false` keeps only the first candidate.
    FallbacksDisallowed,
}

impl Why {
    /// A stable machine-readable code for the explanation.
    pub fn code(&self) -> &'static str {
        match self {
            Why::NotChat => "not_chat",
            Why::MissingCapability(_) => "missing_capability",
            Why::ContextTooSmall { .. } => "context_too_small",
            Why::QualityBelow { .. } => "quality_below_minimum",
            Why::NoQualityFigure { .. } => "no_quality_figure",
            Why::OverMaxPrice { .. } => "over_max_price",
            Why::OverCeiling { .. } => "over_ceiling",
            Why::UnknownPriceUnderCeiling { .. } => "unknown_price_under_ceiling",
            Why::TooSlow { .. } => "too_slow",
            Why::KeysUnavailable { dead: false } => "cooling_down",
            Why::KeysUnavailable { dead: true } => "keys_dead",
            Why::FallbacksDisallowed => "fallbacks_disallowed",
        }
    }
}

/// A model's quality for `task`: the task's own figure, else its `default` entry.
pub fn quality_for(m: &ModelRt, task: Option<&str>) -> Option<f64> {
    task.and_then(|t| m.quality.get(t))
        .or_else(|| m.quality.get("default"))
        .copied()
}

/// [`quality_for`] by interned task id ([`Engine::task_ids`]); `None` = a task no model's
/// table names, which only a `default` entry can answer.
pub fn quality_at(m: &ModelRt, task: Option<usize>) -> Option<f64> {
    task.and_then(|t| m.quality_by_task.get(t).copied().flatten())
        .or(m.quality_default)
}

/// The estimated cost of the request on `m`, every rule in force at `ctx`.
pub fn estimate(
    book: &PriceBook,
    m: &ModelRt,
    prompt_tokens: u64,
    output_tokens: u64,
    ctx: &RouteCtx,
) -> Option<Usd> {
    m.price_slot.estimate(
        book,
        &m.price_id,
        prompt_tokens,
        output_tokens,
        &ctx.pricing,
    )
}

impl Engine {
    /// Fill `d.ranked` (in list order) and `d.excluded` from the resolved list.
    pub(crate) fn apply_constraints(
        &self,
        d: &mut Decision,
        list: &[(usize, usize, bool)],
        streamed: bool,
        ctx: &RouteCtx,
    ) {
        let book = self.shared.prices.current();
        let task = d
            .task
            .task
            .as_deref()
            .and_then(|t| self.task_ids.get(t).copied());
        let min_q = d.limits.min_quality.filter(|_| {
            let any = list
                .iter()
                .any(|&(i, _, _)| quality_at(&self.models[i], task).is_some());
            d.quality_unapplied = !any;
            any
        });
        let series = if streamed {
            Series::FirstToken
        } else {
            Series::Complete
        };
        let mut unavailable: Vec<(Scored, bool)> = Vec::new();
        for &(idx, position, fallback) in list {
            let m = &self.models[idx];
            let quality = quality_at(m, task);
            let check = self.check(m, d, min_q, quality, &book, series, ctx);
            match check {
                Err(why) => d.excluded.push((idx, why)),
                Ok(estimate) => {
                    let s = Scored {
                        idx,
                        estimate,
                        quality,
                        position,
                        fallback,
                    };
                    let (usable, _cooling, dead) = m.keys.status_at(&m.upstream, ctx.now);
                    if usable == 0 && !m.keys.is_empty() {
                        unavailable.push((s, dead == m.keys.len()));
                    } else {
                        d.ranked.push(s);
                    }
                }
            }
        }
        if d.ranked.is_empty() && !unavailable.is_empty() {
            d.cooling_kept = true;
            d.ranked.extend(unavailable.into_iter().map(|(s, _)| s));
        } else {
            d.excluded.extend(
                unavailable
                    .into_iter()
                    .map(|(s, dead)| (s.idx, Why::KeysUnavailable { dead })),
            );
        }
    }

    /// Every check on one model; the estimate when it passes.
    #[expect(
        clippy::too_many_arguments,
        reason = "one hot call site; a struct would only rename them"
    )]
    fn check(
        &self,
        m: &ModelRt,
        d: &Decision,
        min_q: Option<f64>,
        quality: Option<f64>,
        book: &PriceBook,
        series: Series,
        ctx: &RouteCtx,
    ) -> Result<Option<Usd>, Why> {
        let l = &d.limits;
        if m.embedding {
            return Err(Why::NotChat);
        }
        let missing = if l.needs.tools && !m.caps.tools {
            Some("tools")
        } else if l.needs.json_schema && !m.caps.json_schema {
            Some("json_schema")
        } else if l.needs.vision && !m.caps.vision {
            Some("vision")
        } else if l.needs.logprobs && !m.caps.logprobs {
            Some("logprobs")
        } else if l.needs.multiple_choices && !m.multiple_choices {
            Some("n>1")
        } else {
            None
        };
        if let Some(cap) = missing {
            return Err(Why::MissingCapability(cap));
        }
        let prompt_tokens = d.prompt_tokens_for(m);
        if let Some(window) = m.context_window {
            // The limits' figure uses the estimate; a model counted exactly is checked on its
            // own count plus the same explicit max_tokens.
            let needed = l.context_needed - d.prompt_tokens + prompt_tokens;
            if needed > u64::from(window) {
                return Err(Why::ContextTooSmall { needed, window });
            }
        }
        if let Some(min) = min_q {
            match quality {
                None => return Err(Why::NoQualityFigure { min }),
                Some(q) if q < min => return Err(Why::QualityBelow { quality: q, min }),
                Some(_) => {}
            }
        }
        if l.max_price_prompt.is_some() || l.max_price_completion.is_some() {
            if let Some(r) = book.rates(&m.price_id, prompt_tokens, &ctx.pricing) {
                let mtok = Decimal::from(1_000_000u32);
                let over = |class, rate: Usd, max: Option<Decimal>| {
                    let per_mtok = rate.0 * mtok;
                    max.filter(|mx| per_mtok > *mx)
                        .map(|max| Why::OverMaxPrice {
                            class,
                            per_mtok,
                            max,
                        })
                };
                if let Some(why) = over("prompt", r.input, l.max_price_prompt).or_else(|| {
                    over(
                        "completion",
                        r.output.max(r.reasoning),
                        l.max_price_completion,
                    )
                }) {
                    return Err(why);
                }
            }
        }
        let out = m
            .max_output
            .map_or(d.output_tokens, |mx| d.output_tokens.min(u64::from(mx)));
        let est = estimate(book, m, prompt_tokens, out, ctx);
        if let Some(ceiling) = l.max_cost {
            match est {
                None => return Err(Why::UnknownPriceUnderCeiling { ceiling }),
                Some(e) if e > ceiling => {
                    return Err(Why::OverCeiling {
                        estimate: e,
                        ceiling,
                    });
                }
                Some(_) => {}
            }
        }
        if let Some(budget_ms) = l.latency_budget_ms {
            if let Some(f) = m.latency.lower_bound(series, ctx.now) {
                if f.p95_ms > budget_ms as f64 {
                    return Err(Why::TooSlow {
                        p95_ms: f.p95_ms,
                        samples: f.samples,
                        budget_ms,
                        first_token: series == Series::FirstToken,
                    });
                }
            }
        }
        Ok(est)
    }
}

/// The p95 shown for a candidate in an explanation.
pub fn shown_latency(m: &ModelRt, streamed: bool, now: Instant) -> Option<Figure> {
    let series = if streamed {
        Series::FirstToken
    } else {
        Series::Complete
    };
    m.latency.figure(series, now)
}
