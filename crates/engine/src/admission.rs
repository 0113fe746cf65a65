//! Admission of one candidate before its call, for the attempt loop ([`crate::attempt`]): the
//! latency budget (and the share a later fallback keeps), the cost ceiling, the circuit
//! breaker and the key pool. A candidate not admitted is recorded as a skip with its reason.

use std::time::{Duration, Instant};

use switchyard_core::{CallCtx, ErrorKind, Usd};

use crate::attempt::{
    ASSUMED_OUTPUT_TOKENS, AttemptSpec, DEFAULT_ANSWER_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_TTFT_TIMEOUT, FALLBACK_MARGIN, MIN_ATTEMPT_BUDGET, Ready, St, attempt, series,
};
use crate::keys::KeysExhausted;
use crate::runtime::{Engine, ModelRt};
use crate::verdict::keys_exhausted;

impl Engine {
    /// The candidate's measured p95 (first content when streaming, whole answer otherwise),
    /// if routing has samples for it.
    fn measured_p95(&self, idx: usize, stream: bool) -> Option<Duration> {
        self.models[idx]
            .latency
            .lower_bound(series(stream), Instant::now())
            .map(|f| Duration::from_secs_f64(f.p95_ms / 1000.0))
    }

    /// Check deadline, ceiling, breaker and keys for `idx`; a skip is recorded with its reason.
    /// `reserved` is money promised to a call still running (the hedged primary).
    pub(crate) fn ready(
        &self,
        spec: &AttemptSpec<'_>,
        st: &mut St,
        idx: usize,
        reserved: Usd,
    ) -> Option<Ready> {
        let m = &self.models[idx];
        if let Some(need) = st.min_context {
            if m.context_window.is_some_and(|cw| cw <= need) {
                return None;
            }
        }
        let remaining = spec.deadline.saturating_duration_since(Instant::now());
        if st.calls > 0 {
            let measured = self.measured_p95(idx, spec.stream);
            let needed = measured.unwrap_or(MIN_ATTEMPT_BUDGET);
            if remaining < needed {
                st.budget_out = true;
                let why = format!(
                    "{} skipped: {} ms of the latency budget left, it needs about {} ms{}",
                    m.name,
                    remaining.as_millis(),
                    needed.as_millis(),
                    if measured.is_some() {
                        " (measured p95)"
                    } else {
                        " (minimum)"
                    }
                );
                self.skip(st, idx, "deadline", why, ErrorKind::Timeout, None);
                return None;
            }
        }
        let estimate = self.worst_case(spec, m);
        if let Some(ceiling) = spec.max_cost {
            let over = match estimate {
                None => Some("its price is unknown, so its cost cannot be bounded".to_owned()),
                Some(e) if st.spent_unknown || st.spent + reserved + e > ceiling => Some(format!(
                    "it could cost up to ${e} on top of ${} already committed, over the request's ceiling of ${ceiling}",
                    st.spent + reserved
                )),
                Some(_) => None,
            };
            if let Some(why) = over {
                let msg = format!("{} skipped: {why}", m.name);
                self.skip(
                    st,
                    idx,
                    "cost-ceiling",
                    msg,
                    ErrorKind::InvalidRequest,
                    None,
                );
                return None;
            }
        }
        let health = &self.shared.health;
        let (key, secret, permit, deployment) = if m.keys.is_empty() {
            let id = m.deployment(None);
            match health.admit(&id) {
                Some(p) => (None, None, p, id.into_owned()),
                None => {
                    let ra = health.reopens_in(&id);
                    self.skip_breaker(st, idx, ra);
                    return None;
                }
            }
        } else {
            let picked = m
                .keys
                .pick_with(&m.upstream, |k| health.admit(&m.deployment(Some(k))));
            match picked {
                Ok(Some((k, s, p))) => (Some(k), Some(s), p, m.deployment(Some(k)).into_owned()),
                Ok(None) => return None, // keyless handled above
                Err(KeysExhausted::BreakersOpen) => {
                    let ra = (0..m.keys.len())
                        .filter_map(|k| health.reopens_in(&m.deployment(Some(k))))
                        .min();
                    self.skip_breaker(st, idx, ra);
                    return None;
                }
                Err(ex) => {
                    let (outcome, err) = keys_exhausted(m, ex);
                    st.notes.push(format!("{}: {}", m.name, err.message));
                    st.attempts.push(attempt(m, outcome, Duration::ZERO));
                    if err.retryable {
                        st.retry_next.push(idx);
                    }
                    if st.last.is_none() || st.last_is_skip {
                        st.last = Some((err, idx));
                        st.last_is_skip = true;
                    }
                    return None;
                }
            }
        };
        let own = m.first_byte_timeout.unwrap_or(if spec.stream {
            DEFAULT_TTFT_TIMEOUT
        } else {
            DEFAULT_ANSWER_TIMEOUT
        });
        let mut limit = own.min(remaining);
        // A call that hangs must not take the whole latency budget while a fallback waits:
        // it is cut early enough for the next candidate's share (its measured p95, or the
        // minimum, plus a margin), provided this candidate's own p95 still fits before the
        // cut. Without a budget the deadline is far off and the cut never binds.
        if let Some(next) = st.next_candidate.filter(|&n| n != idx) {
            let share = |i| {
                self.measured_p95(i, spec.stream)
                    .unwrap_or(MIN_ATTEMPT_BUDGET)
            };
            let cut = remaining.saturating_sub(share(next) + FALLBACK_MARGIN);
            if cut < limit && cut >= share(idx) {
                limit = cut;
            }
        }
        Some(Ready {
            idx,
            key,
            permit,
            deployment,
            ctx: CallCtx {
                upstream_model: m.upstream.clone(),
                api_key: secret,
                deadline: Some(spec.deadline),
                first_byte_timeout: Some(limit),
                idle_timeout: Some(m.idle_timeout.unwrap_or(DEFAULT_IDLE_TIMEOUT)),
                request_id: spec.request_id.to_owned(),
            },
            limit,
            limit_is_deadline: remaining <= own,
            estimate,
        })
    }

    /// Worst-case cost of the request on `m`: prompt plus `max_tokens` (or the assumption).
    fn worst_case(&self, spec: &AttemptSpec<'_>, m: &ModelRt) -> Option<Usd> {
        let out = spec.max_output_tokens.unwrap_or(ASSUMED_OUTPUT_TOKENS);
        let out = m.max_output.map_or(out, |mx| out.min(u64::from(mx)));
        self.prices.estimate(&m.price_id, spec.prompt_tokens, out)
    }
}
