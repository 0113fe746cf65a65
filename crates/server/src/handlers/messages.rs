//! `POST /v1/messages`: the Anthropic Messages dialect, routed like chat.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;
use switchyard_core::ChatRequest;
use switchyard_engine::outstream::OutItem;
use switchyard_engine::{ChatServed, Controls, Engine, GatewayError, RequestCtx};

use super::{authenticate, body_bytes, ctx, parse_json, record_rejected};
use crate::answer::{json_answer, meta_headers};
use crate::anthropic::{error_body, request, response, stream::Translator};
use crate::envelope::set;
use crate::state::AppState;

fn error_response(e: &GatewayError, request_id: &str) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut h = HeaderMap::new();
    set(&mut h, "x-switchyard-request-id", request_id);
    set(&mut h, "request-id", request_id);
    if !e.attempts.is_empty() {
        set(
            &mut h,
            "x-switchyard-attempts",
            &switchyard_engine::pipeline::attempts_header(&e.attempts),
        );
    }
    if let Some(d) = e.retry_after {
        set(
            &mut h,
            "retry-after",
            &d.as_secs_f64().ceil().max(1.0).to_string(),
        );
    }
    (status, h, axum::Json(error_body(e))).into_response()
}

/// What both Messages endpoints do before routing: auth, the Anthropic body (adjusted by
/// `adjust` first) as a canonical request, its controls and the request context. A rejection
/// is logged under `endpoint` and comes back as the response to send.
fn prepare(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    endpoint: &str,
    adjust: impl FnOnce(&mut Value) -> Result<(), GatewayError>,
) -> Result<(Arc<Engine>, ChatRequest, RequestCtx), Response> {
    let started = Instant::now();
    let request_id = state.request_id();
    let engine = state.engine.load_full();
    let prepared = (|| {
        let tenant = authenticate(state, headers)?;
        let mut raw: Value = parse_json(&body_bytes(body)?)?;
        adjust(&mut raw)?;
        let req = request::to_canonical(&raw)?;
        let controls = Controls::parse(headers, req.switchyard.as_ref(), None)?;
        Ok::<_, GatewayError>((tenant, req, controls))
    })();
    match prepared {
        Ok((tenant, req, controls)) => {
            let rctx = ctx(request_id, tenant, started, controls);
            Ok((engine, req, rctx))
        }
        Err(e) => {
            record_rejected(&engine, &request_id, started, endpoint, &e);
            Err(error_response(&e, &request_id))
        }
    }
}

pub async fn messages(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (engine, req, rctx) = match prepare(&state, &headers, body, "messages", |_| Ok(())) {
        Ok(p) => p,
        Err(resp) => return resp,
    };
    let request_id = rctx.request_id.clone();
    match engine.chat(req, rctx).await {
        Ok(ChatServed::Json(resp, meta)) => json_answer(&meta, &response::to_anthropic(&resp)),
        Ok(ChatServed::Stream(out, meta)) => {
            let mut h = meta_headers(&meta);
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            let mut tr = Translator::new();
            let frames = crate::sse::ready_frames(out, move |item, buf| match item {
                Some(OutItem::Chunk(c)) => tr.chunk(&c, buf),
                Some(OutItem::Error(e)) => tr.error(&error_body(&e), buf),
                None => {}
            })
            .map(Ok::<_, Infallible>);
            let mut resp = Response::new(Body::from_stream(frames));
            *resp.headers_mut() = h;
            resp
        }
        Err(e) => error_response(&e, &request_id),
    }
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens": N}` for the model the body would be
/// routed to (see `switchyard_engine::count`); `x-switchyard-token-count` says how it was
/// counted (`upstream`, `exact` or `estimate`).
pub async fn count_tokens(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (engine, req, rctx) =
        match prepare(&state, &headers, body, "count_tokens", request::count_body) {
            Ok(p) => p,
            Err(resp) => return resp,
        };
    let request_id = rctx.request_id.clone();
    match engine.count_tokens(req, rctx).await {
        Ok(c) => {
            let mut h = HeaderMap::new();
            set(&mut h, "x-switchyard-request-id", &request_id);
            set(&mut h, "request-id", &request_id);
            set(&mut h, "x-switchyard-model", &c.model);
            set(&mut h, "x-switchyard-provider", &c.provider);
            set(&mut h, "x-switchyard-route", &c.route);
            set(&mut h, "x-switchyard-token-count", c.method);
            set(&mut h, "x-switchyard-cost", "0");
            let body = serde_json::json!({ "input_tokens": c.input_tokens });
            (StatusCode::OK, h, axum::Json(body)).into_response()
        }
        Err(e) => error_response(&e, &request_id),
    }
}
