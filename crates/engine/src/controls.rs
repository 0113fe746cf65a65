//! Per-request controls a client may add, from headers or the body's `switchyard: {...}`
//! object (headers win), and OpenRouter's `models` / `provider` extras.

use std::time::Duration;

use http::HeaderMap;
use rust_decimal::Decimal;
use serde_json::Value;
use switchyard_core::Usd;

use crate::error::GatewayError;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Controls {
    pub task: Option<String>,
    pub max_cost: Option<Usd>,
    pub latency_budget: Option<Duration>,
    pub min_quality: Option<f64>,
    pub cache: CacheControl,
    /// OpenRouter `provider.order`: provider names to prefer, in order.
    pub provider_order: Vec<String>,
    /// OpenRouter `provider.allow_fallbacks` (default true).
    pub allow_fallbacks: bool,
    /// OpenRouter `provider.sort`: price | latency | throughput.
    pub sort: Option<String>,
    /// OpenRouter `provider.max_price` in USD per million tokens.
    pub max_price_prompt: Option<Decimal>,
    pub max_price_completion: Option<Decimal>,
    /// Cache namespace (`x-switchyard-cache-namespace`), to share or split cache between tenants.
    pub cache_namespace: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheControl {
    #[default]
    Default,
    /// `no-cache`: do not serve from cache, but store the fresh answer.
    Refresh,
    /// `no-store`: bypass the cache entirely.
    Bypass,
    /// `max-age=N`: accept a cached answer at most N seconds old, store with TTL N.
    MaxAge(u64),
}

const TASKS_HELP: &str = "code, translation, reasoning, summarization, extraction, chat, creative";

impl Controls {
    /// Read headers and body extras. Bad values are client errors naming the field.
    pub fn parse(
        headers: &HeaderMap,
        body_extras: Option<&Value>,
        provider: Option<&Value>,
    ) -> Result<Controls, GatewayError> {
        let mut c = Controls {
            allow_fallbacks: true,
            ..Controls::default()
        };
        let body = body_extras.and_then(Value::as_object);
        // Most requests carry none of these headers: one pass over the few names present
        // spares six by-name lookups (each parses and hashes the name) per request.
        let ours = headers.keys().any(|k| {
            let k = k.as_str();
            k.starts_with("x-switchyard-") || k == "cache-control"
        });
        let header = |name: &str| {
            if !ours {
                return None;
            }
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let body_str = |name: &str| -> Option<String> {
            body.and_then(|b| b.get(name)).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        };

        c.task = header("x-switchyard-task")
            .map(str::to_owned)
            .or_else(|| body_str("task"));
        if let Some(t) = &c.task {
            if t.is_empty()
                || t.len() > 40
                || !t
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
            {
                return Err(GatewayError::bad_request(format!(
                    "x-switchyard-task must be a short task name such as {TASKS_HELP}"
                ))
                .with_param("switchyard.task"));
            }
        }
        if let Some(v) = header("x-switchyard-max-cost")
            .map(str::to_owned)
            .or_else(|| body_str("max_cost"))
        {
            let d: Decimal = v.parse().map_err(|_| {
                GatewayError::bad_request(format!(
                    "x-switchyard-max-cost must be a USD amount such as 0.01, got {v:?}"
                ))
                .with_param("switchyard.max_cost")
            })?;
            if d.is_sign_negative() {
                return Err(GatewayError::bad_request(
                    "x-switchyard-max-cost must not be negative",
                )
                .with_param("switchyard.max_cost"));
            }
            c.max_cost = Some(Usd(d));
        }
        if let Some(v) = header("x-switchyard-latency-budget-ms")
            .map(str::to_owned)
            .or_else(|| body_str("latency_budget_ms"))
        {
            let ms: u64 = v.parse().map_err(|_| {
                GatewayError::bad_request(format!("x-switchyard-latency-budget-ms must be a whole number of milliseconds, got {v:?}"))
                    .with_param("switchyard.latency_budget_ms")
            })?;
            c.latency_budget = Some(Duration::from_millis(ms));
        }
        if let Some(v) = header("x-switchyard-min-quality")
            .map(str::to_owned)
            .or_else(|| body_str("min_quality"))
        {
            let q: f64 = v
                .parse()
                .ok()
                .filter(|q: &f64| (0.0..=1.0).contains(q))
                .ok_or_else(|| {
                    GatewayError::bad_request(format!(
                        "x-switchyard-min-quality must be a number from 0 to 1, got {v:?}"
                    ))
                    .with_param("switchyard.min_quality")
                })?;
            c.min_quality = Some(q);
        }
        if let Some(v) = header("cache-control") {
            c.cache = parse_cache_control(v);
        }
        c.cache_namespace = header("x-switchyard-cache-namespace")
            .map(str::to_owned)
            .or_else(|| body_str("cache_namespace"));

        if let Some(p) = provider {
            let p = p.as_object().ok_or_else(|| {
                GatewayError::bad_request(
                    "`provider` must be an object such as {\"order\": [\"openai\"]}",
                )
                .with_param("provider")
            })?;
            if let Some(order) = p.get("order") {
                c.provider_order = order
                    .as_array()
                    .ok_or_else(|| {
                        GatewayError::bad_request(
                            "`provider.order` must be a list of provider names",
                        )
                        .with_param("provider.order")
                    })?
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
            }
            if let Some(b) = p.get("allow_fallbacks") {
                c.allow_fallbacks = b.as_bool().ok_or_else(|| {
                    GatewayError::bad_request("`provider.allow_fallbacks` must be true or false")
                        .with_param("provider.allow_fallbacks")
                })?;
            }
            if let Some(s) = p.get("sort") {
                let s = s.as_str().unwrap_or_default();
                if !matches!(s, "price" | "latency" | "throughput") {
                    return Err(GatewayError::bad_request(
                        "`provider.sort` must be price, latency or throughput",
                    )
                    .with_param("provider.sort"));
                }
                c.sort = Some(s.to_owned());
            }
            if let Some(mp) = p.get("max_price").and_then(Value::as_object) {
                let dec = |k: &str| -> Result<Option<Decimal>, GatewayError> {
                    match mp.get(k) {
                        None | Some(Value::Null) => Ok(None),
                        Some(v) => {
                            let s = match v {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            s.parse::<Decimal>().map(Some).map_err(|_| {
                                GatewayError::bad_request(format!(
                                    "`provider.max_price.{k}` must be USD per million tokens"
                                ))
                                .with_param(format!("provider.max_price.{k}"))
                            })
                        }
                    }
                };
                c.max_price_prompt = dec("prompt")?;
                c.max_price_completion = dec("completion")?;
            }
        }
        Ok(c)
    }
}

fn parse_cache_control(v: &str) -> CacheControl {
    let mut out = CacheControl::Default;
    for part in v.split(',').map(str::trim) {
        let lower = part.to_ascii_lowercase();
        if lower == "no-store" {
            return CacheControl::Bypass;
        } else if lower == "no-cache" {
            out = CacheControl::Refresh;
        } else if let Some(n) = lower.strip_prefix("max-age=") {
            if let Ok(n) = n.parse() {
                if out == CacheControl::Default {
                    out = CacheControl::MaxAge(n);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hm(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn headers_win_over_body() {
        let c = Controls::parse(
            &hm(&[("x-switchyard-task", "code"), ("x-switchyard-max-cost", "0.02")]),
            Some(&json!({"task": "chat", "max_cost": 1, "latency_budget_ms": 1500, "min_quality": 0.7})),
            None,
        )
        .unwrap();
        assert_eq!(c.task.as_deref(), Some("code"));
        assert_eq!(c.max_cost.unwrap().to_string(), "0.02");
        assert_eq!(c.latency_budget, Some(Duration::from_millis(1500)));
        assert_eq!(c.min_quality, Some(0.7));
    }

    #[test]
    fn bad_values_name_the_field() {
        let e = Controls::parse(&hm(&[("x-switchyard-min-quality", "2")]), None, None).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.param.as_deref(), Some("switchyard.min_quality"));
        let e =
            Controls::parse(&HeaderMap::new(), None, Some(&json!({"sort": "vibes"}))).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("provider.sort"));
    }

    #[test]
    fn cache_control_forms() {
        assert_eq!(parse_cache_control("no-store"), CacheControl::Bypass);
        assert_eq!(parse_cache_control("no-cache"), CacheControl::Refresh);
        assert_eq!(parse_cache_control("max-age=60"), CacheControl::MaxAge(60));
        assert_eq!(
            parse_cache_control("max-age=60, no-store"),
            CacheControl::Bypass
        );
    }

    #[test]
    fn openrouter_provider_prefs() {
        let c = Controls::parse(
            &HeaderMap::new(),
            None,
            Some(&json!({"order": ["anthropic", "openai"], "allow_fallbacks": false, "sort": "price", "max_price": {"prompt": 1, "completion": "2.5"}})),
        )
        .unwrap();
        assert_eq!(c.provider_order, vec!["anthropic", "openai"]);
        assert!(!c.allow_fallbacks);
        assert_eq!(c.max_price_completion.unwrap().to_string(), "2.5");
    }
}
