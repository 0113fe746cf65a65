//! One module per endpoint, plus the steps they share (auth, body parsing, context).

pub mod batches;
pub mod chat;
pub mod embeddings;
pub mod explain;
pub mod files;
pub mod health;
pub mod messages;
pub mod models;
pub mod validate;

use std::time::Instant;

use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::HeaderMap;
use serde::de::DeserializeOwned;
use switchyard_engine::{Controls, Engine, GatewayError, RequestCtx};

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

/// The body as bytes, or the right 4xx: 413 when over the limit.
pub fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, GatewayError> {
    body.map_err(|r| {
        if r.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
            GatewayError::new(
                413,
                "invalid_request_error",
                "too_large",
                "Request body too large for this gateway ([server] max_body_bytes).",
            )
            .with_code("request_too_large")
        } else {
            GatewayError::bad_request(format!("Could not read the request body: {r}"))
        }
    })
}

/// Parse JSON into `T`, naming the offending field on a type error.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, GatewayError> {
    if bytes.is_empty() {
        return Err(GatewayError::bad_request(
            "The request body is empty; send a JSON object.",
        ));
    }
    // The plain parse is the fast path; only a body that fails is parsed again with path
    // tracking (which nearly doubled the parse's cost on every request) to name the field.
    let fast = match serde_json::from_slice::<T>(bytes) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let tracked: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let Err(e) = tracked else {
        // Only the end-of-input check failed (trailing characters after the object).
        return Err(GatewayError::bad_request(format!(
            "We could not parse the JSON body of your request ({fast}). Send valid JSON."
        )));
    };
    let path = e.path().to_string();
    let inner = e.into_inner();
    let msg = if inner.is_syntax() || inner.is_eof() {
        format!("We could not parse the JSON body of your request ({inner}). Send valid JSON.")
    } else if path == "." {
        format!("Invalid request body: {inner}")
    } else {
        format!("Invalid value for `{path}`: {inner}")
    };
    let err = GatewayError::bad_request(msg);
    Err(if path == "." {
        err
    } else {
        err.with_param(path)
    })
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

#[cfg(test)]
mod tests {
    use super::parse_json;
    use switchyard_core::ChatRequest;

    #[test]
    fn bodies_parse_fast_and_failures_still_name_the_field() {
        let ok = br#"{"model": "m", "messages": [{"role": "user", "content": "hi"}]}"#;
        assert_eq!(parse_json::<ChatRequest>(ok).expect("valid").model, "m");
        let wrong = br#"{"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}"#;
        let e = parse_json::<ChatRequest>(wrong).expect_err("wrong type");
        assert_eq!((e.status, e.param.as_deref()), (400, Some("temperature")));
        assert!(
            e.message.contains("Invalid value for `temperature`"),
            "{}",
            e.message
        );
        let trailing = br#"{"model": "m", "messages": []} extra"#;
        let e = parse_json::<ChatRequest>(trailing).expect_err("trailing characters");
        assert_eq!((e.status, e.param.as_deref()), (400, None));
        assert!(e.message.contains("trailing characters"), "{}", e.message);
        let broken = br#"{"model": "m", "messages": ["#;
        let e = parse_json::<ChatRequest>(broken).expect_err("truncated");
        assert!(
            e.message.contains("could not parse the JSON body"),
            "{}",
            e.message
        );
    }
}
