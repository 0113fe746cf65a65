//! `POST /v1/route/explain`: the routing decision for a request body, without calling anyone
//! (including the per-prompt router's pick, `prompt_router`).

use std::sync::Arc;

use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderMap;
use switchyard_core::ChatRequest;
use switchyard_engine::{Controls, GatewayError};

use super::validate::validate;
use super::{authenticate, body_bytes, parse_json};
use crate::envelope::error_response;
use crate::state::AppState;

pub async fn explain(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let request_id = state.request_id();
    let engine = state.engine.load_full();
    let result = (|| {
        authenticate(&state, &headers)?;
        let req: ChatRequest = parse_json(&body_bytes(body)?)?;
        // The same 400 the real endpoint gives: a body it would reject has no routing decision.
        validate(&req)?;
        let controls = Controls::parse(&headers, req.switchyard.as_ref(), req.provider.as_ref())?;
        let mut plan = engine.plan(&req, &controls)?;
        // What the request path does next: the per-prompt router may reorder the candidates.
        engine.apply_prompt_router(&req, &controls, &mut plan);
        Ok(plan)
    })();
    match result {
        Ok(plan) => axum::Json(plan).into_response(),
        Err(e) => error_response(&e as &GatewayError, &request_id),
    }
}
