//! Errors as the OpenAI SDKs expect them: `{"error": {"message", "type", "param", "code"}}`
//! with the right status, plus our headers so a failed request is still traceable.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::json;
use switchyard_engine::GatewayError;
use switchyard_engine::pipeline::attempts_header;

pub fn error_body(e: &GatewayError) -> serde_json::Value {
    json!({
        "error": {
            "message": e.message,
            "type": e.kind,
            "param": e.param,
            "code": e.code,
        }
    })
}

pub fn error_response(e: &GatewayError, request_id: &str) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut headers = HeaderMap::new();
    set(&mut headers, "x-switchyard-request-id", request_id);
    if !e.attempts.is_empty() {
        set(
            &mut headers,
            "x-switchyard-attempts",
            &attempts_header(&e.attempts),
        );
    }
    if let Some(d) = e.retry_after {
        // Whole seconds, rounded up, so a client never retries early.
        set(
            &mut headers,
            "retry-after",
            &d.as_secs_f64().ceil().max(1.0).to_string(),
        );
        set(&mut headers, "retry-after-ms", &d.as_millis().to_string());
    }
    (status, headers, axum::Json(error_body(e))).into_response()
}

pub fn set<V>(headers: &mut HeaderMap, name: impl http::header::IntoHeaderName, value: V)
where
    HeaderValue: TryFrom<V>,
{
    if let Ok(v) = HeaderValue::try_from(value) {
        headers.insert(name, v);
    }
}
