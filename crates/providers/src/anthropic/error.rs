//! Anthropic error bodies (HTTP and `event: error` on a stream) -> `ProviderError`.

use http::HeaderMap;
use switchyard_core::{ErrorKind, ProviderError};

use super::wire;
use crate::http::{retry_after, short_body, should_retry};

/// The kind for an Anthropic `error.type`; `None` for types we do not know (the status decides).
fn kind_for_type(kind: &str) -> Option<ErrorKind> {
    Some(match kind {
        "invalid_request_error" | "not_found_error" | "request_too_large" => {
            ErrorKind::InvalidRequest
        }
        "authentication_error" | "permission_error" => ErrorKind::Auth,
        "billing_error" => ErrorKind::QuotaExhausted,
        "rate_limit_error" => ErrorKind::RateLimited,
        "api_error" => ErrorKind::Upstream,
        "timeout_error" => ErrorKind::Timeout,
        "overloaded_error" => ErrorKind::Overloaded,
        _ => return None,
    })
}

/// Anthropic reports an over-long prompt as a plain 400 `invalid_request_error`; only the
/// message tells it apart, and the engine wants to know (a larger-context model may succeed).
fn is_context_overflow(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("prompt is too long") || m.contains("context window")
}

/// Status first where it is unambiguous, then the body's `error.type`, then the status class.
fn classify(status: Option<u16>, body: &wire::ErrorBody) -> ErrorKind {
    // Status codes with one meaning win over a generic type in the body (413 arrives from the
    // edge, 529 and 402 are unambiguous).
    let by_status = match status {
        Some(529) => Some(ErrorKind::Overloaded),
        Some(402) => Some(ErrorKind::QuotaExhausted),
        Some(413) => Some(ErrorKind::InvalidRequest),
        _ => None,
    };
    let kind = by_status
        .or_else(|| kind_for_type(&body.kind))
        .or_else(|| status.map(ProviderError::kind_for_status))
        .unwrap_or(ErrorKind::Upstream);
    if kind == ErrorKind::InvalidRequest && is_context_overflow(&body.message) {
        ErrorKind::ContextLengthExceeded
    } else {
        kind
    }
}

fn build(kind: ErrorKind, body: &wire::ErrorBody) -> ProviderError {
    let message = if body.message.is_empty() {
        format!("Anthropic error ({})", body.kind)
    } else {
        format!("Anthropic: {}", body.message)
    };
    let mut e = ProviderError::new(kind, message);
    if !body.kind.is_empty() {
        e = e.with_code(body.kind.clone());
    }
    e
}

/// A non-2xx HTTP answer.
pub fn from_http(status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
    let parsed = serde_json::from_slice::<wire::ErrorEnvelope>(body)
        .map(|e| e.error)
        .unwrap_or_else(|_| wire::ErrorBody {
            kind: String::new(),
            message: short_body(body),
        });
    let kind = classify(Some(status), &parsed);
    let mut e = build(kind, &parsed)
        .with_status(status)
        .with_retry_after(retry_after(headers));
    if status == 413 && e.code.is_none() {
        e = e.with_code("request_too_large");
    }
    if let Some(r) = should_retry(headers) {
        e = e.retryable(r);
    }
    e
}

/// An `event: error` after a 200 (e.g. `overloaded_error` mid-stream).
pub fn from_stream_event(body: &wire::ErrorBody) -> ProviderError {
    build(classify(None, body), body)
}
