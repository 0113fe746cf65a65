//! One module per endpoint, plus the steps they share (auth, body parsing, context).

pub mod batches;
mod body;
pub mod chat;
pub mod embeddings;
pub mod explain;
pub mod files;
pub mod health;
pub mod messages;
pub mod models;
pub mod validate;

use std::time::Instant;

use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use switchyard_engine::{Controls, Engine, GatewayError, RequestCtx};

pub use body::{body_bytes, parse_json};

use crate::state::AppState;

/// A JSON answer, or the error envelope (under a fresh request id) for a handler that does
/// not go through the engine: the Batch API's files and batches.
pub fn json_or_error<T: serde::Serialize>(
    state: &AppState,
    r: Result<T, GatewayError>,
) -> Response {
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => crate::envelope::error_response(&e, &state.request_id()),
    }
}

/// The caller's tenant: the fingerprint of its gateway key, or `anonymous` on an open gateway.
pub fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<String, GatewayError> {
    let auth = state.auth();
    let presented =
        bearer(headers).or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()));
    if auth.api_keys.is_empty() {
        return Ok(presented.map_or_else(
            || "anonymous".to_owned(),
            |k| switchyard_core::Secret::new(k).fingerprint(),
        ));
    }
    match presented {
        Some(k) if auth.api_keys.iter().any(|s| s.expose() == k) => Ok(switchyard_core::Secret::new(k).fingerprint()),
        Some(_) => Err(GatewayError::new(401, "invalid_request_error", "auth", "Incorrect API key provided. Use one of the gateway keys configured in [server] api_keys.").with_code("invalid_api_key")),
        None => Err(GatewayError::new(
            401,
            "invalid_request_error",
            "auth",
            "Missing API key. Send it as `Authorization: Bearer <key>`.",
        )
        .with_code("invalid_api_key")),
    }
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
}

pub fn ctx(request_id: String, tenant: String, started: Instant, controls: Controls) -> RequestCtx {
    RequestCtx {
        request_id,
        tenant,
        started,
        ts_ms: now_ms(),
        controls,
    }
}

/// Log a request rejected before the engine saw it (bad body, auth, controls), so every
/// request is accounted.
pub fn record_rejected(
    engine: &Engine,
    request_id: &str,
    started: Instant,
    endpoint: &str,
    e: &GatewayError,
) {
    let rctx = ctx(
        request_id.to_owned(),
        "anonymous".to_owned(),
        started,
        Controls::default(),
    );
    engine.record_rejected(&rctx, endpoint, "", e);
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0))
}
