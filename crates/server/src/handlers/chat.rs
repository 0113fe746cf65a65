//! `POST /v1/chat/completions`, JSON and SSE.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use switchyard_core::ChatRequest;
use switchyard_engine::{ChatServed, Controls, GatewayError};

use super::validate::validate;
use super::{authenticate, body_bytes, ctx, parse_json, record_rejected};
use crate::answer::{json_answer, meta_headers};
use crate::envelope::error_response;
use crate::state::AppState;

pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let request_id = state.request_id();
    let engine = state.engine.load_full();
    let prepared = (|| {
        let tenant = authenticate(&state, &headers)?;
        let bytes = body_bytes(body)?;
        let req: ChatRequest = parse_json(&bytes)?;
        validate(&req)?;
        let controls = Controls::parse(&headers, req.switchyard.as_ref(), req.provider.as_ref())?;
        Ok::<_, GatewayError>((tenant, req, controls))
    })();
    let (tenant, req, controls) = match prepared {
        Ok(p) => p,
        Err(e) => {
            record_rejected(&engine, &request_id, started, "chat", &e);
            return error_response(&e, &request_id);
        }
    };
    let rctx = ctx(request_id.clone(), tenant, started, controls);
    // Boxed so that this handler's future stays small: axum moves the handler future (twice)
    // into its own boxes, and with the engine's state machine inline those moves were ~7 % of
    // the instructions per request in the benchmark profile.
    match Box::pin(engine.chat(req, rctx)).await {
        Ok(ChatServed::Json(resp, meta)) => json_answer(&meta, &*resp),
        Ok(ChatServed::Stream(stream, meta)) => {
            crate::sse::sse_response(stream, meta_headers(&meta))
        }
        Err(e) => error_response(&e, &request_id),
    }
}
