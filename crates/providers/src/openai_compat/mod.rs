//! `kind = "openai-compatible"`: DeepSeek, Mistral, Groq, Together, DashScope, vLLM, Ollama
//! and any other server speaking the OpenAI dialect. The adapter is `openai::OpenAiProvider`
//! with the flavor's [`Quirks`](crate::openai::Quirks); nothing here does IO of its own.

pub mod convert;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use switchyard_core::Provider;

use crate::openai::OpenAiProvider;
use crate::registry::ProviderSettings;

pub use self::convert::{FLAVORS, flavor, mistral_tool_id};

/// Flavor from `settings.flavor` (default `generic`); base URL from settings or the flavor's
/// public default. `generic` has no default, so it needs `base_url`.
pub fn build(s: &ProviderSettings, c: reqwest::Client) -> Result<Arc<dyn Provider>, String> {
    Ok(Arc::new(build_concrete(s, c)?))
}

/// As [`build`], returning the concrete type (tests and callers that want the quirks).
pub fn build_concrete(s: &ProviderSettings, c: reqwest::Client) -> Result<OpenAiProvider, String> {
    let name = s.flavor.as_deref().unwrap_or("generic");
    let (quirks, default_base) =
        flavor(name).map_err(|e| format!("provider \"{}\": {e}", s.name))?;
    let base = s.base_url.as_deref().or(default_base).ok_or_else(|| {
        format!(
            "provider \"{}\": openai-compatible flavor \"{name}\" has no default URL; set base_url \
             (e.g. \"http://127.0.0.1:8000/v1\"), or set flavor to one of: {}",
            s.name,
            FLAVORS.join(", ")
        )
    })?;
    OpenAiProvider::new(c, base, &s.headers, "openai-compatible", quirks)
        .map_err(|e| format!("provider \"{}\": {e}", s.name))
}
