//! google.rpc.Status error bodies -> `ProviderError`.

use http::HeaderMap;
use serde_json::Value;
use switchyard_core::error::parse_proto_duration;
use switchyard_core::{ErrorKind, ProviderError};

use super::wire;
use crate::http::{retry_after, short_body};

/// The Status in `{"error":{..}}`, or in `[{"error":{..}}]` (the array form Gemini uses when a
/// stream fails without `alt=sse`).
pub fn parse_status(body: &[u8]) -> Option<wire::Status> {
    // Checked first: serde would otherwise read the array positionally into the struct.
    if body.trim_ascii_start().starts_with(b"[") {
        return serde_json::from_slice::<Vec<wire::ErrorEnvelope>>(body)
            .ok()?
            .into_iter()
            .next()
            .map(|e| e.error);
    }
    serde_json::from_slice::<wire::ErrorEnvelope>(body)
        .ok()
        .map(|e| e.error)
}

fn detail_reason(s: &wire::Status, reason: &str) -> bool {
    s.details
        .iter()
        .any(|d| d.get("reason").and_then(Value::as_str) == Some(reason))
}

/// `RetryInfo.retryDelay` ("37s"): Gemini's 429s carry no `retry-after` header.
fn retry_delay(s: &wire::Status) -> Option<std::time::Duration> {
    s.details
        .iter()
        .filter(|d| {
            d.get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"))
        })
        .find_map(|d| d.get("retryDelay").and_then(Value::as_str))
        .and_then(parse_proto_duration)
}

fn classify(http_status: u16, s: &wire::Status) -> (ErrorKind, String) {
    // An invalid key is a 400 INVALID_ARGUMENT at Gemini, not a 401.
    if detail_reason(s, "API_KEY_INVALID") || s.message.contains("API key not valid") {
        return (ErrorKind::Auth, "API_KEY_INVALID".to_owned());
    }
    if s.message.contains("exceeds the maximum number of tokens") {
        return (
            ErrorKind::ContextLengthExceeded,
            "context_length_exceeded".to_owned(),
        );
    }
    let kind = match s.status.as_str() {
        "RESOURCE_EXHAUSTED" => ErrorKind::RateLimited,
        "UNAVAILABLE" => ErrorKind::Overloaded,
        "DEADLINE_EXCEEDED" => ErrorKind::Timeout,
        "INTERNAL" | "UNKNOWN" | "ABORTED" => ErrorKind::Upstream,
        "UNAUTHENTICATED" | "PERMISSION_DENIED" => ErrorKind::Auth,
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "NOT_FOUND" | "OUT_OF_RANGE" => {
            ErrorKind::InvalidRequest
        }
        _ => ProviderError::kind_for_status(if http_status == 0 {
            s.code
        } else {
            http_status
        }),
    };
    (kind, s.status.clone())
}

fn build(http_status: u16, s: &wire::Status) -> ProviderError {
    let (kind, code) = classify(http_status, s);
    let message = if s.message.is_empty() {
        format!("Gemini error ({})", s.status)
    } else {
        format!("Gemini: {}", s.message)
    };
    let mut e = ProviderError::new(kind, message).with_retry_after(retry_delay(s));
    if !code.is_empty() {
        e = e.with_code(code);
    }
    e
}

/// A non-2xx HTTP answer.
pub fn from_http(status: u16, headers: &HeaderMap, body: &[u8]) -> ProviderError {
    let s = parse_status(body).unwrap_or_else(|| wire::Status {
        code: status,
        message: short_body(body),
        ..wire::Status::default()
    });
    let mut e = build(status, &s).with_status(status);
    if e.retry_after.is_none() {
        e.retry_after = retry_after(headers);
    }
    e
}

/// An error that arrived inside a 200 stream (a JSON error body, or an `error` object in a
/// data frame). The Status `code` stands in for the HTTP status.
pub fn from_stream_body(body: &[u8]) -> Option<ProviderError> {
    let s = parse_status(body)?;
    let code = s.code;
    let e = build(code, &s);
    Some(if code > 0 { e.with_status(code) } else { e })
}
