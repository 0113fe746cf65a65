//! Routing: resolve the request's `model` (a concrete model, an alias or a route) to the
//! ordered candidates to try, with every model left out and why.
//!
//! The decision ([`Engine::decide`]) is pure and synchronous: it reads the config, the
//! compiled price book, the live latency windows and key health, never does I/O, and per
//! candidate only does lookups and a few decimal multiplications into preallocated vectors.
//! Rendering it for people ([`Engine::plan`], `POST /v1/route/explain`, `switchyard route`)
//! is a separate step that names models and words the reasons.
//!
//! - [`request`]: what the request needs (capabilities, prompt tokens), the clock and price context.
//! - [`resolve`]: names to candidate lists (routes, aliases, OpenRouter `models`).
//! - [`constraints`]: the per-candidate checks and their typed reasons.
//! - [`strategies`]: the order of the survivors (cheapest, ordered, weighted, latency, cascade).
//! - [`explain`]: the serialisable [`Plan`] and the short `x-switchyard-route` reason.

pub mod constraints;
pub mod explain;
pub mod request;
pub mod resolve;
pub mod strategies;
#[cfg(test)]
mod tests;

use rust_decimal::Decimal;
use serde::Serialize;
use switchyard_core::{ChatRequest, Usd};

pub use constraints::Why;
pub use explain::{CandidateView, Detail, ExclusionView, Plan};
pub use request::{Needs, RouteCtx, estimate_prompt_tokens};

use crate::controls::Controls;
use crate::error::GatewayError;
use crate::runtime::{Engine, Strategy};
use crate::task::TaskPick;

/// One candidate that passed every constraint, with what the strategy ranked it by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scored {
    /// Index into `Engine::models`.
    pub idx: usize,
    /// Estimated cost of the whole request on this model; `None` = price unknown.
    pub estimate: Option<Usd>,
    /// Quality for the request's task, when the model has a figure.
    pub quality: Option<f64>,
    /// Position in the route's own list (for weights and stable ties).
    pub position: usize,
    /// Came from OpenRouter's `models: [...]`: a fallback after the route's own candidates.
    pub fallback: bool,
}

/// The limits a decision applied, after merging the request's controls with the route's.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Limits {
    pub min_quality: Option<f64>,
    pub max_cost: Option<Usd>,
    pub latency_budget_ms: Option<u64>,
    /// OpenRouter `provider.max_price`, USD per million tokens.
    pub max_price_prompt: Option<Decimal>,
    pub max_price_completion: Option<Decimal>,
    pub needs: Needs,
    /// Prompt plus the request's `max_tokens`: what the context window must hold.
    pub context_needed: u64,
}

/// The routing decision in compact form: indexes and typed reasons, no names.
#[derive(Debug, Clone)]
pub struct Decision {
    pub route: String,
    pub strategy: Strategy,
    /// OpenRouter `provider.sort` when it replaced the strategy's order.
    pub sort: Option<strategies::SortBy>,
    pub task: TaskPick,
    /// Prompt tokens by the estimate (see [`crate::tokens`]).
    pub prompt_tokens: u64,
    /// Exact prompt tokens per [`crate::tokens::Encoding`] (by its index), for candidates of
    /// that family, when `[pricing] token_count = "exact"` and the encoding has loaded.
    pub exact_tokens: [Option<u64>; 2],
    /// Output tokens the estimates assume.
    pub output_tokens: u64,
    /// True when the request set no `max_tokens` and [`request::ASSUMED_OUTPUT_TOKENS`] was used.
    pub output_assumed: bool,
    pub limits: Limits,
    /// Survivors in the order they will be tried.
    pub ranked: Vec<Scored>,
    pub excluded: Vec<(usize, Why)>,
    pub baseline: Option<usize>,
    /// No candidate has a quality figure for the task, so the floor could not be applied.
    pub quality_unapplied: bool,
    /// Every survivor's keys were cooling down, so they were kept as a last resort.
    pub cooling_kept: bool,
    /// `provider.allow_fallbacks: false` cut the list to its first candidate.
    pub fallbacks_cut: usize,
}

impl Decision {
    pub fn order(&self) -> Vec<usize> {
        self.ranked.iter().map(|s| s.idx).collect()
    }

    /// The prompt tokens that apply to `m`: its family's exact count, else the estimate.
    pub fn prompt_tokens_for(&self, m: &crate::runtime::ModelRt) -> u64 {
        m.encoding
            .and_then(|e| self.exact_tokens[e.index()])
            .unwrap_or(self.prompt_tokens)
    }
}

/// Exact counts for the encodings `list`'s models use, where loaded (never waits for one).
fn exact_counts(
    engine: &Engine,
    list: &[(usize, usize, bool)],
    req: &ChatRequest,
) -> [Option<u64>; 2] {
    let mut out = [None; 2];
    for e in crate::tokens::Encoding::ALL {
        if list
            .iter()
            .any(|&(i, _, _)| engine.models[i].encoding == Some(e))
        {
            out[e.index()] = e.get().map(|bpe| crate::tokens::count_chat(bpe, req));
        }
    }
    out
}

impl Engine {
    /// The routing decision for `req`, now. See [`Engine::decide_with`].
    pub fn decide(&self, req: &ChatRequest, controls: &Controls) -> Result<Decision, GatewayError> {
        self.decide_with(req, controls, &RouteCtx::for_request(req))
    }

    /// The routing decision at a given clock, price context and seed. Errors only for names
    /// that resolve to nothing; a decision with no survivors is returned as such (the plan
    /// turns it into an error that lists every exclusion).
    pub fn decide_with(
        &self,
        req: &ChatRequest,
        controls: &Controls,
        ctx: &RouteCtx,
    ) -> Result<Decision, GatewayError> {
        let target = self.resolve_request(req)?;
        let route = target.route;
        let task = if target.direct && controls.min_quality.is_none() {
            // A concrete model with no floor: nothing depends on the task but the record.
            crate::task::named(controls)
        } else {
            crate::task::detect(req, controls)
        };
        let prompt_tokens = estimate_prompt_tokens(req);
        let explicit_out = req.max_output_tokens().map(u64::from);
        let limits = Limits {
            min_quality: controls.min_quality.or(route.and_then(|r| r.min_quality)),
            max_cost: controls.max_cost.or(route.and_then(|r| r.max_cost)),
            latency_budget_ms: controls
                .latency_budget
                .or(route.and_then(|r| r.latency_budget))
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            max_price_prompt: controls.max_price_prompt,
            max_price_completion: controls.max_price_completion,
            needs: Needs::of(req),
            context_needed: prompt_tokens + explicit_out.unwrap_or(0),
        };
        let mut d = Decision {
            route: target.name,
            strategy: target.strategy,
            sort: strategies::SortBy::parse(controls.sort.as_deref()),
            task,
            prompt_tokens,
            exact_tokens: exact_counts(self, &target.list, req),
            output_tokens: explicit_out.unwrap_or(request::ASSUMED_OUTPUT_TOKENS),
            output_assumed: explicit_out.is_none(),
            limits,
            ranked: Vec::with_capacity(target.list.len()),
            excluded: Vec::new(),
            baseline: target.baseline,
            quality_unapplied: false,
            cooling_kept: false,
            fallbacks_cut: 0,
        };
        self.apply_constraints(&mut d, &target.list, req.stream, ctx);
        self.order_candidates(&mut d, route, controls, req.stream, ctx);
        Ok(d)
    }

    /// The decision rendered for the request path and for explanations. An error when no
    /// candidate survives, naming each exclusion.
    pub fn plan(&self, req: &ChatRequest, controls: &Controls) -> Result<Plan, GatewayError> {
        self.plan_with(req, controls, &RouteCtx::for_request(req))
    }

    pub fn plan_with(
        &self,
        req: &ChatRequest,
        controls: &Controls,
        ctx: &RouteCtx,
    ) -> Result<Plan, GatewayError> {
        self.plan_detailed(req, controls, ctx, Detail::Full)
    }

    /// The plan the request path needs ([`Detail::Request`]): the same decision, with only
    /// the pick and the exclusions a failure would name put into words.
    pub fn plan_for_request(
        &self,
        req: &ChatRequest,
        controls: &Controls,
    ) -> Result<Plan, GatewayError> {
        self.plan_detailed(req, controls, &RouteCtx::for_request(req), Detail::Request)
    }

    pub fn plan_detailed(
        &self,
        req: &ChatRequest,
        controls: &Controls,
        ctx: &RouteCtx,
        detail: Detail,
    ) -> Result<Plan, GatewayError> {
        let d = self.decide_with(req, controls, ctx)?;
        if d.ranked.is_empty() {
            return Err(self.no_candidate_error(&req.model, &d));
        }
        Ok(self.render(d, req.stream, ctx, detail))
    }
}
