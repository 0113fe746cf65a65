//! `POST /v1/chat/completions`, JSON and SSE.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use switchyard_core::{ChatRequest, Role};
use switchyard_engine::{ChatServed, Controls, GatewayError};

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

/// What the OpenAI API itself rejects, rejected here before any provider sees it.
pub(crate) fn validate(req: &ChatRequest) -> Result<(), GatewayError> {
    if req.model.trim().is_empty() {
        return Err(GatewayError::bad_request(
            "`model` is required: a model, alias or route name (GET /v1/models lists them).",
        )
        .with_param("model"));
    }
    if req.messages.is_empty() {
        return Err(
            GatewayError::bad_request("`messages` must contain at least one message.")
                .with_param("messages"),
        );
    }
    for (i, m) in req.messages.iter().enumerate() {
        if m.role == Role::Tool && m.tool_call_id.is_none() {
            return Err(GatewayError::bad_request(format!(
                "messages[{i}]: a tool message needs `tool_call_id`."
            ))
            .with_param(format!("messages[{i}].tool_call_id")));
        }
        if m.content.is_none() && m.tool_calls.is_none() && m.role != Role::Assistant {
            return Err(GatewayError::bad_request(
                format!(
                    "messages[{i}]: `content` is required for role {:?}.",
                    m.role
                )
                .to_lowercase(),
            )
            .with_param(format!("messages[{i}].content")));
        }
    }
    if let Some(n) = req.n {
        if !(1..=128).contains(&n) {
            return Err(GatewayError::bad_request("`n` must be between 1 and 128.").with_param("n"));
        }
    }
    if let Some(t) = req.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(
                GatewayError::bad_request("`temperature` must be between 0 and 2.")
                    .with_param("temperature"),
            );
        }
    }
    if let Some(p) = req.top_p {
        if !(0.0..=1.0).contains(&p) {
            return Err(
                GatewayError::bad_request("`top_p` must be between 0 and 1.").with_param("top_p"),
            );
        }
    }
    if let Some(k) = req.top_logprobs {
        if k > 20 {
            return Err(
                GatewayError::bad_request("`top_logprobs` must be between 0 and 20.")
                    .with_param("top_logprobs"),
            );
        }
        if req.logprobs != Some(true) {
            return Err(
                GatewayError::bad_request("`top_logprobs` requires `logprobs: true`.")
                    .with_param("top_logprobs"),
            );
        }
    }
    if req.stop_list().len() > 4 {
        return Err(
            GatewayError::bad_request("`stop` takes at most 4 sequences.").with_param("stop"),
        );
    }
    if req.stream_options.is_some() && !req.stream {
        return Err(GatewayError::bad_request(
            "`stream_options` is only allowed when `stream` is true.",
        )
        .with_param("stream_options"));
    }
    if let Some(tools) = &req.tools {
        for (i, t) in tools.iter().enumerate() {
            let name = &t.function.name;
            if name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return Err(GatewayError::bad_request(format!(
                    "tools[{i}].function.name must match ^[a-zA-Z0-9_-]{{1,64}}$."
                ))
                .with_param(format!("tools[{i}].function.name")));
            }
        }
    }
    Ok(())
}
