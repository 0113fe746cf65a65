//! The attempt loop shared by every endpoint: walk the plan's candidates, pick a key whose
//! deployment's circuit breaker admits a call, call under the attempt's time limit, and on
//! failure decide between failing over, retrying after a backoff, or giving up. The decision
//! reads only the error's classification, never the provider's name.
//!
//! Rules, in the order they apply to each candidate:
//! 1. **Deadline**: the request's latency budget is one deadline for all attempts. A fallback
//!    (anything after the first call) starts only if the time left covers the candidate's
//!    measured p95 (first content when streaming, whole answer otherwise; routing's
//!    [`crate::latency`] windows), or
//!    [`MIN_ATTEMPT_BUDGET`] when it has no measurements. Each call is cut at
//!    `min(time-to-first-token limit, time left)`, and earlier when a candidate follows: at
//!    the time left minus that candidate's share (plus [`FALLBACK_MARGIN`]) if the caller's
//!    own p95 still fits, so a hung call leaves the fallback its chance within the budget.
//!    The stream's idle timeout rides in `CallCtx`.
//! 2. **Cost ceiling**: money already spent by earlier attempts (hedge losers are billed their
//!    prompt) plus the candidate's worst case (prompt + `max_tokens`, or
//!    [`ASSUMED_OUTPUT_TOKENS`]) must stay within the ceiling; else it is skipped and the
//!    client is told, in `x-switchyard-attempts` (`model:skipped:cost-ceiling`), in
//!    `usage.cost_details`, and in the error message if nothing else answered.
//! 3. **Breaker and keys**: a deployment (provider + model + key) whose breaker is open is not
//!    called (`skipped:breaker-open`); keys out after a 401/403 (until their probe) and keys
//!    resting after a 429 for this model are not used.
//! 4. **Outcome**: success wins; a client error stops; a provider that cannot express the
//!    request (`Unsupported`, refused before any upstream call) hands it to the next candidate
//!    and is a 400 only if no candidate serves it; a context overflow moves to a larger
//!    window; a 429 on one key of a pool calls the same model again at once with another
//!    usable key (at most once per key); anything retryable fails over, and a second pass
//!    (after full-jitter backoff or the upstream's retry-after, if it fits the deadline)
//!    retries what failed retryably.
//! 5. **Hedging** (per route, off by default): see [`crate::hedge`]; the first call gets a
//!    rival after the primary's p95 time to first token, and the first to answer wins.

use std::future::Future;
use std::time::{Duration, Instant};

use switchyard_core::{AttemptRecord, CallCtx, ErrorKind, ProviderError, Usd};

use crate::error::GatewayError;
use crate::health::{Permit, health_outcome};
use crate::latency::Series;
use crate::runtime::{Engine, ModelRt};

/// What one successful attempt produced.
pub struct Won<T> {
    pub value: T,
    pub model: usize,
    pub attempts: Vec<AttemptRecord>,
    /// Time spent waiting on upstreams (wall clock, hedges counted once), for the overhead figure.
    pub upstream_time: Duration,
    /// The winning deployment (`provider:model:keyN`), to report a failure found later.
    pub deployment: String,
}

/// The request-level inputs of the loop.
#[derive(Debug, Clone)]
pub struct AttemptSpec<'a> {
    pub candidates: &'a [usize],
    pub deadline: Instant,
    pub request_id: &'a str,
    /// Streams are won at the first content chunk, JSON answers when complete.
    pub stream: bool,
    /// Route name, for its retry and hedging policy ("" = defaults).
    pub route: &'a str,
    /// USD ceiling for the whole request, all attempts included.
    pub max_cost: Option<Usd>,
    pub prompt_tokens: u64,
    pub max_output_tokens: Option<u64>,
    /// Candidates routing left out, so a failed request can say which fallbacks the ceiling
    /// or the budget ruled out.
    pub excluded: &'a [crate::route::ExclusionView],
}

impl<'a> AttemptSpec<'a> {
    /// The spec of a routed request: the plan's order, ceiling and token estimates.
    pub fn of(
        plan: &'a crate::route::Plan,
        deadline: Instant,
        request_id: &'a str,
        stream: bool,
    ) -> AttemptSpec<'a> {
        AttemptSpec {
            candidates: &plan.candidates,
            deadline,
            request_id,
            stream,
            route: &plan.route,
            max_cost: plan.limits.max_cost,
            prompt_tokens: plan.prompt_tokens,
            max_output_tokens: Some(plan.output_tokens),
            excluded: &plan.excluded,
        }
    }
}

/// Time to first content (streams) allowed per attempt when the provider sets none.
pub const DEFAULT_TTFT_TIMEOUT: Duration = Duration::from_secs(30);
/// Time for a whole JSON answer per attempt when the provider sets no `first_byte_timeout`.
pub const DEFAULT_ANSWER_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest silence between stream chunks when the provider sets no `idle_timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// A fallback without latency measurements starts only with at least this much budget left.
pub const MIN_ATTEMPT_BUDGET: Duration = Duration::from_millis(250);
/// Slack kept on top of a fallback's share when an attempt is cut for it, so that the time
/// the failed attempt takes to unwind does not push the fallback under its share.
pub const FALLBACK_MARGIN: Duration = Duration::from_millis(25);
/// Output tokens assumed for the worst case when the request sets no `max_tokens` (the same
/// assumption routing makes).
pub const ASSUMED_OUTPUT_TOKENS: u64 = 256;

/// What happens after an error.
pub(crate) enum Next {
    Failover,
    LargerContext,
    /// This provider cannot express the request (found before any upstream call): another
    /// candidate may serve it, and it is the client's error only if none can.
    Elsewhere,
    Stop,
}

pub(crate) fn next_step(e: &ProviderError) -> Next {
    match e.kind {
        ErrorKind::InvalidRequest | ErrorKind::ContentFiltered => Next::Stop,
        ErrorKind::Unsupported => Next::Elsewhere,
        ErrorKind::ContextLengthExceeded => Next::LargerContext,
        _ => Next::Failover,
    }
}

/// One candidate, cleared to be called.
pub(crate) struct Ready {
    pub(crate) idx: usize,
    pub(crate) key: Option<usize>,
    pub(crate) permit: Permit,
    pub(crate) deployment: String,
    pub(crate) ctx: CallCtx,
    pub(crate) limit: Duration,
    /// The limit is the request's deadline, not the attempt's own timeout: a timeout then says
    /// nothing about the deployment's health.
    pub(crate) limit_is_deadline: bool,
    pub(crate) estimate: Option<Usd>,
}

/// Loop state for one request.
#[derive(Default)]
pub(crate) struct St {
    pub(crate) attempts: Vec<AttemptRecord>,
    pub(crate) calls: usize,
    pub(crate) upstream_time: Duration,
    pub(crate) last: Option<(ProviderError, usize)>,
    /// The last error came from a skip, not a call: a real error replaces it.
    pub(crate) last_is_skip: bool,
    pub(crate) min_context: Option<u32>,
    pub(crate) spent: Usd,
    pub(crate) spent_unknown: bool,
    pub(crate) notes: Vec<String>,
    pub(crate) retry_next: Vec<usize>,
    /// A candidate to call again at once, with another key of its pool (after a 429).
    pub(crate) retry_now: Option<usize>,
    /// Calls repeated at once with another key, bounded by the pool's size so that a 429
    /// with no retry-after (a key that rests for no time) cannot loop.
    pub(crate) key_switches: usize,
    /// The candidate after the one being readied, if any: its call is cut early enough to
    /// leave this one its share of the latency budget.
    pub(crate) next_candidate: Option<usize>,
    pub(crate) budget_out: bool,
}

pub(crate) enum Settled<T> {
    Won(Won<T>),
    Stop(GatewayError),
    Next,
}

pub(crate) type Outcome<T> = (Result<T, ProviderError>, Duration);

async fn timed<T>(
    fut: impl Future<Output = Result<T, ProviderError>>,
    limit: Duration,
    on_timeout: String,
) -> Outcome<T> {
    let t0 = Instant::now();
    let r = match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(ProviderError::new(ErrorKind::Timeout, on_timeout)),
    };
    (r, t0.elapsed())
}

impl Engine {
    /// The loop with default policies, no ceiling and JSON semantics (kept for callers that
    /// have no plan, e.g. embeddings and cascades).
    pub async fn run_attempts<T, F, Fut>(
        &self,
        candidates: &[usize],
        deadline: Instant,
        request_id: &str,
        call: F,
    ) -> Result<Won<T>, GatewayError>
    where
        F: FnMut(usize, CallCtx) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let spec = AttemptSpec {
            candidates,
            deadline,
            request_id,
            stream: false,
            route: "",
            max_cost: None,
            prompt_tokens: 0,
            max_output_tokens: None,
            excluded: &[],
        };
        self.run_spec(&spec, call).await
    }

    /// Run `call` against the candidates until one succeeds. `call` gets the model and a ready
    /// `CallCtx`; for streams it must resolve at the first content chunk.
    pub async fn run_spec<T, F, Fut>(
        &self,
        spec: &AttemptSpec<'_>,
        mut call: F,
    ) -> Result<Won<T>, GatewayError>
    where
        F: FnMut(usize, CallCtx) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let policies = self.shared.health.policies();
        let rp = policies.route(spec.route);
        let mut st = St::default();
        for e in spec.excluded.iter().filter(|e| {
            matches!(
                e.code,
                "over_ceiling" | "unknown_price_under_ceiling" | "too_slow"
            )
        }) {
            st.notes
                .push(format!("{} was left out by routing: {}", e.model, e.reason));
        }
        let mut list: Vec<usize> = spec.candidates.to_vec();
        for pass in 0..rp.retry.passes.max(1) {
            if pass > 0 {
                if st.retry_next.is_empty() {
                    break;
                }
                list = std::mem::take(&mut st.retry_next);
                let wait = match st.last.as_ref().and_then(|(e, _)| e.retry_after) {
                    Some(ra) if ra > rp.retry.max_retry_after => break,
                    Some(ra) => ra,
                    None => rp.retry.backoff(pass),
                };
                if Instant::now() + wait + MIN_ATTEMPT_BUDGET >= spec.deadline {
                    break;
                }
                tokio::time::sleep(wait).await;
            }
            let mut pos = 0;
            while pos < list.len() {
                let idx = list[pos];
                pos += 1;
                if Instant::now() >= spec.deadline {
                    st.budget_out = true;
                    return Err(self.final_error(st));
                }
                st.next_candidate = list.get(pos).copied();
                let ready = self.ready(spec, &mut st, idx, Usd::ZERO);
                st.next_candidate = None;
                let Some(ready) = ready else {
                    continue;
                };
                let hedge = rp
                    .hedge
                    .as_ref()
                    .filter(|_| st.calls == 0)
                    .and_then(|h| self.hedge_delay(h, &self.models[idx], spec.stream))
                    .filter(|d| *d < ready.limit);
                st.calls += 1;
                let started = Instant::now();
                let fut = timed(
                    call(idx, ready.ctx.clone()),
                    ready.limit,
                    timeout_msg(&ready),
                );
                let settled = match hedge {
                    None => {
                        let out = fut.await;
                        st.upstream_time += started.elapsed();
                        self.settle(spec, &mut st, ready, out)
                    }
                    Some(delay) => {
                        let mut a = std::pin::pin!(fut);
                        let early = tokio::select! {
                            out = &mut a => Some(out),
                            () = tokio::time::sleep(delay) => None,
                        };
                        let rival = match early {
                            Some(_) => None,
                            None => self.pick_rival(spec, &mut st, &mut list, pos, ready.estimate),
                        };
                        let s = match (early, rival) {
                            (Some(out), _) => self.settle(spec, &mut st, ready, out),
                            (None, None) => {
                                let out = a.await;
                                self.settle(spec, &mut st, ready, out)
                            }
                            (None, Some(r)) => {
                                st.calls += 1;
                                let rival_start = Instant::now();
                                let b = timed(call(r.idx, r.ctx.clone()), r.limit, timeout_msg(&r));
                                let b = std::pin::pin!(b);
                                self.race(spec, &mut st, (ready, started, a), (r, rival_start, b))
                                    .await
                            }
                        };
                        st.upstream_time += started.elapsed();
                        s
                    }
                };
                match settled {
                    Settled::Won(w) => return Ok(w),
                    Settled::Stop(e) => return Err(e),
                    Settled::Next => {
                        if let Some(again) = st.retry_now.take() {
                            list.insert(pos, again);
                        }
                    }
                }
            }
            if st.min_context.is_some() {
                break; // a context overflow is not transient: a second pass cannot help
            }
        }
        Err(self.final_error(st))
    }

    /// Record a finished call and decide what comes next.
    pub(crate) fn settle<T>(
        &self,
        _spec: &AttemptSpec<'_>,
        st: &mut St,
        r: Ready,
        out: Outcome<T>,
    ) -> Settled<T> {
        let m = &self.models[r.idx];
        let (result, took) = out;
        let health = &self.shared.health;
        match result {
            Ok(value) => {
                st.attempts.push(attempt(m, "ok".to_owned(), took));
                if let Some(k) = r.key {
                    m.keys.mark_ok(k); // revives a rejected key this call probed
                }
                health.report(r.permit, Some(true));
                Settled::Won(Won {
                    value,
                    model: r.idx,
                    attempts: std::mem::take(&mut st.attempts),
                    upstream_time: st.upstream_time,
                    deployment: r.deployment,
                })
            }
            Err(e) => {
                let outcome = e
                    .status
                    .map_or_else(|| e.kind.as_str().to_owned(), |s| s.to_string());
                st.attempts.push(attempt(m, outcome, took));
                if let Some(k) = r.key {
                    match e.kind {
                        ErrorKind::Auth => m.keys.mark_dead(k),
                        // Limits are per model upstream: the key keeps serving other models.
                        ErrorKind::RateLimited => m.keys.cool_down(
                            k,
                            &m.upstream,
                            e.retry_after.unwrap_or(Duration::from_secs(1)),
                        ),
                        _ => {}
                    }
                }
                let deadline_cut = e.kind == ErrorKind::Timeout && r.limit_is_deadline;
                if deadline_cut {
                    st.budget_out = true;
                }
                health.report(
                    r.permit,
                    if deadline_cut {
                        None
                    } else {
                        health_outcome(e.kind)
                    },
                );
                tracing::debug!(model = %m.name, error = %e, "attempt failed");
                match next_step(&e) {
                    Next::Stop => {
                        let mut g = GatewayError::from_provider(&e, &m.name);
                        g.attempts = std::mem::take(&mut st.attempts);
                        return Settled::Stop(g);
                    }
                    Next::LargerContext => {
                        let cw = m.context_window.unwrap_or(0);
                        st.min_context = Some(st.min_context.map_or(cw, |c| c.max(cw)));
                    }
                    Next::Failover => {
                        // A 429 rests only this key for this model: when another key of the
                        // pool is usable, the same model is called again at once with it,
                        // instead of failing over or waiting out the retry-after.
                        let other_key = e.kind == ErrorKind::RateLimited
                            && r.key.is_some()
                            && st.key_switches < m.keys.len()
                            && m.keys.status(&m.upstream).0 > 0;
                        if other_key {
                            st.key_switches += 1;
                            st.retry_now = Some(r.idx);
                        } else if e.retryable {
                            st.retry_next.push(r.idx);
                        }
                    }
                    Next::Elsewhere => {
                        // Ranked like a skip: a real upstream failure says more. The first
                        // rejection explains a final 400 when no candidate could serve it.
                        if st.last.is_none() {
                            st.last = Some((e, r.idx));
                            st.last_is_skip = true;
                        } else {
                            st.notes.push(format!(
                                "{} cannot serve this request: {}",
                                m.name, e.message
                            ));
                        }
                        return Settled::Next;
                    }
                }
                st.last = Some((e, r.idx));
                st.last_is_skip = false;
                Settled::Next
            }
        }
    }
}

pub(crate) fn series(stream: bool) -> Series {
    if stream {
        Series::FirstToken
    } else {
        Series::Complete
    }
}

fn timeout_msg(r: &Ready) -> String {
    if r.limit_is_deadline {
        format!(
            "the request's latency budget ran out after {} ms with no answer",
            r.limit.as_millis()
        )
    } else {
        format!(
            "no first token within {} ms (attempt timeout)",
            r.limit.as_millis()
        )
    }
}

pub(crate) fn attempt(m: &ModelRt, outcome: String, took: Duration) -> AttemptRecord {
    AttemptRecord {
        model: m.name.clone(),
        provider: m.provider_name.clone(),
        outcome,
        latency_ms: took.as_secs_f64() * 1000.0,
        cost: Some(Usd::ZERO),
        cost_estimated: false,
    }
}
