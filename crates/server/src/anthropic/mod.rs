//! The Anthropic Messages dialect at the edge (`POST /v1/messages`), so Anthropic SDK users can
//! point at Switchyard too. Requests are translated to the canonical chat request, routed like
//! any other, and the answer is translated back: JSON, or named SSE events in Anthropic's order.
//! This is the client's dialect, not an upstream's: it lives in the server, and the engine sees
//! only canonical requests.

pub mod request;
pub mod response;
pub mod stream;

use serde_json::{Value, json};
use switchyard_engine::GatewayError;

/// Anthropic's error envelope: `{"type":"error","error":{"type","message"}}`.
pub fn error_body(e: &GatewayError) -> Value {
    json!({"type": "error", "error": {"type": error_type(e), "message": e.message}})
}

pub fn error_type(e: &GatewayError) -> &'static str {
    match e.status {
        400 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        504 | 408 => "timeout_error",
        _ => "api_error",
    }
}
