//! Per-route reliability policy: `[routes.X.retry]` and `[routes.X.hedging]` (both optional;
//! hedging is off unless the table is present), and `[breaker]` for the whole gateway.
//!
//! ```toml
//! [breaker]                 # defaults shown
//! window = "30s"            # half-life of the outcome tallies
//! min_requests = 10
//! error_rate = 0.5
//! cooldown = "10s"          # doubled after each failed probe, up to max_cooldown
//! max_cooldown = "5m"
//!
//! [routes.auto.retry]
//! passes = 2                # 1 = each candidate once; 2 = one more pass after a backoff
//! backoff_base = "500ms"    # full jitter: uniform in [base/2, base] * 2^pass, capped
//! backoff_max = "8s"
//! max_retry_after = "30s"   # a longer Retry-After is passed to the client instead of waited
//!
//! [routes.auto.hedging]
//! enabled = true            # implied by the table
//! delay = "800ms"           # fixed; without it, the primary's measured p95 time to first
//!                           # token (whole answer for JSON requests), once measured
//! ```
//!
//! The race itself lives in the attempt loop (`attempt.rs`); this module decides whether and
//! when to hedge.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use serde::Deserialize;
use switchyard_core::Usd;

use crate::attempt::{AttemptSpec, Next, Outcome, Ready, Settled, St, attempt, next_step, series};
use crate::config::{Config, ConfigError};
use crate::health::BreakerConfig;
use crate::runtime::{Engine, ModelRt};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    pub passes: u32,
    #[serde(with = "dur")]
    pub backoff_base: Duration,
    #[serde(with = "dur")]
    pub backoff_max: Duration,
    #[serde(with = "dur")]
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            passes: 2,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Full-jitter exponential backoff before pass `pass` (1-based), as the official SDKs do.
    pub fn backoff(&self, pass: u32) -> Duration {
        let exp = self
            .backoff_base
            .saturating_mul(1u32 << pass.saturating_sub(1).min(10));
        exp.min(self.backoff_max)
            .mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HedgePolicy {
    pub enabled: bool,
    #[serde(with = "dur::option")]
    pub delay: Option<Duration>,
}

impl Default for HedgePolicy {
    fn default() -> Self {
        HedgePolicy {
            enabled: true,
            delay: None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct RoutePolicy {
    pub retry: RetryPolicy,
    pub hedge: Option<HedgePolicy>,
}

/// Everything reliability reads from the config, parsed once per config generation.
#[derive(Debug, Clone, Default)]
pub struct Policies {
    pub breaker: BreakerConfig,
    pub routes: HashMap<String, RoutePolicy>,
    pub default_route: RoutePolicy,
}

impl Policies {
    pub fn from_config(config: &Config) -> Result<Policies, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let breaker = match &config.breaker {
            None => BreakerConfig::default(),
            Some(v) => parse(v, "breaker", &mut errors).unwrap_or_default(),
        };
        let mut routes = HashMap::new();
        for (name, r) in &config.routes {
            let retry = r
                .retry
                .as_ref()
                .and_then(|v| parse::<RetryPolicy>(v, &format!("routes.{name}.retry"), &mut errors))
                .unwrap_or_default();
            let hedge = r
                .hedging
                .as_ref()
                .and_then(|v| {
                    parse::<HedgePolicy>(v, &format!("routes.{name}.hedging"), &mut errors)
                })
                .filter(|h| h.enabled);
            if retry.passes == 0 {
                errors.push(ConfigError::new(
                    format!("routes.{name}.retry.passes"),
                    "must be at least 1",
                ));
            }
            routes.insert(name.clone(), RoutePolicy { retry, hedge });
        }
        if !(0.0..=1.0).contains(&breaker.error_rate) {
            errors.push(ConfigError::new(
                "breaker.error_rate",
                "must be between 0 and 1",
            ));
        }
        if errors.is_empty() {
            Ok(Policies {
                breaker,
                routes,
                default_route: RoutePolicy::default(),
            })
        } else {
            Err(errors)
        }
    }

    pub fn route(&self, name: &str) -> &RoutePolicy {
        self.routes.get(name).unwrap_or(&self.default_route)
    }
}

impl Engine {
    /// When to start a rival for the first call to `m`: the configured delay, else the
    /// primary's measured quantile (first content for streams, whole answer otherwise), else
    /// never (no evidence of what "slow" means yet).
    pub(crate) fn hedge_delay(
        &self,
        h: &HedgePolicy,
        m: &ModelRt,
        stream: bool,
    ) -> Option<Duration> {
        h.delay.or_else(|| {
            m.latency
                .expected(series(stream), Instant::now())
                .map(|f| Duration::from_secs_f64(f.p95_ms / 1000.0))
        })
    }

    /// The next candidate after `pos` that may be called now, reserving the running primary's
    /// worst case against the ceiling; the chosen one is taken out of this pass.
    pub(crate) fn pick_rival(
        &self,
        spec: &AttemptSpec<'_>,
        st: &mut St,
        list: &mut Vec<usize>,
        pos: usize,
        reserved: Option<Usd>,
    ) -> Option<Ready> {
        // A candidate that cannot be the rival stays in the list: with the primary's money no
        // longer reserved (it failed), it may still fit as a plain fallback.
        for j in pos..list.len() {
            if let Some(r) = self.ready(spec, st, list[j], reserved.unwrap_or(Usd::ZERO)) {
                list.remove(j);
                return Some(r);
            }
        }
        None
    }

    /// Race the primary against its rival: the first to answer wins and the other is
    /// cancelled (dropped, which closes its connection) and billed its prompt, since providers
    /// charge for input they already read. A failure lets the other run on.
    pub(crate) async fn race<T, A, B>(
        &self,
        spec: &AttemptSpec<'_>,
        st: &mut St,
        a: (Ready, Instant, Pin<&mut A>),
        b: (Ready, Instant, Pin<&mut B>),
    ) -> Settled<T>
    where
        A: Future<Output = Outcome<T>>,
        B: Future<Output = Outcome<T>>,
    {
        let (ra, ta, mut fa) = a;
        let (rb, tb, mut fb) = b;
        let first = tokio::select! {
            out = &mut fa => Ok(out),
            out = &mut fb => Err(out),
        };
        match first {
            Ok(out) => self.after_first(spec, st, ra, out, (rb, tb, fb)).await,
            Err(out) => self.after_first(spec, st, rb, out, (ra, ta, fa)).await,
        }
    }

    async fn after_first<T, O>(
        &self,
        spec: &AttemptSpec<'_>,
        st: &mut St,
        first: Ready,
        out: Outcome<T>,
        other: (Ready, Instant, Pin<&mut O>),
    ) -> Settled<T>
    where
        O: Future<Output = Outcome<T>>,
    {
        let (ro, to, fo) = other;
        let stop = match &out.0 {
            Ok(_) => true,
            Err(e) => matches!(next_step(e), Next::Stop),
        };
        if stop {
            // Recorded before the winner, which must be the last attempt (it is billed there).
            self.cancel(spec, st, ro, to);
            return self.settle(spec, st, first, out);
        }
        match self.settle(spec, st, first, out) {
            Settled::Next => {}
            s => return s,
        }
        let out = fo.await;
        self.settle(spec, st, ro, out)
    }

    fn cancel(&self, spec: &AttemptSpec<'_>, st: &mut St, r: Ready, started: Instant) {
        let m = &self.models[r.idx];
        let cost = self.prices.estimate(&m.price_id, spec.prompt_tokens, 0);
        let mut a = attempt(m, "hedge-cancelled".to_owned(), started.elapsed());
        a.cost = cost;
        match cost {
            Some(c) => st.spent += c,
            None => st.spent_unknown = true,
        }
        st.attempts.push(a);
        drop(r.permit); // neutral for the breaker: it did not fail, it lost
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    v: &toml::Value,
    at: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    match serde_path_to_error::deserialize(v.clone()) {
        Ok(t) => Some(t),
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." || path.is_empty() {
                at.to_owned()
            } else {
                format!("{at}.{path}")
            };
            errors.push(ConfigError::new(path, e.into_inner().to_string()));
            None
        }
    }
}

mod dur {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
    pub mod option {
        use super::*;
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            let s = Option::<String>::deserialize(d)?;
            s.map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> Result<Policies, Vec<ConfigError>> {
        let text = format!(
            r#"
[providers.p]
kind = "openai"
base_url = "http://127.0.0.1:9"
[models."p/a"]
provider = "p"
[routes.r]
candidates = ["p/a"]
{extra}
"#
        );
        let c = crate::config::load_str(&text).expect("config loads");
        Policies::from_config(&c)
    }

    #[test]
    fn hedging_is_off_unless_configured_and_paths_name_errors() {
        let p = cfg("").unwrap();
        assert!(p.route("r").hedge.is_none());
        assert_eq!(p.route("r").retry.passes, 2);
        let p = cfg(
            "[routes.r.hedging]\ndelay = \"250ms\"\n[breaker]\nmin_requests = 3\ncooldown = \"1s\"",
        )
        .unwrap();
        let h = p.route("r").hedge.clone().unwrap();
        assert_eq!(h.delay, Some(Duration::from_millis(250)));
        assert!((p.breaker.min_requests - 3.0).abs() < f64::EPSILON);
        let p = cfg("[routes.r.hedging]\nenabled = false").unwrap();
        assert!(p.route("r").hedge.is_none());
        let e = cfg("[routes.r.retry]\npasses = 0\nbackof = \"1s\"").unwrap_err();
        assert!(
            e.iter().any(|e| e.to_string().contains("routes.r.retry")),
            "{e:?}"
        );
    }

    #[test]
    fn backoff_is_jittered_exponential_and_capped() {
        let r = RetryPolicy::default();
        for _ in 0..50 {
            let b1 = r.backoff(1);
            assert!(b1 >= Duration::from_millis(250) && b1 <= Duration::from_millis(500));
            let b9 = r.backoff(9);
            assert!(b9 >= Duration::from_secs(4) && b9 <= Duration::from_secs(8));
        }
    }
}
