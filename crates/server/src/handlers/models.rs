//! `GET /v1/models`: every routable name (models, routes, aliases) with OpenRouter-style
//! fields: context length, pricing, capabilities, and live key health.
//!
//! `pricing` follows OpenRouter: USD per token as decimal strings (`prompt`, `completion`, and
//! `input_cache_read`, `input_cache_write`, `internal_reasoning` where the catalog has a rate
//! of its own), read from the live price book the engine bills with. A model whose price is
//! unknown has `pricing: null`, never zeros.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use switchyard_engine::cost::ListedPrices;
use switchyard_engine::{Engine, GatewayError, ModelRt};

use crate::state::AppState;

const CREATED: u64 = 1_700_000_000;

pub async fn list_models(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(models_json(&state.engine.load()))
}

/// `GET /v1/models/{id}` (the SDKs' `models.retrieve`): one entry of the list. Ids contain
/// slashes (`openai/gpt-4o-mini`), so the route captures the rest of the path.
pub async fn retrieve_model(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Response {
    let list = models_json(&state.engine.load());
    let found = list["data"]
        .as_array()
        .and_then(|d| d.iter().find(|m| m["id"] == id.as_str()));
    match found {
        Some(m) => Json(m.clone()).into_response(),
        None => {
            crate::envelope::error_response(&GatewayError::unknown_model(&id), &state.request_id())
        }
    }
}

pub fn models_json(engine: &Engine) -> Value {
    let mut data = Vec::new();
    for (i, m) in engine.models.iter().enumerate() {
        let (usable, cooling, dead) = m.keys.status(&m.upstream);
        let mut entry = model_fields(engine, m);
        entry.insert("owned_by".into(), json!(m.provider_name));
        entry.insert(
            "switchyard".into(),
            json!({
                "kind": "model",
                "mode": if m.embedding { "embedding" } else { "chat" },
                "provider": m.provider_name,
                "upstream": m.upstream,
                "price_id": m.price_id,
                "keys": {"usable": usable, "cooling": cooling, "dead": dead},
                "breaker": engine.breaker_view(i),
                "quality": m.quality,
            }),
        );
        data.push(Value::Object(entry));
    }
    for (name, r) in &engine.routes {
        // A route's price is that of whichever candidate serves the request, so no single
        // figure is right: `pricing` is null and the candidates (each listed with its own
        // pricing) are named, rather than a min or max a client could mistake for the bill.
        data.push(json!({
            "id": name,
            "object": "model",
            "created": CREATED,
            "owned_by": "switchyard",
            "pricing": null,
            "switchyard": {
                "kind": "route",
                "strategy": r.strategy.as_str(),
                "candidates": r.candidates.iter().map(|&i| engine.models[i].name.clone()).collect::<Vec<_>>(),
            },
        }));
    }
    for (alias, target) in &engine.aliases {
        // An alias to a model is that model under another name: its pricing, context and
        // capabilities. An alias to a route gets the route's (null) pricing.
        let mut entry = match engine.model(target) {
            Some(m) => model_fields(engine, m),
            None => Map::from_iter([("pricing".to_owned(), Value::Null)]),
        };
        entry.insert("id".into(), json!(alias));
        entry.insert("object".into(), json!("model"));
        entry.insert("created".into(), json!(CREATED));
        entry.insert("owned_by".into(), json!("switchyard"));
        entry.insert(
            "switchyard".into(),
            json!({"kind": "alias", "target": target}),
        );
        data.push(Value::Object(entry));
    }
    json!({"object": "list", "data": data})
}

/// The fields a concrete model and an alias to it share.
fn model_fields(engine: &Engine, m: &ModelRt) -> Map<String, Value> {
    let mut f = Map::new();
    f.insert("id".into(), json!(m.name));
    f.insert("object".into(), json!("model"));
    f.insert("created".into(), json!(CREATED));
    f.insert("context_length".into(), json!(m.context_window));
    f.insert(
        "top_provider".into(),
        json!({"max_completion_tokens": m.max_output}),
    );
    f.insert("capabilities".into(), json!(m.caps));
    f.insert(
        "pricing".into(),
        engine.listed_prices(m).map_or(Value::Null, pricing_json),
    );
    f
}

fn pricing_json(p: ListedPrices) -> Value {
    let mut o = Map::new();
    o.insert("prompt".into(), json!(p.prompt.to_string()));
    o.insert("completion".into(), json!(p.completion.to_string()));
    for (k, v) in [
        ("input_cache_read", p.input_cache_read),
        ("input_cache_write", p.input_cache_write),
        ("internal_reasoning", p.internal_reasoning),
    ] {
        if let Some(v) = v {
            o.insert(k.into(), json!(v.to_string()));
        }
    }
    Value::Object(o)
}
