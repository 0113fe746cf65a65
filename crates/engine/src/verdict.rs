//! What the client learns when no attempt won: every skip with its reason (deadline, cost
//! ceiling, open breaker, exhausted keys), and the final error, chosen so that a real upstream
//! failure outranks a skip and a spent budget is a 408 (SPEC: deadline) naming what was tried.

use std::time::Duration;

use switchyard_core::{AttemptRecord, ErrorKind, ProviderError};

use crate::attempt::{St, attempt};
use crate::error::GatewayError;
use crate::keys::KeysExhausted;
use crate::runtime::{Engine, ModelRt};

impl Engine {
    pub(crate) fn skip(
        &self,
        st: &mut St,
        idx: usize,
        what: &str,
        why: String,
        kind: ErrorKind,
        retry_after: Option<Duration>,
    ) {
        let m = &self.models[idx];
        let outcome = format!("skipped:{what}");
        // A candidate looked at twice (as a hedge rival, then in turn) is reported once.
        if st
            .attempts
            .iter()
            .any(|a| a.model == m.name && a.outcome == outcome)
        {
            return;
        }
        st.attempts.push(attempt(m, outcome, Duration::ZERO));
        if st.last.is_none() || st.last_is_skip {
            let e = ProviderError::new(kind, why.clone())
                .with_code(what.replace('-', "_"))
                .with_retry_after(retry_after);
            st.last = Some((e, idx));
            st.last_is_skip = true;
        }
        st.notes.push(why);
    }

    pub(crate) fn skip_breaker(&self, st: &mut St, idx: usize, reopens: Option<Duration>) {
        let m = &self.models[idx];
        let why = format!(
            "{} skipped: its circuit breaker is open after repeated failures (next probe in {} ms)",
            m.name,
            reopens.unwrap_or_default().as_millis()
        );
        self.skip(st, idx, "breaker-open", why, ErrorKind::Overloaded, reopens);
    }

    /// The error after every candidate failed or was skipped.
    pub(crate) fn final_error(&self, mut st: St) -> GatewayError {
        let attempts = std::mem::take(&mut st.attempts);
        let mut g = if st.budget_out
            && st
                .last
                .as_ref()
                .is_none_or(|(e, _)| e.kind == ErrorKind::Timeout)
        {
            GatewayError::deadline(&tried(&attempts))
        } else {
            match &st.last {
                Some((e, idx)) => {
                    let name = &self.models[*idx].name;
                    let mut g = GatewayError::from_provider(e, name);
                    match e.code.as_deref() {
                        Some("keys_exhausted") => {
                            g.class = "keys_exhausted";
                            g.code = Some("keys_exhausted".to_owned());
                            g.message = e.message.clone();
                        }
                        Some("cost_ceiling") => {
                            g = GatewayError::new(
                                400,
                                "invalid_request_error",
                                "cost_ceiling",
                                "No candidate fits the request's cost ceiling.",
                            )
                            .with_code("cost_ceiling")
                            .with_param("max_cost");
                        }
                        Some("breaker_open") => {
                            g = GatewayError::new(
                                503,
                                "overloaded_error",
                                "breaker_open",
                                "Every candidate is temporarily removed from routing by its circuit breaker.",
                            )
                            .with_code("breaker_open");
                            g.retry_after = e.retry_after;
                        }
                        _ => {}
                    }
                    g
                }
                None => GatewayError::new(
                    503,
                    "api_error",
                    "no_candidate",
                    "No candidate could be tried for this request.",
                ),
            }
        };
        if !st.notes.is_empty() {
            g.message = format!("{} Also: {}.", g.message, st.notes.join("; "));
        }
        g.attempts = attempts;
        g
    }
}

fn tried(attempts: &[AttemptRecord]) -> String {
    if attempts.is_empty() {
        "nothing".to_owned()
    } else {
        attempts
            .iter()
            .map(|a| format!("{}:{}", a.model, a.outcome))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub(crate) fn keys_exhausted(m: &ModelRt, ex: KeysExhausted) -> (String, ProviderError) {
    match ex {
        KeysExhausted::AllCooling(d) => (
            "skipped:keys-cooling".to_owned(),
            ProviderError::new(
                ErrorKind::RateLimited,
                format!(
                    "every API key of provider `{}` is rate limited for `{}` for another {} ms",
                    m.provider_name,
                    m.upstream,
                    d.as_millis()
                ),
            )
            .with_code("keys_exhausted")
            .with_retry_after(Some(d)),
        ),
        KeysExhausted::AllDead(_) | KeysExhausted::BreakersOpen => {
            let probe = match ex {
                KeysExhausted::AllDead(d) => {
                    format!("the soonest is probed again in {} s, or ", d.as_secs())
                }
                _ => String::new(),
            };
            (
                "skipped:keys-dead".to_owned(),
                ProviderError::new(
                    ErrorKind::Auth,
                    format!(
                        "every API key of provider `{}` was rejected by the upstream (401/403); {probe}fix the key pool and reload",
                        m.provider_name
                    ),
                )
                .with_code("keys_exhausted")
                .retryable(false),
            )
        }
    }
}
