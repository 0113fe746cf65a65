//! `[cache]` (defaults for every route), `[routes.NAME.cache]` (per-route overrides) and the
//! `url` of `[state]` (the shared backend). The engine's config keeps these as raw TOML; they
//! are parsed here with errors that name the full path (`routes.auto.cache.ttl`).

use std::time::Duration;

use serde::Deserialize;

use crate::config::{Config, ConfigError};

/// The top-level `[cache]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSection {
    /// Exact cache on every route unless a route says otherwise.
    #[serde(default)]
    pub enabled: bool,
    /// Merge identical requests in flight. Defaults to `enabled`.
    #[serde(default)]
    pub coalesce: Option<bool>,
    /// How long an answer stays servable (`Cache-Control: max-age=N` overrides per request).
    #[serde(default = "default_ttl", with = "humantime_str")]
    pub ttl: Duration,
    /// Also cache requests that are not deterministic (temperature absent or above 0).
    #[serde(default)]
    pub nondeterministic: bool,
    /// Memory bound of the in-process store, in bytes (approximate: the answers' JSON size).
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
    /// Key prefix in the shared store (Redis), so deployments (or tests) can share a server.
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
}

impl Default for CacheSection {
    fn default() -> Self {
        CacheSection {
            enabled: false,
            coalesce: None,
            ttl: default_ttl(),
            nondeterministic: false,
            max_bytes: default_max_bytes(),
            key_prefix: default_prefix(),
        }
    }
}

/// `[routes.NAME.cache]`: every key optional, falling back to `[cache]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteCacheSection {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub coalesce: Option<bool>,
    #[serde(default, with = "humantime_str::option")]
    pub ttl: Option<Duration>,
    #[serde(default)]
    pub nondeterministic: Option<bool>,
    /// Near-duplicate cache on this route (off unless set).
    #[serde(default)]
    pub semantic: bool,
    /// Minimum cosine for a near-duplicate hit; the matcher's calibrated default when unset.
    #[serde(default)]
    pub semantic_threshold: Option<f32>,
}

/// What applies to one request's route, after merging.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub enabled: bool,
    pub coalesce: bool,
    pub ttl: Duration,
    pub nondeterministic: bool,
    pub semantic: bool,
    pub semantic_threshold: Option<f32>,
}

/// Everything the cache needs from one config generation.
#[derive(Debug, Clone, Default)]
pub struct CacheConfig {
    pub section: CacheSection,
    pub routes: std::collections::HashMap<String, RouteCacheSection>,
    /// `[state] url` when it names Redis.
    pub redis_url: Option<String>,
}

impl CacheConfig {
    pub fn parse(config: &Config, errors: &mut Vec<ConfigError>) -> CacheConfig {
        let mut out = CacheConfig::default();
        if let Some(v) = &config.cache {
            if let Some(s) = parse_at::<CacheSection>(v, "cache", errors) {
                if s.key_prefix.is_empty() {
                    errors.push(ConfigError::new("cache.key_prefix", "must not be empty"));
                }
                out.section = s;
            }
        }
        for (name, r) in &config.routes {
            let Some(v) = &r.cache else { continue };
            let path = format!("routes.{name}.cache");
            if let Some(rc) = parse_at::<RouteCacheSection>(v, &path, errors) {
                if let Some(t) = rc.semantic_threshold {
                    if !(0.0..=1.0).contains(&t) {
                        errors.push(ConfigError::new(
                            format!("{path}.semantic_threshold"),
                            format!("must be a cosine from 0 to 1, got {t}"),
                        ));
                    }
                }
                out.routes.insert(name.clone(), rc);
            }
        }
        // `[state]` belongs to the shared-state layer; the cache reads only its `url`.
        if let Some(url) = config.state.as_ref().and_then(|s| s.get("url")) {
            match url.as_str() {
                Some(u) if u.starts_with("redis://") || u.starts_with("rediss://") => {
                    out.redis_url = Some(u.to_owned());
                }
                Some("memory") => {}
                Some(u) => errors.push(ConfigError::new(
                    "state.url",
                    format!("expected \"memory\" or redis://HOST:PORT, got {u:?}"),
                )),
                None => errors.push(ConfigError::new("state.url", "must be a string")),
            }
        }
        out
    }

    /// The policy for a resolved route (or a concrete model, which gets `[cache]` alone).
    pub fn policy(&self, route: &str) -> Policy {
        let s = &self.section;
        let r = self.routes.get(route);
        let enabled = r.and_then(|r| r.enabled).unwrap_or(s.enabled);
        Policy {
            enabled,
            coalesce: r.and_then(|r| r.coalesce).or(s.coalesce).unwrap_or(enabled),
            ttl: r.and_then(|r| r.ttl).unwrap_or(s.ttl),
            nondeterministic: r
                .and_then(|r| r.nondeterministic)
                .unwrap_or(s.nondeterministic),
            semantic: r.is_some_and(|r| r.semantic),
            semantic_threshold: r.and_then(|r| r.semantic_threshold),
        }
    }
}

fn parse_at<T: serde::de::DeserializeOwned>(
    v: &toml::Value,
    path: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<T> {
    match serde_path_to_error::deserialize(v.clone()) {
        Ok(t) => Some(t),
        Err(e) => {
            let inner = e.path().to_string();
            let full = if inner == "." || inner.is_empty() {
                path.to_owned()
            } else {
                format!("{path}.{inner}")
            };
            errors.push(ConfigError::new(full, e.into_inner().to_string()));
            None
        }
    }
}

fn default_ttl() -> Duration {
    Duration::from_secs(600)
}
fn default_max_bytes() -> u64 {
    64 * 1024 * 1024
}
fn default_prefix() -> String {
    "switchyard:cache".to_owned()
}

/// Durations as humantime strings ("30s", "10m").
mod humantime_str {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }

    pub mod option {
        use super::*;
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
                .transpose()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(extra: &str) -> Result<CacheConfig, Vec<ConfigError>> {
        let text = format!(
            "[providers.p]\nkind = \"openai\"\n[models.\"p/m\"]\nprovider = \"p\"\n[routes.r]\ncandidates = [\"p/m\"]\n{extra}"
        );
        let config = crate::config::load_str(&text)
            .map_err(|e| vec![ConfigError::new("load", format!("{e:?}"))])?;
        let mut errors = Vec::new();
        let c = CacheConfig::parse(&config, &mut errors);
        if errors.is_empty() {
            Ok(c)
        } else {
            Err(errors)
        }
    }

    #[test]
    fn route_overrides_top_level() {
        let c = cfg("[routes.r.cache]\nttl = \"5s\"\nsemantic = true\n[cache]\nenabled = true\nttl = \"1m\"\n").unwrap();
        let p = c.policy("r");
        assert!(p.enabled && p.coalesce && p.semantic);
        assert_eq!(p.ttl, Duration::from_secs(5));
        assert_eq!(c.policy("p/m").ttl, Duration::from_secs(60));
        assert!(!c.policy("p/m").semantic);
    }

    #[test]
    fn errors_name_the_path() {
        let e = cfg("[routes.r.cache]\nttl = \"soon\"\n").unwrap_err();
        assert!(e[0].to_string().contains("routes.r.cache.ttl"), "{:?}", e);
        let e = cfg("[cache]\nenabeld = true\n").unwrap_err();
        assert!(e[0].to_string().contains("cache"), "{:?}", e);
        let e = cfg("[state]\nurl = \"postgres://x\"\n").unwrap_err();
        assert!(e[0].to_string().contains("state.url"), "{:?}", e);
    }

    #[test]
    fn off_without_a_section() {
        let c = cfg("").unwrap();
        let p = c.policy("r");
        assert!(!p.enabled && !p.coalesce);
    }
}
