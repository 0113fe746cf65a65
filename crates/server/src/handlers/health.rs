//! Liveness, readiness and metrics.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use crate::state::AppState;

pub async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// Ready once the config is loaded and the stores answer. A provider whose every key the
/// upstream rejected is listed (`providers_without_keys`) but does not make the gateway
/// unready while another provider can serve; only when none can is it a 503.
pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        let engine = state.engine.load();
        let (outages, serving) = engine.key_outages();
        let status = if serving || outages.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        let body = json!({
            "status": if status == StatusCode::OK { "ready" } else { "no usable API key" },
            "models": engine.models.len(),
            "providers_without_keys": outages,
        });
        (status, axum::Json(body)).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "not ready"})),
        )
            .into_response()
    }
}

pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    match &state.metrics {
        Some(render) => (
            [(
                http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled").into_response(),
    }
}
