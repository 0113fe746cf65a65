//! The attempt loop shared by every endpoint: walk the plan's candidates, pick a key, call,
//! and on failure decide between failing over, retrying after a backoff, or giving up. The
//! decision reads only the error's classification, never the provider's name.

use std::future::Future;
use std::time::{Duration, Instant};

use switchyard_core::{AttemptRecord, CallCtx, ErrorKind, ProviderError, Usd};

use crate::error::GatewayError;
use crate::keys::KeysExhausted;
use crate::runtime::{Engine, ModelRt};

/// What one successful attempt produced.
pub struct Won<T> {
    pub value: T,
    pub model: usize,
    pub attempts: Vec<AttemptRecord>,
    /// Time spent waiting on upstreams, summed over attempts (for the overhead figure).
    pub upstream_time: Duration,
}

/// What happens after an error.
enum Next {
    /// Try the next candidate (or the same one again after a backoff on a later pass).
    Failover,
    /// Only candidates with a larger context window can succeed.
    LargerContext,
    /// The client's own error: no other candidate would do better.
    Stop,
}

fn next_step(e: &ProviderError) -> Next {
    match e.kind {
        ErrorKind::InvalidRequest | ErrorKind::ContentFiltered => Next::Stop,
        ErrorKind::ContextLengthExceeded => Next::LargerContext,
        _ => Next::Failover,
    }
}

/// Full-jitter exponential backoff, 0.5 s doubling up to 8 s, as the official SDKs do.
fn backoff(pass: u32) -> Duration {
    let base = 0.5f64 * f64::from(1u32 << pass.min(4));
    Duration::from_secs_f64(base.min(8.0) * (0.5 + fastrand::f64() * 0.5))
}

/// How many passes over the candidate list a request may make (1 = each candidate once).
const MAX_PASSES: u32 = 2;

impl Engine {
    /// Run `call` against the candidates until one succeeds. `call` gets the model and a ready
    /// `CallCtx` and returns the value plus the usage it consumed (for billing failed attempts
    /// that still used tokens, e.g. a stream cut after some output).
    pub async fn run_attempts<T, F, Fut>(
        &self,
        candidates: &[usize],
        deadline: Instant,
        request_id: &str,
        mut call: F,
    ) -> Result<Won<T>, GatewayError>
    where
        F: FnMut(usize, CallCtx) -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let mut attempts = Vec::new();
        let mut upstream_time = Duration::ZERO;
        let mut last: Option<(ProviderError, usize)> = None;
        let mut min_context: Option<u32> = None;
        for pass in 0..MAX_PASSES {
            if pass > 0 {
                // Only worth a second pass when the last failure was transient.
                let Some((e, _)) = &last else { break };
                if !e.retryable {
                    break;
                }
                let wait = e.retry_after.unwrap_or_else(|| backoff(pass - 1));
                if Instant::now() + wait >= deadline {
                    break;
                }
                tokio::time::sleep(wait).await;
            }
            for &idx in candidates {
                let m = &self.models[idx];
                if let Some(need) = min_context {
                    if m.context_window.is_some_and(|cw| cw <= need) {
                        continue;
                    }
                }
                if Instant::now() >= deadline {
                    return Err(deadline_error(attempts));
                }
                let (key_idx, key) = match m.keys.pick() {
                    Ok(Some((i, k))) => (Some(i), Some(k)),
                    Ok(None) => (None, None),
                    Err(ex) => {
                        let (outcome, err) = keys_exhausted(m, ex);
                        attempts.push(attempt(m, outcome, Duration::ZERO));
                        last = Some((err, idx));
                        continue;
                    }
                };
                let ctx = CallCtx {
                    upstream_model: m.upstream.clone(),
                    api_key: key,
                    deadline: Some(deadline),
                    first_byte_timeout: m.first_byte_timeout,
                    idle_timeout: m.idle_timeout,
                    request_id: request_id.to_owned(),
                };
                let t0 = Instant::now();
                let result = call(idx, ctx).await;
                let took = t0.elapsed();
                upstream_time += took;
                match result {
                    Ok(value) => {
                        attempts.push(attempt(m, "ok".to_owned(), took));
                        return Ok(Won {
                            value,
                            model: idx,
                            attempts,
                            upstream_time,
                        });
                    }
                    Err(e) => {
                        let outcome = e
                            .status
                            .map_or_else(|| e.kind.as_str().to_owned(), |s| s.to_string());
                        attempts.push(attempt(m, outcome, took));
                        if let Some(k) = key_idx {
                            match e.kind {
                                ErrorKind::Auth => m.keys.mark_dead(k),
                                ErrorKind::RateLimited => m
                                    .keys
                                    .cool_down(k, e.retry_after.unwrap_or(Duration::from_secs(1))),
                                _ => {}
                            }
                        }
                        tracing::debug!(model = %m.name, error = %e, "attempt failed");
                        match next_step(&e) {
                            Next::Stop => {
                                let mut g = GatewayError::from_provider(&e, &m.name);
                                g.attempts = attempts;
                                return Err(g);
                            }
                            Next::LargerContext => {
                                min_context =
                                    Some(min_context.map_or(m.context_window.unwrap_or(0), |c| {
                                        c.max(m.context_window.unwrap_or(0))
                                    }));
                            }
                            Next::Failover => {}
                        }
                        last = Some((e, idx));
                    }
                }
            }
            if min_context.is_some() {
                break; // a context overflow is not transient: a second pass cannot help
            }
        }
        let mut g = match &last {
            Some((e, idx)) => GatewayError::from_provider(e, &self.models[*idx].name),
            None => GatewayError::new(
                503,
                "api_error",
                "no_candidate",
                "No candidate could be tried for this request.",
            ),
        };
        if Instant::now() >= deadline
            && last
                .as_ref()
                .is_some_and(|(e, _)| e.kind == ErrorKind::Timeout)
        {
            g = deadline_error(Vec::new());
        }
        g.attempts = attempts;
        Err(g)
    }
}

fn deadline_error(attempts: Vec<AttemptRecord>) -> GatewayError {
    let tried = if attempts.is_empty() {
        "nothing".to_owned()
    } else {
        attempts
            .iter()
            .map(|a| format!("{}:{}", a.model, a.outcome))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut g = GatewayError::deadline(&tried);
    g.attempts = attempts;
    g
}

fn attempt(m: &ModelRt, outcome: String, took: Duration) -> AttemptRecord {
    AttemptRecord {
        model: m.name.clone(),
        provider: m.provider_name.clone(),
        outcome,
        latency_ms: took.as_secs_f64() * 1000.0,
        cost: Some(Usd::ZERO),
    }
}

fn keys_exhausted(m: &ModelRt, ex: KeysExhausted) -> (String, ProviderError) {
    match ex {
        KeysExhausted::AllDead => (
            "skipped:keys-dead".to_owned(),
            ProviderError::new(
                ErrorKind::Auth,
                format!("every API key of provider `{}` was rejected by the upstream (401/403); fix the key pool and reload", m.provider_name),
            )
            .with_code("keys_exhausted"),
        ),
        KeysExhausted::AllCooling(d) => (
            "skipped:keys-cooling".to_owned(),
            ProviderError::new(
                ErrorKind::RateLimited,
                format!("every API key of provider `{}` is rate limited for another {} ms", m.provider_name, d.as_millis()),
            )
            .with_code("keys_exhausted")
            .with_retry_after(Some(d)),
        ),
    }
}
