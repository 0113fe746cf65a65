//! Upstream errors in the OpenAI dialect -> `ProviderError`. Handles the OpenAI envelope
//! `{"error":{"message","type","param","code"}}`, vLLM's older flat `{"object":"error",...}`,
//! Mistral's 422 `{"message":{"detail":[...]}}`, and bare-string errors. Pure functions.

use http::HeaderMap;
use serde_json::Value;
use switchyard_core::{ErrorKind, ProviderError};

/// The parts of an error body the classification reads.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ErrorInfo {
    pub message: Option<String>,
    /// `type` (`invalid_request_error`, `server_error`, ...).
    pub kind: Option<String>,
    /// `code`, stringified (vLLM sends the status as an integer).
    pub code: Option<String>,
    pub param: Option<String>,
}

/// Read whichever envelope the body uses; a body that is not JSON gives an empty info.
pub fn parse_error_body(body: &[u8]) -> ErrorInfo {
    match serde_json::from_slice::<Value>(body.trim_ascii()) {
        Ok(v) => match v.get("error") {
            Some(inner @ Value::Object(_)) => info_from_object(inner),
            Some(Value::String(s)) => ErrorInfo {
                message: Some(s.clone()),
                ..ErrorInfo::default()
            },
            _ => info_from_object(&v),
        },
        Err(_) => ErrorInfo::default(),
    }
}

fn info_from_object(v: &Value) -> ErrorInfo {
    let text = |k: &str| match v.get(k) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    ErrorInfo {
        message: v.get("message").and_then(message_text),
        kind: text("type"),
        code: text("code"),
        param: text("param"),
    }
}

/// `message` is a string, or (Mistral 422, FastAPI-style) `{"detail":[{"loc":[..],"msg":..}]}`.
fn message_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => match o.get("detail") {
            Some(Value::Array(items)) => {
                let parts: Vec<String> = items
                    .iter()
                    .map(|d| {
                        let msg = d.get("msg").and_then(Value::as_str).unwrap_or("invalid");
                        let loc = d
                            .get("loc")
                            .and_then(Value::as_array)
                            .map(|l| {
                                l.iter()
                                    .map(|p| match p {
                                        Value::String(s) => s.clone(),
                                        other => other.to_string(),
                                    })
                                    .collect::<Vec<_>>()
                                    .join(".")
                            })
                            .unwrap_or_default();
                        if loc.is_empty() {
                            msg.to_owned()
                        } else {
                            format!("{msg}: {loc}")
                        }
                    })
                    .collect();
                Some(parts.join("; "))
            }
            Some(other) => message_text(other),
            None => Some(v.to_string()),
        },
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn mentions_context_overflow(info: &ErrorInfo) -> bool {
    if info.code.as_deref() == Some("context_length_exceeded") {
        return true;
    }
    info.message.as_deref().is_some_and(|m| {
        let m = m.to_ascii_lowercase();
        m.contains("maximum context length")
            || m.contains("context_length_exceeded")
            || m.contains("context length exceeded")
    })
}

fn mentions_quota(info: &ErrorInfo) -> bool {
    info.code.as_deref() == Some("insufficient_quota")
        || info.kind.as_deref() == Some("insufficient_quota")
}

/// Replace any occurrence of the key (some servers echo it in 401 messages).
pub fn redact_key(message: &str, key: Option<&str>) -> String {
    match key {
        Some(k) if k.len() >= 4 && message.contains(k) => message.replace(k, "***"),
        _ => message.to_owned(),
    }
}

/// Scrub the key from an error built somewhere the key was not at hand (decode errors quote
/// upstream bodies).
pub fn scrub(mut e: ProviderError, key: Option<&str>) -> ProviderError {
    e.message = redact_key(&e.message, key);
    e
}

/// A non-2xx answer. Kind from the status, refined by the body's code; `retryable` from the
/// kind unless the upstream said otherwise with `x-should-retry` (quota never retries).
pub fn error_from_response(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    key: Option<&str>,
) -> ProviderError {
    let info = parse_error_body(body);
    let message = match &info.message {
        Some(m) => m.clone(),
        None if body.trim_ascii().is_empty() => format!("upstream returned HTTP {status}"),
        None => crate::http::short_body(body),
    };
    let mut kind = ProviderError::kind_for_status(status);
    if mentions_quota(&info) {
        kind = ErrorKind::QuotaExhausted;
    } else if (400..500).contains(&status) && status != 429 && mentions_context_overflow(&info) {
        kind = ErrorKind::ContextLengthExceeded;
    }
    let mut err = ProviderError::new(kind, redact_key(&message, key))
        .with_status(status)
        .with_retry_after(crate::http::retry_after(headers));
    if kind != ErrorKind::QuotaExhausted {
        if let Some(r) = crate::http::should_retry(headers) {
            err = err.retryable(r);
        }
    }
    if let Some(code) = info.code.or(info.kind) {
        err = err.with_code(code);
    }
    err
}

/// An error object delivered with HTTP 200: a `data: {"error":{..}}` stream event, or an error
/// body on a 200 non-stream answer. `v` is the value of the `error` field (or the whole body).
pub fn error_from_event(v: &Value, key: Option<&str>) -> ProviderError {
    let info = match v {
        Value::String(s) => ErrorInfo {
            message: Some(s.clone()),
            ..ErrorInfo::default()
        },
        other => info_from_object(other),
    };
    let kind = if mentions_quota(&info) {
        ErrorKind::QuotaExhausted
    } else if mentions_context_overflow(&info) {
        ErrorKind::ContextLengthExceeded
    } else {
        kind_for_label(info.code.as_deref())
            .or_else(|| kind_for_label(info.kind.as_deref()))
            .unwrap_or(ErrorKind::Upstream)
    };
    let message = info
        .message
        .clone()
        .unwrap_or_else(|| "upstream sent an error event".to_owned());
    let mut err = ProviderError::new(kind, redact_key(&message, key));
    if let Some(code) = info.code.or(info.kind) {
        err = err.with_code(code);
    }
    err
}

/// Classify an error `type`/`code` label (or an HTTP status sent as the code, as vLLM does).
fn kind_for_label(label: Option<&str>) -> Option<ErrorKind> {
    let l = label?;
    if let Ok(status) = l.parse::<u16>() {
        return Some(ProviderError::kind_for_status(status));
    }
    Some(match l {
        "rate_limit_exceeded" | "rate_limit_error" | "tokens" | "requests" => {
            ErrorKind::RateLimited
        }
        "server_error" | "api_error" | "internal_error" | "internal_server_error" => {
            ErrorKind::Upstream
        }
        "overloaded" | "overloaded_error" | "service_unavailable" | "server_overloaded" => {
            ErrorKind::Overloaded
        }
        "invalid_request_error" | "invalid_parameter_error" | "BadRequestError" => {
            ErrorKind::InvalidRequest
        }
        "authentication_error" | "invalid_api_key" | "permission_error" => ErrorKind::Auth,
        "timeout" | "timeout_error" => ErrorKind::Timeout,
        _ => return None,
    })
}
