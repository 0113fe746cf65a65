//! The decision for people: [`Plan`] is what `POST /v1/route/explain` and `switchyard route`
//! print, and what the request path carries (`x-switchyard-route` is its `reason`). Field
//! names are a contract: add fields, never rename them.

use std::fmt::Write as _;

use serde::Serialize;
use switchyard_core::Usd;

use super::constraints::{estimate, shown_latency};
use super::strategies::SortBy;
use super::{Decision, Limits, RouteCtx, Why, request};
use crate::error::GatewayError;
use crate::latency::Figure;
use crate::runtime::Engine;
use crate::task::TaskPick;

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The route, alias target or model name the request resolved through.
    pub route: String,
    pub strategy: &'static str,
    /// OpenRouter `provider.sort`, when it replaced the strategy's order.
    pub sort: Option<SortBy>,
    /// The model tried first.
    pub pick: String,
    /// A short reason, for the `x-switchyard-route` header.
    pub reason: String,
    pub task: TaskPick,
    /// Prompt tokens as estimated before dispatch, and how.
    pub prompt_tokens: u64,
    pub prompt_tokens_method: &'static str,
    /// Exact counts by OpenAI encoding, used for the candidates of that family
    /// (`[pricing] token_count = "exact"`); absent when none applied.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub prompt_tokens_exact: std::collections::BTreeMap<&'static str, u64>,
    /// Output tokens the estimates assume, and whether they were assumed (no `max_tokens`).
    pub output_tokens: u64,
    pub output_tokens_assumed: bool,
    pub limits: Limits,
    /// The survivors, in the order they will be tried (a request-path plan, see
    /// [`Detail::Request`], holds only the first).
    #[serde(rename = "candidates")]
    pub ranked: Vec<CandidateView>,
    pub excluded: Vec<ExclusionView>,
    pub baseline_model: Option<String>,
    /// Anything the decision could not do as asked.
    pub notes: Vec<String>,
    /// Names of the candidates, in the order they will be tried (kept from the first format;
    /// empty in a request-path plan unless the per-prompt router reordered them).
    pub candidate_names: Vec<String>,
    /// The per-prompt router's decision, when the route has one with an index loaded (it put
    /// `model` first): its predicted quality, the minimum, and every candidate's prediction.
    /// null otherwise.
    pub prompt_router: Option<crate::prompt_router::RouterPick>,
    /// Indexes into `Engine::models`, in the order they will be tried.
    #[serde(skip)]
    pub candidates: Vec<usize>,
    #[serde(skip)]
    pub baseline: Option<usize>,
}

impl Plan {
    /// The seam for the cascade module: a plan of a `cascade` route lists its tiers from cheap
    /// to strong in `candidates`; until a cascade executor takes it, it runs as `ordered`.
    pub fn is_cascade(&self) -> bool {
        self.strategy == "cascade"
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CandidateView {
    pub model: String,
    pub provider: String,
    /// USD for the whole request at the assumed output; null = price unknown.
    pub estimated_cost: Option<Usd>,
    pub quality: Option<f64>,
    /// p95 of what this request would wait for (first token when streaming); null = no samples.
    pub latency_p95_ms: Option<f64>,
    pub latency_samples: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExclusionView {
    pub model: String,
    /// Stable code: over_ceiling, context_too_small, quality_below_minimum, too_slow, ...
    pub code: &'static str,
    pub reason: String,
    pub estimated_cost: Option<Usd>,
}

/// `Why` in words.
pub fn reason_text(why: &Why) -> String {
    match *why {
        Why::NotChat => "not a chat model (embedding model)".to_owned(),
        Why::MissingCapability(c) => format!("missing capability: {c}"),
        Why::ContextTooSmall { needed, window } => {
            format!("context too small: needs ~{needed} tokens, has {window}")
        }
        Why::QualityBelow { quality, min } => {
            format!("quality below minimum: {quality} < {min}")
        }
        Why::NoQualityFigure { min } => {
            format!("no quality figure for this task (minimum {min} applies)")
        }
        Why::OverMaxPrice {
            class,
            per_mtok,
            max,
        } => format!(
            "over max_price: {class} ${} per 1M tokens > ${}",
            per_mtok.normalize(),
            max.normalize()
        ),
        Why::OverCeiling { estimate, ceiling } => format!(
            "over ceiling: estimated ${} > ${}",
            estimate.0.round_dp(8).normalize(),
            ceiling.0.normalize()
        ),
        Why::UnknownPriceUnderCeiling { ceiling } => format!(
            "price unknown, so the ceiling ${} cannot be honoured",
            ceiling.0.normalize()
        ),
        Why::TooSlow {
            p95_ms,
            samples,
            budget_ms,
            first_token,
        } => format!(
            "too slow: p95 {} {p95_ms:.0} ms over {samples} samples > budget {budget_ms} ms",
            if first_token { "first token" } else { "answer" }
        ),
        Why::KeysUnavailable { dead: false } => {
            "cooling down: every key is rate limited".to_owned()
        }
        Why::KeysUnavailable { dead: true } => "every key was rejected (401/403)".to_owned(),
        Why::FallbacksDisallowed => "provider.allow_fallbacks is false".to_owned(),
    }
}

/// How much of a decision to put into words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Everything: explanations (`POST /v1/route/explain`, `switchyard route`).
    Full,
    /// What the request path reads: the pick's view and the exclusions a failed request
    /// names (ceiling, unknown price under a ceiling, too slow). Naming and wording every
    /// candidate of a large route cost more than deciding.
    Request,
}

/// Exclusions the attempt loop names when a request fails (see `attempt::run_spec`).
fn named_on_failure(why: &Why) -> bool {
    matches!(
        why,
        Why::OverCeiling { .. } | Why::UnknownPriceUnderCeiling { .. } | Why::TooSlow { .. }
    )
}

impl Engine {
    /// Name the models and word the reasons.
    pub(crate) fn render(
        &self,
        d: Decision,
        streamed: bool,
        ctx: &RouteCtx,
        detail: Detail,
    ) -> Plan {
        let book = self.shared.prices.current();
        let view = |idx: usize, est: Option<Usd>, quality: Option<f64>| {
            let m = &self.models[idx];
            // Only an explanation shows it; on the request path it would cost a p95 over the
            // window on every request (each answer adds a sample, so the cache rarely holds).
            let f: Option<Figure> = match detail {
                Detail::Full => shown_latency(m, streamed, ctx.now),
                Detail::Request => None,
            };
            CandidateView {
                model: m.name.clone(),
                provider: m.provider_name.clone(),
                estimated_cost: est,
                quality,
                latency_p95_ms: f.map(|f| f.p95_ms),
                latency_samples: f.map_or(0, |f| f.samples),
            }
        };
        let shown = match detail {
            Detail::Full => d.ranked.len(),
            Detail::Request => 1,
        };
        let ranked: Vec<CandidateView> = d
            .ranked
            .iter()
            .take(shown)
            .map(|s| view(s.idx, s.estimate, s.quality))
            .collect();
        let excluded = d
            .excluded
            .iter()
            .filter(|(_, why)| detail == Detail::Full || named_on_failure(why))
            .map(|(idx, why)| {
                let m = &self.models[*idx];
                ExclusionView {
                    model: m.name.clone(),
                    code: why.code(),
                    reason: reason_text(why),
                    estimated_cost: estimate(
                        &book,
                        m,
                        d.prompt_tokens_for(m),
                        d.output_tokens,
                        ctx,
                    ),
                }
            })
            .collect();
        let mut notes = Vec::new();
        if d.quality_unapplied {
            notes.push(format!(
                "no candidate has a quality figure for task {:?}; the minimum {} was not applied",
                d.task.task.as_deref().unwrap_or("unknown"),
                d.limits.min_quality.unwrap_or_default()
            ));
        }
        if d.cooling_kept {
            notes.push("every candidate's keys are cooling down; kept as a last resort".into());
        }
        if d.output_assumed {
            notes.push(format!(
                "no max_tokens: estimates assume {} output tokens",
                request::ASSUMED_OUTPUT_TOKENS
            ));
        }
        let reason = short_reason(&d, ranked.first().map(|c| c.model.as_str()));
        Plan {
            pick: ranked.first().map(|c| c.model.clone()).unwrap_or_default(),
            route: d.route,
            strategy: d.strategy.as_str(),
            sort: d.sort,
            reason,
            task: d.task,
            prompt_tokens: d.prompt_tokens,
            prompt_tokens_method: request::TOKEN_COUNT_METHOD,
            prompt_tokens_exact: crate::tokens::Encoding::ALL
                .iter()
                .filter_map(|e| d.exact_tokens[e.index()].map(|n| (e.name(), n)))
                .collect(),
            output_tokens: d.output_tokens,
            output_tokens_assumed: d.output_assumed,
            limits: d.limits,
            candidates: d.ranked.iter().map(|s| s.idx).collect(),
            candidate_names: match detail {
                Detail::Full => ranked.iter().map(|c| c.model.clone()).collect(),
                Detail::Request => Vec::new(),
            },
            ranked,
            excluded,
            baseline_model: d.baseline.map(|b| self.models[b].name.clone()),
            baseline: d.baseline,
            notes,
            prompt_router: None,
        }
    }

    /// 400 `no_candidate`: every exclusion named, so the client can see what to relax.
    pub(crate) fn no_candidate_error(&self, requested: &str, d: &Decision) -> GatewayError {
        let mut why = String::new();
        for (i, (idx, w)) in d.excluded.iter().enumerate() {
            if i > 0 {
                why.push_str("; ");
            }
            let _ = write!(why, "{} ({})", self.models[*idx].name, reason_text(w));
        }
        GatewayError::bad_request(format!(
            "No model behind `{requested}` can serve this request: {why}. POST the same body to /v1/route/explain for the full decision."
        ))
        .with_code("no_candidate")
        .with_param("model")
    }
}

/// `auto: cheapest of 4 (task code, 3 excluded) -> openai/gpt-4o-mini`.
fn short_reason(d: &Decision, pick: Option<&str>) -> String {
    let mut s = choice_reason(d, pick.unwrap_or("none"));
    // A floor the client asked for but routing could not apply must show on the answer
    // itself, not only in /v1/route/explain: otherwise the cheapest model answers a request
    // that asked for quality, silently.
    if d.quality_unapplied
        && let Some(min) = d.limits.min_quality
    {
        let task = d.task.task.as_deref().unwrap_or("general");
        let _ = write!(
            s,
            "; min quality {min} not applied: no quality figures for task {task}"
        );
    }
    s
}

fn choice_reason(d: &Decision, pick: &str) -> String {
    if d.ranked.len() == 1 && d.excluded.is_empty() && d.route == pick {
        return format!("{}: direct", d.route);
    }
    let how = match d.sort {
        Some(SortBy::Price) => "sort=price",
        Some(SortBy::Latency) => "sort=latency",
        Some(SortBy::Throughput) => "sort=throughput",
        None => d.strategy.as_str(),
    };
    let mut s = format!("{}: {how} of {}", d.route, d.ranked.len());
    if let Some(t) = &d.task.task {
        let _ = write!(s, " (task {t}");
        if !d.excluded.is_empty() {
            let _ = write!(s, ", {} excluded", d.excluded.len());
        }
        s.push(')');
    } else if !d.excluded.is_empty() {
        let _ = write!(s, " ({} excluded)", d.excluded.len());
    }
    let _ = write!(s, " -> {pick}");
    s
}
