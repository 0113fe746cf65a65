//! `GET /v1/models`: every routable name (models, routes, aliases) with OpenRouter-style
//! fields: context length, pricing, capabilities, and live key health.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};
use switchyard_engine::Engine;

use crate::state::AppState;

pub async fn list_models(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(models_json(&state.engine.load()))
}

pub fn models_json(engine: &Engine) -> Value {
    let created = 1_700_000_000;
    let mut data = Vec::new();
    for (i, m) in engine.models.iter().enumerate() {
        let (usable, cooling, dead) = m.keys.status(&m.upstream);
        data.push(json!({
            "id": m.name,
            "object": "model",
            "created": created,
            "owned_by": m.provider_name,
            "switchyard": {
                "kind": "model",
                "mode": if m.embedding { "embedding" } else { "chat" },
                "provider": m.provider_name,
                "upstream": m.upstream,
                "price_id": m.price_id,
                "keys": {"usable": usable, "cooling": cooling, "dead": dead},
                "breaker": engine.breaker_view(i),
                "quality": m.quality,
            },
            "context_length": m.context_window,
            "top_provider": {"max_completion_tokens": m.max_output},
            "capabilities": m.caps,
        }));
    }
    for (name, r) in &engine.routes {
        data.push(json!({
            "id": name,
            "object": "model",
            "created": created,
            "owned_by": "switchyard",
            "switchyard": {
                "kind": "route",
                "strategy": r.strategy.as_str(),
                "candidates": r.candidates.iter().map(|&i| engine.models[i].name.clone()).collect::<Vec<_>>(),
            },
        }));
    }
    for (alias, target) in &engine.aliases {
        data.push(json!({
            "id": alias,
            "object": "model",
            "created": created,
            "owned_by": "switchyard",
            "switchyard": {"kind": "alias", "target": target},
        }));
    }
    json!({"object": "list", "data": data})
}
