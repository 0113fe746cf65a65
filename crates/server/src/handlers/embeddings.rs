//! `POST /v1/embeddings`, routed like chat.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use switchyard_core::{EmbedInput, EmbedRequest};
use switchyard_engine::{Controls, GatewayError};

use super::{authenticate, body_bytes, ctx, parse_json, record_rejected};
use crate::envelope::error_response;
use crate::state::AppState;

pub async fn embeddings(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let request_id = state.request_id();
    let engine = state.engine.load_full();
    let prepared = (|| {
        let tenant = authenticate(&state, &headers)?;
        let req: EmbedRequest = parse_json(&body_bytes(body)?)?;
        let empty = match &req.input {
            EmbedInput::One(s) => s.is_empty(),
            EmbedInput::Many(v) => v.is_empty() || v.iter().any(String::is_empty),
            EmbedInput::Tokens(t) => t.is_empty(),
            EmbedInput::TokenBatches(t) => t.is_empty() || t.iter().any(Vec::is_empty),
        };
        if empty {
            return Err(GatewayError::bad_request(
                "`input` must not be empty (and no input string may be empty).",
            )
            .with_param("input"));
        }
        let controls = Controls::parse(&headers, None, None)?;
        Ok::<_, GatewayError>((tenant, req, controls))
    })();
    let (tenant, req, controls) = match prepared {
        Ok(p) => p,
        Err(e) => {
            record_rejected(&engine, &request_id, started, "embeddings", &e);
            return error_response(&e, &request_id);
        }
    };
    let rctx = ctx(request_id.clone(), tenant, started, controls);
    match engine.embed(req, rctx).await {
        Ok(served) => crate::answer::json_answer(&served.meta, &served.body),
        Err(e) => error_response(&e, &request_id),
    }
}
