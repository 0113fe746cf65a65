//! Gateway metrics in Prometheus text format, fed from `RequestRecord`s and a few direct calls
//! (breaker state, catalog age, semantic-cache similarity).
//!
//! Unknown prices have one metric, `switchyard_unknown_cost_requests_total` (requests whose
//! cost is null, by served model), counted from the record like every other request metric;
//! the engine logs a warning naming the model once.
//!
//! Label values come from config names (served model, provider, route, task), never from what a
//! client typed (`requested_model` is not a label). Each label dimension still keeps at most
//! `LABEL_CAP` distinct values and folds the rest into `other`, so a misbehaving source cannot
//! grow the scrape without bound.

mod hot;
mod registry;

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use switchyard_core::RequestRecord;

use self::hot::{HotCache, series};
use self::registry::{Counter, Family, Gauge, Histogram, LabelValues, Scale};
pub use self::registry::{OTHER, escape_label};
use crate::log::LogCounters;
use crate::store::usd_to_nanos;

pub const LABEL_CAP: usize = 500;

/// Seconds. Starts at 50 µs so gateway overhead (typically well under a millisecond) lands in
/// distinct buckets, and ends at two minutes for long generations.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Cosine similarity of semantic-cache lookups (best candidate), hit or not.
pub const SIMILARITY_BUCKETS: &[f64] = &[0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.925, 0.95, 0.975, 0.99];

struct Dims {
    model: LabelValues,
    provider: LabelValues,
    route: LabelValues,
    task: LabelValues,
    outcome: LabelValues,
    deployment: LabelValues,
    cache: LabelValues,
    gate: LabelValues,
}

pub struct Metrics {
    dims: Dims,
    requests: Family<Counter>,
    tokens: Family<Counter>,
    cost: Family<Counter>,
    baseline: Family<Counter>,
    saved: Family<Gauge>,
    unknown_cost: Family<Counter>,
    latency: Family<Histogram>,
    ttft: Family<Histogram>,
    overhead: Family<Histogram>,
    cache: Family<Counter>,
    attempts: Family<Counter>,
    fallbacks: Family<Counter>,
    retries: Family<Counter>,
    escalations: Family<Counter>,
    breaker: Family<Gauge>,
    catalog_age_ms: Family<Gauge>,
    similarity: Family<Histogram>,
    log: OnceLock<Arc<LogCounters>>,
    hot: HotCache,
}

const MRPT: &[&str] = &["model", "provider", "route", "task"];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics {
            dims: Dims {
                model: LabelValues::new(LABEL_CAP),
                provider: LabelValues::new(LABEL_CAP),
                route: LabelValues::new(LABEL_CAP),
                task: LabelValues::new(LABEL_CAP),
                outcome: LabelValues::new(64),
                deployment: LabelValues::new(LABEL_CAP),
                cache: LabelValues::new(16),
                gate: LabelValues::new(16),
            },
            requests: Family::new(
                "switchyard_requests_total",
                "Requests answered, by served model, provider, route, task and HTTP status.",
                &["model", "provider", "route", "task", "status"],
            ),
            tokens: Family::new(
                "switchyard_tokens_total",
                "Tokens by class: input (plain rate), cached_input, cache_write, output, reasoning.",
                &["model", "provider", "class"],
            ),
            cost: Family::new(
                "switchyard_cost_microdollars_total",
                "Spend in micro-dollars (USD/1e6), all attempts; requests with an unknown price add nothing.",
                MRPT,
            )
            .scaled(Scale::NanoToMicro),
            baseline: Family::new(
                "switchyard_baseline_cost_microdollars_total",
                "What the baseline model would have cost, over requests where cost and baseline are known.",
                MRPT,
            )
            .scaled(Scale::NanoToMicro),
            saved: Family::new(
                "switchyard_saved_microdollars",
                "Net saving against the baseline since start (negative when routing cost more).",
                MRPT,
            )
            .scaled(Scale::NanoToMicro),
            unknown_cost: Family::new(
                "switchyard_unknown_cost_requests_total",
                "Requests whose cost is unknown (null, never $0) because a model's price is missing.",
                &["model", "provider"],
            ),
            latency: Family::new(
                "switchyard_request_duration_seconds",
                "Total request latency as the client saw it.",
                &["model", "route"],
            )
            .buckets(LATENCY_BUCKETS),
            ttft: Family::new(
                "switchyard_time_to_first_token_seconds",
                "Time to the first streamed token.",
                &["model", "route"],
            )
            .buckets(LATENCY_BUCKETS),
            overhead: Family::new(
                "switchyard_gateway_overhead_seconds",
                "Time spent in the gateway itself (total minus upstream wait).",
                &["route"],
            )
            .buckets(LATENCY_BUCKETS),
            cache: Family::new(
                "switchyard_cache_requests_total",
                "Cache outcome per request: hit, semantic-hit, coalesced, miss, bypass.",
                &["kind"],
            ),
            attempts: Family::new(
                "switchyard_attempts_total",
                "Upstream attempts by model, provider and outcome.",
                &["model", "provider", "outcome"],
            ),
            fallbacks: Family::new(
                "switchyard_fallbacks_total",
                "Attempts that moved to a different model than the previous attempt.",
                &["route"],
            ),
            retries: Family::new(
                "switchyard_retries_total",
                "Attempts that repeated the previous attempt's model.",
                &["route"],
            ),
            escalations: Family::new(
                "switchyard_escalations_total",
                "Cascade escalations by route, the tier escalated from (its model) and the gate that rejected it (`error`: the tier failed).",
                &["route", "tier", "gate"],
            ),
            breaker: Family::new(
                "switchyard_breaker_state",
                "Circuit breaker per deployment: 0 closed, 1 half-open, 2 open.",
                &["deployment"],
            ),
            catalog_age_ms: Family::new(
                "switchyard_price_catalog_age_seconds",
                "Seconds since the price catalog was last refreshed.",
                &[],
            )
            .scaled(Scale::NanoToMicro),
            similarity: Family::new(
                "switchyard_semantic_cache_similarity",
                "Best cosine similarity found by semantic-cache lookups.",
                &[],
            )
            .buckets(SIMILARITY_BUCKETS),
            log: OnceLock::new(),
            hot: HotCache::default(),
        }
    }

    /// Counts one finished request. Cheap: one lookup for the request's label combination
    /// (see `hot`), then atomics.
    pub fn observe(&self, rec: &RequestRecord) {
        let d = &self.dims;
        let model = d.model.bound(rec.served_model.as_deref().unwrap_or("none"));
        let provider = d.provider.bound(rec.provider.as_deref().unwrap_or("none"));
        let route = d.route.bound(&rec.route);
        let task = d.task.bound(rec.task.as_deref().unwrap_or("none"));
        let status = status_label(rec.status);
        let mrpt = [model, provider, route, task];

        let hot = self.hot.get(&[model, provider, route, task, status]);
        let add = |c: &Counter, n: u64| {
            c.0.fetch_add(n, Ordering::Relaxed);
        };
        add(
            series(
                &hot.requests,
                &self.requests,
                &[model, provider, route, task, status],
            ),
            1,
        );
        for (i, (class, n)) in [
            ("input", rec.tokens.input),
            ("cached_input", rec.tokens.cached_input),
            ("cache_write", rec.tokens.cache_write),
            ("output", rec.tokens.output),
            ("reasoning", rec.tokens.reasoning),
        ]
        .into_iter()
        .enumerate()
        {
            if n > 0 {
                add(
                    series(&hot.tokens[i], &self.tokens, &[model, provider, class]),
                    n,
                );
            }
        }
        match rec.cost {
            Some(c) => add(
                series(&hot.cost, &self.cost, &mrpt),
                nanos_u64(usd_to_nanos(c)),
            ),
            None => add(
                series(&hot.unknown_cost, &self.unknown_cost, &[model, provider]),
                1,
            ),
        }
        if let (Some(b), Some(s)) = (rec.baseline_cost, rec.saved()) {
            add(
                series(&hot.baseline, &self.baseline, &mrpt),
                nanos_u64(usd_to_nanos(b)),
            );
            series(&hot.saved, &self.saved, &mrpt)
                .0
                .fetch_add(usd_to_nanos(s), Ordering::Relaxed);
        }
        let lat = self.latency.bucket_bounds();
        series(&hot.latency, &self.latency, &[model, route]).observe(lat, rec.total_ms / 1000.0);
        if let Some(t) = rec.ttft_ms {
            series(&hot.ttft, &self.ttft, &[model, route]).observe(lat, t / 1000.0);
        }
        series(&hot.overhead, &self.overhead, &[route]).observe(lat, rec.overhead_ms / 1000.0);
        inc(&self.cache, &[d.cache.bound(&rec.cache)], 1);
        for a in &rec.attempts {
            let outcome = d.outcome.bound(outcome_label(&a.outcome));
            let am = d.model.bound(&a.model);
            let ap = d.provider.bound(&a.provider);
            inc(&self.attempts, &[am, ap, outcome], 1);
        }
        add(
            series(&hot.fallbacks, &self.fallbacks, &[route]),
            rec.fallbacks() as u64,
        );
        add(
            series(&hot.retries, &self.retries, &[route]),
            rec.retries() as u64,
        );
        for e in &rec.escalated {
            let tier = d.model.bound(&e.tier);
            inc(&self.escalations, &[route, tier, d.gate.bound(&e.gate)], 1);
        }
        // A record that carries only the count (no per-tier detail) still counts.
        let bare = (rec.escalations as usize).saturating_sub(rec.escalated.len());
        if bare > 0 {
            inc(
                &self.escalations,
                &[route, "unknown", "unknown"],
                bare as u64,
            );
        }
    }

    /// 0 closed, 1 half-open, 2 open.
    pub fn set_breaker_state(&self, deployment: &str, state: u8) {
        let dep = self.dims.deployment.bound(deployment);
        self.breaker
            .with(&[dep])
            .0
            .store(i64::from(state), Ordering::Relaxed);
    }

    pub fn set_catalog_age_seconds(&self, age: f64) {
        // Kept as integer milliseconds; the thousandths formatter prints it as seconds.
        let millis = if age.is_finite() && age > 0.0 {
            (age * 1000.0).round() as i64
        } else {
            0
        };
        self.catalog_age_ms
            .with(&[])
            .0
            .store(millis, Ordering::Relaxed);
    }

    pub fn observe_cache_similarity(&self, similarity: f64) {
        let b = self.similarity.bucket_bounds();
        self.similarity.with(&[]).observe(b, similarity);
    }

    /// Makes the request log's written/spilled/dropped counters part of every scrape.
    pub fn attach_log(&self, counters: Arc<LogCounters>) {
        let _ = self.log.set(counters);
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        self.requests.render(&mut out);
        self.tokens.render(&mut out);
        self.cost.render(&mut out);
        self.baseline.render(&mut out);
        self.saved.render(&mut out);
        self.unknown_cost.render(&mut out);
        self.latency.render(&mut out);
        self.ttft.render(&mut out);
        self.overhead.render(&mut out);
        self.cache.render(&mut out);
        self.attempts.render(&mut out);
        self.fallbacks.render(&mut out);
        self.retries.render(&mut out);
        self.escalations.render(&mut out);
        self.breaker.render(&mut out);
        self.catalog_age_ms.render(&mut out);
        self.similarity.render(&mut out);
        if let Some(c) = self.log.get() {
            for (name, help, v) in [
                (
                    "switchyard_log_records_written_total",
                    "Request-log records committed to the store.",
                    &c.written,
                ),
                (
                    "switchyard_log_records_spilled_total",
                    "Request-log records written to the spill file while the store was down.",
                    &c.spilled,
                ),
                (
                    "switchyard_log_records_dropped_total",
                    "Request-log records lost (queue full or spill write failed).",
                    &c.dropped,
                ),
            ] {
                use std::fmt::Write;
                let _ = write!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                    v.load(Ordering::Relaxed)
                );
            }
        }
        out
    }
}

fn inc(f: &Family<Counter>, labels: &[&str], n: u64) {
    if n > 0 {
        f.with(labels).0.fetch_add(n, Ordering::Relaxed);
    } else {
        // Materialise the series so it shows as 0 rather than absent.
        f.with(labels);
    }
}

fn nanos_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn status_label(s: u16) -> &'static str {
    // Matched as numbers: formatting the status to compare strings allocated per request.
    match s {
        200 => "200",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        408 => "408",
        413 => "413",
        422 => "422",
        429 => "429",
        499 => "499",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        // Not one of the above (the overlap with them is intended).
        s if (200..300).contains(&s) => "2xx",
        s if (400..500).contains(&s) => "4xx",
        s if (500..600).contains(&s) => "5xx",
        _ => OTHER,
    }
}

/// `skipped:budget` and similar carry detail after the colon; the prefix is the class.
fn outcome_label(o: &str) -> &str {
    o.split(':').next().unwrap_or(o)
}

/// `GET /metrics`.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let m = metrics.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    m.render(),
                )
                    .into_response()
            }
        }),
    )
}
