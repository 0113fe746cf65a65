//! Cross-reference checks: every name a route, alias or model points at must exist, every
//! secret reference must resolve, every strategy must be known.

use std::collections::BTreeSet;

use super::Config;
use super::load::{ConfigError, quote_key, resolve_secret};

const STRATEGIES: &[&str] = &["cheapest", "ordered", "weighted", "latency", "cascade"];

/// Every name declared in the file, including entries that failed to parse.
pub(super) struct Declared {
    pub providers: BTreeSet<String>,
    pub models: BTreeSet<String>,
    pub routes: BTreeSet<String>,
}

pub(super) fn validate(cfg: &Config, names: &Declared, errors: &mut Vec<ConfigError>) {
    if names.providers.is_empty() {
        errors.push(ConfigError::new(
            "providers",
            "at least one provider is required",
        ));
    }
    if names.models.is_empty() {
        errors.push(ConfigError::new("models", "at least one model is required"));
    }
    for (name, p) in &cfg.providers {
        let path = format!("providers.{}", quote_key(name));
        if !switchyard_providers::known_kinds().any(|k| k == p.kind) {
            errors.push(ConfigError::new(
                format!("{path}.kind"),
                format!(
                    "unknown provider kind \"{}\" (expected one of: {})",
                    p.kind,
                    switchyard_providers::known_kinds()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        for (i, key) in p.keys.iter().enumerate() {
            if let Err(e) = resolve_secret(key) {
                errors.push(ConfigError::new(format!("{path}.keys[{i}]"), e));
            }
        }
        if let Some(url) = &p.base_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                errors.push(ConfigError::new(
                    format!("{path}.base_url"),
                    "must start with http:// or https://",
                ));
            }
        }
    }
    for (name, m) in &cfg.models {
        let path = format!("models.{}", quote_key(name));
        if !names.providers.contains(&m.provider) {
            errors.push(ConfigError::new(
                format!("{path}.provider"),
                format!("unknown provider \"{}\"", m.provider),
            ));
        }
        for (task, q) in &m.quality {
            if !(0.0..=1.0).contains(q) {
                errors.push(ConfigError::new(
                    format!("{path}.quality.{task}"),
                    "must be between 0 and 1",
                ));
            }
        }
        if let Some(mode) = &m.mode {
            if mode != "chat" && mode != "embedding" {
                errors.push(ConfigError::new(
                    format!("{path}.mode"),
                    "must be \"chat\" or \"embedding\"",
                ));
            }
        }
        if names.routes.contains(name) {
            errors.push(ConfigError::new(path, "a route has the same name"));
        }
    }
    for (name, r) in &cfg.routes {
        let path = format!("routes.{}", quote_key(name));
        if !STRATEGIES.contains(&r.strategy.as_str()) {
            errors.push(ConfigError::new(
                format!("{path}.strategy"),
                format!(
                    "unknown strategy \"{}\" (expected one of: {})",
                    r.strategy,
                    STRATEGIES.join(", ")
                ),
            ));
        }
        let list_name = if r.strategy == "cascade" {
            "tiers"
        } else {
            "candidates"
        };
        let list = if r.strategy == "cascade" {
            &r.tiers
        } else {
            &r.candidates
        };
        if list.is_empty() {
            errors.push(ConfigError::new(
                format!("{path}.{list_name}"),
                "must name at least one model",
            ));
        }
        for (i, m) in list.iter().enumerate() {
            if !names.models.contains(m) {
                errors.push(ConfigError::new(
                    format!("{path}.{list_name}[{i}]"),
                    format!("unknown model \"{m}\""),
                ));
            }
        }
        if r.strategy == "weighted" && r.weights.len() != r.candidates.len() {
            errors.push(ConfigError::new(
                format!("{path}.weights"),
                "needs one weight per candidate",
            ));
        }
        if let Some(b) = &r.baseline {
            if !names.models.contains(b) {
                errors.push(ConfigError::new(
                    format!("{path}.baseline"),
                    format!("unknown model \"{b}\""),
                ));
            }
        }
        if let Some(q) = r.min_quality {
            if !(0.0..=1.0).contains(&q) {
                errors.push(ConfigError::new(
                    format!("{path}.min_quality"),
                    "must be between 0 and 1",
                ));
            }
        }
        if let Some(c) = &r.max_cost {
            if c.parse::<rust_decimal::Decimal>().is_err() {
                errors.push(ConfigError::new(
                    format!("{path}.max_cost"),
                    "must be a decimal USD amount such as \"0.01\"",
                ));
            }
        }
    }
    for (alias, target) in &cfg.aliases {
        if !names.models.contains(target) && !names.routes.contains(target) {
            errors.push(ConfigError::new(
                format!("aliases.{}", quote_key(alias)),
                format!("unknown model or route \"{target}\""),
            ));
        }
    }
    for (i, key) in cfg.server.api_keys.iter().enumerate() {
        if let Err(e) = resolve_secret(key) {
            errors.push(ConfigError::new(format!("server.api_keys[{i}]"), e));
        }
    }
    if let Some(key) = &cfg.server.admin_key {
        if let Err(e) = resolve_secret(key) {
            errors.push(ConfigError::new("server.admin_key", e));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::load_str;

    #[test]
    fn lists_every_error_with_its_path() {
        let errs = load_str(
            r#"
            [providers.oa]
            kind = "openai"
            keys = ["sk-literal"]
            bogus = 1
            [providers.an]
            kind = "anthropic"
            keys = ["env:SWITCHYARD_TEST_SURELY_UNSET"]
            [models."openai/gpt-4o"]
            provider = "oa"
            [models.m2]
            provider = "nope"
            [routes.auto]
            strategy = "cheapest"
            candidates = ["openai/gpt-4o", "gtp-4o"]
            "#,
        )
        .unwrap_err();
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        let joined = text.join("\n");
        assert!(
            joined.contains("providers.oa.bogus: unknown field `bogus`"),
            "{joined}"
        );
        assert!(
            joined.contains(
                "providers.an.keys[0]: environment variable SWITCHYARD_TEST_SURELY_UNSET is not set"
            ),
            "{joined}"
        );
        assert!(
            joined.contains("models.m2.provider: unknown provider \"nope\""),
            "{joined}"
        );
        assert!(
            joined.contains("routes.auto.candidates[1]: unknown model \"gtp-4o\""),
            "{joined}"
        );
        assert!(
            !joined.contains("sk-literal"),
            "a literal key leaked: {joined}"
        );
    }

    #[test]
    fn literal_key_rejected_without_echo() {
        let errs = load_str(
            r#"
            [providers.oa]
            kind = "openai"
            keys = ["sk-literal-secret"]
            [models.m]
            provider = "oa"
            "#,
        )
        .unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].path, "providers.oa.keys[0]");
        assert!(!errs[0].message.contains("sk-literal-secret"));
    }
}
