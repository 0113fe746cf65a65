//! Provider kind -> factory. The engine and server see only `Arc<dyn Provider>`.

use std::collections::BTreeMap;
use std::sync::Arc;

use switchyard_core::Provider;

/// A provider's settings from config, minus its keys (the engine owns key pools).
#[derive(Debug, Clone, Default)]
pub struct ProviderSettings {
    /// The config name, e.g. `deepseek` in `[providers.deepseek]`.
    pub name: String,
    /// `openai` | `openai-compatible` | `anthropic` | `gemini`.
    pub kind: String,
    /// Upstream base URL; each kind has a public default.
    pub base_url: Option<String>,
    /// openai-compatible only: whose quirks to apply (`deepseek`, `mistral`, `together`, `groq`,
    /// `vllm`, `ollama`, `dashscope`, or `generic`).
    pub flavor: Option<String>,
    /// Output cap to send when the client gives none and the upstream requires one (Anthropic).
    pub default_max_tokens: Option<u32>,
    /// Extra headers sent on every upstream call (non-secret).
    pub headers: BTreeMap<String, String>,
}

type Factory = fn(&ProviderSettings, reqwest::Client) -> Result<Arc<dyn Provider>, String>;

/// Every kind and how to build it. A test asserts each kind builds from default settings.
const REGISTRY: &[(&str, Factory)] = &[
    ("openai", crate::openai::build),
    ("openai-compatible", crate::openai_compat::build),
    ("anthropic", crate::anthropic::build),
    ("gemini", crate::gemini::build),
];

pub fn known_kinds() -> impl Iterator<Item = &'static str> {
    REGISTRY.iter().map(|(k, _)| *k)
}

pub fn build_provider(
    settings: &ProviderSettings,
    client: reqwest::Client,
) -> Result<Arc<dyn Provider>, String> {
    let (_, factory) = REGISTRY
        .iter()
        .find(|(k, _)| *k == settings.kind)
        .ok_or_else(|| {
            format!(
                "unknown provider kind \"{}\" (expected one of: {})",
                settings.kind,
                known_kinds().collect::<Vec<_>>().join(", ")
            )
        })?;
    factory(settings, client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_builds() {
        for kind in known_kinds() {
            // The generic openai-compatible flavor has no public default URL, so give one.
            let s = ProviderSettings {
                name: kind.to_owned(),
                kind: kind.to_owned(),
                base_url: Some("http://127.0.0.1:9/v1".to_owned()),
                ..ProviderSettings::default()
            };
            let p = build_provider(&s, reqwest::Client::new()).unwrap();
            assert!(!p.kind().is_empty());
        }
        assert!(
            build_provider(
                &ProviderSettings {
                    kind: "nope".into(),
                    ..Default::default()
                },
                reqwest::Client::new()
            )
            .is_err()
        );
    }
}
