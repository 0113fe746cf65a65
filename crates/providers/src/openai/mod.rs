//! Placeholder until the adapter lands.
use std::sync::Arc;

use switchyard_core::Provider;

use crate::registry::ProviderSettings;

pub fn build(_s: &ProviderSettings, _c: reqwest::Client) -> Result<Arc<dyn Provider>, String> {
    Err("not implemented yet".to_owned())
}
