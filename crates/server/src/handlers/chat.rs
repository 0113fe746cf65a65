//! `POST /v1/chat/completions`, JSON and SSE.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use switchyard_core::{ChatRequest, Role};
use switchyard_engine::pipeline::Meta;
use switchyard_engine::{ChatServed, Controls, GatewayError};

use super::{authenticate, body_bytes, ctx, parse_json, record_rejected};
use crate::envelope::{error_response, set};
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
        Ok(ChatServed::Json(resp, meta)) => json_response(meta_headers(&meta), &*resp),
        Ok(ChatServed::Stream(stream, meta)) => {
            crate::sse::sse_response(stream, meta_headers(&meta))
        }
        Err(e) => error_response(&e, &request_id),
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-switchyard-request-id");
const MODEL: HeaderName = HeaderName::from_static("x-switchyard-model");
const PROVIDER: HeaderName = HeaderName::from_static("x-switchyard-provider");
const ATTEMPTS: HeaderName = HeaderName::from_static("x-switchyard-attempts");
const ROUTE: HeaderName = HeaderName::from_static("x-switchyard-route");
const CACHE: HeaderName = HeaderName::from_static("x-switchyard-cache");
const OVERHEAD: HeaderName = HeaderName::from_static("x-switchyard-overhead-ms");
const COST: HeaderName = HeaderName::from_static("x-switchyard-cost");

/// SPEC section 2's response headers. Built on every answer, so the names are constants (no
/// parse per header) and strings made here become values without another copy; a value not valid
/// in a header (a control character in a config name) is left out.
pub fn meta_headers(meta: &Meta) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(10);
    set(&mut h, REQUEST_ID, &meta.request_id);
    if let Some(m) = &meta.model {
        set(&mut h, MODEL, m);
    }
    if let Some(p) = &meta.provider {
        set(&mut h, PROVIDER, p);
    }
    set(&mut h, ATTEMPTS, meta.attempts_header());
    set(&mut h, ROUTE, &meta.route);
    h.insert(CACHE, HeaderValue::from_static(meta.cache));
    set(&mut h, OVERHEAD, millis_3(meta.overhead_ms));
    // Known for JSON answers; a stream's cost arrives in its final usage chunk.
    if let Some(c) = meta.cost {
        set(&mut h, COST, c.to_string());
    }
    h
}

/// `ms` with three decimals, through integer formatting: `{:.3}` on an f64 goes through the
/// float formatter, several times the cost, on every answer.
fn millis_3(ms: f64) -> String {
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "an overhead is a small non-negative number of milliseconds"
    )]
    let us = (ms.max(0.0) * 1000.0).round() as u64;
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// The body serialized straight into one buffer sized for a typical answer, and `headers`
/// becoming the response's own map: `(headers, Json(..))` grew a small buffer several times
/// and then copied every header into a second map.
pub fn json_response<T: serde::Serialize + ?Sized>(mut headers: HeaderMap, body: &T) -> Response {
    let mut buf = Vec::with_capacity(1024);
    if let Err(e) = serde_json::to_writer(&mut buf, body) {
        let err = GatewayError::new(
            500,
            "api_error",
            "internal",
            format!("serializing the answer: {e}"),
        );
        return error_response(&err, "");
    }
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut r = Response::new(axum::body::Body::from(buf));
    *r.headers_mut() = headers;
    r
}

/// What the OpenAI API itself rejects, rejected here before any provider sees it.
fn validate(req: &ChatRequest) -> Result<(), GatewayError> {
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

#[cfg(test)]
mod tests {
    use super::millis_3;

    #[test]
    fn overhead_has_three_decimals() {
        for (ms, s) in [
            (0.0, "0.000"),
            (0.0414, "0.041"),
            (1.2345, "1.235"),
            (12.0, "12.000"),
            (-1.0, "0.000"),
        ] {
            assert_eq!(millis_3(ms), s);
        }
    }
}
