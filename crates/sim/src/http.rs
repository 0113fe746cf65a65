//! Response plumbing: bodies, paced SSE streams (with cut and keep-alive), and every wire's
//! error envelope.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::config::{FaultKind, Wire};

pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;
pub type Resp = Response<Body>;

/// Returned by a handler to make hyper drop the connection without writing a response.
#[derive(Debug, thiserror::Error)]
#[error("simulated connection reset")]
pub struct Reset;

pub type HandlerResult = Result<Resp, Reset>;

pub fn bytes_response(status: StatusCode, content_type: &'static str, bytes: Bytes) -> Resp {
    let mut r = Response::new(
        Full::new(bytes)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub fn json_response(status: StatusCode, v: &Value) -> Resp {
    let body = serde_json::to_vec(v).unwrap_or_default();
    bytes_response(status, "application/json", Bytes::from(body))
}

/// The `/sim/stats` outcome label of an error answer.
pub fn status_label(s: StatusCode) -> &'static str {
    match s.as_u16() {
        200 => "ok",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        413 => "413",
        422 => "422",
        429 => "429",
        500 => "500",
        503 => "503",
        529 => "529",
        _ => "error",
    }
}

pub fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// One unit of a streamed body; `tokens` is how many output tokens it carries (drives pacing).
pub struct Piece {
    pub bytes: Bytes,
    pub tokens: u32,
}

impl Piece {
    pub fn new(bytes: Bytes, tokens: u32) -> Piece {
        Piece { bytes, tokens }
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Pacing {
    pub ttft: Duration,
    pub per_token: Duration,
}

impl Pacing {
    pub fn new(ttft_ms: u64, tokens_per_s: f64) -> Pacing {
        let per_token = if tokens_per_s > 0.0 {
            Duration::from_secs_f64(1.0 / tokens_per_s)
        } else {
            Duration::ZERO
        };
        Pacing {
            ttft: Duration::from_millis(ttft_ms),
            per_token,
        }
    }

    /// The drip fault: one token every 500 ms.
    pub fn drip(self) -> Pacing {
        Pacing {
            ttft: self.ttft,
            per_token: Duration::from_millis(500),
        }
    }

    /// Whole-answer latency for non-streamed responses: ttft + tokens / tps.
    pub async fn wait_total(self, tokens: u32) {
        let d = self.ttft + self.per_token * tokens;
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }
}

pub struct StreamPlan {
    pub pieces: Vec<Piece>,
    pub pacing: Pacing,
    /// DeepSeek: `: keep-alive` comments before and between events.
    pub keepalive: bool,
    /// Cut fault: end the body abruptly after this many pieces.
    pub cut_after: Option<u32>,
    pub content_type: &'static str,
}

const KEEPALIVE: &[u8] = b": keep-alive\n\n";

struct StreamState {
    pieces: std::vec::IntoIter<Piece>,
    pacing: Pacing,
    start: Instant,
    deadline: Option<Instant>,
    sent: u32,
    cut_after: Option<u32>,
    keepalive_next: bool,
    keepalive: bool,
    done: bool,
}

/// The first token-carrying piece leaves at start + ttft; later ones are paced by their token
/// count. Pieces without tokens (role chunk, message_start, pings) go out as soon as reached.
pub fn stream_response(plan: StreamPlan) -> Resp {
    let paced = !plan.pacing.ttft.is_zero() || !plan.pacing.per_token.is_zero();
    let st = StreamState {
        pieces: plan.pieces.into_iter(),
        pacing: plan.pacing,
        start: Instant::now(),
        deadline: None,
        sent: 0,
        cut_after: plan.cut_after,
        keepalive_next: plan.keepalive,
        keepalive: plan.keepalive,
        done: false,
    };
    let stream = futures_util::stream::unfold(st, move |mut st| async move {
        if st.done {
            return None;
        }
        if st.keepalive_next {
            st.keepalive_next = false;
            return Some((Ok(Frame::data(Bytes::from_static(KEEPALIVE))), st));
        }
        if st.cut_after.is_some_and(|n| st.sent >= n) {
            st.done = true;
            // Let hyper flush what was sent (it flushes while the body is pending); an error
            // straight away would make it drop the buffered events with the connection.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let err = std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "simulated cut");
            return Some((Err(err), st));
        }
        let piece = st.pieces.next()?;
        if paced && piece.tokens > 0 {
            let when = match st.deadline {
                None => st.start + st.pacing.ttft,
                Some(d) => d + st.pacing.per_token * piece.tokens,
            };
            st.deadline = Some(when);
            tokio::time::sleep_until(when).await;
        }
        st.sent += 1;
        st.keepalive_next = st.keepalive && st.pieces.len() > 0;
        Some((Ok(Frame::data(piece.bytes)), st))
    });
    let mut r = Response::new(BodyExt::boxed_unsync(StreamBody::new(stream)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(plan.content_type),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

// ---- error envelopes ----

pub fn openai_error(
    code: u16,
    ty: &str,
    message: &str,
    param: Option<&str>,
    err_code: Option<&str>,
) -> Resp {
    json_response(
        status(code),
        &json!({"error": {"message": message, "type": ty, "param": param, "code": err_code}}),
    )
}

pub fn anthropic_error(code: u16, ty: &str, message: &str, request_id: &str) -> Resp {
    let mut r = json_response(
        status(code),
        &json!({"type": "error", "error": {"type": ty, "message": message}, "request_id": request_id}),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("request-id", v);
    }
    r
}

pub fn gemini_error(code: u16, status_name: &str, message: &str, details: Value) -> Resp {
    let mut err = json!({"code": code, "message": message, "status": status_name});
    if details.as_array().is_some_and(|d| !d.is_empty()) {
        err["details"] = details;
    }
    json_response(status(code), &json!({ "error": err }))
}

pub fn gemini_invalid(message: &str) -> Resp {
    gemini_error(400, "INVALID_ARGUMENT", message, Value::Null)
}

/// The answer each wire gives for an injected status fault (429/500/503/529/bad-key).
pub fn fault_error(
    wire: Wire,
    kind: FaultKind,
    retry_after_s: Option<u64>,
    request_id: &str,
) -> Resp {
    let mut r = match (wire, kind) {
        (Wire::Openai, FaultKind::RateLimit) => openai_error(
            429,
            "requests",
            "Rate limit reached for requests (simulated). Please try again later.",
            None,
            Some("rate_limit_exceeded"),
        ),
        (Wire::Openai, FaultKind::Internal) => openai_error(
            500,
            "server_error",
            "The server had an error while processing your request (simulated).",
            None,
            None,
        ),
        (Wire::Openai, FaultKind::Unavailable) => openai_error(
            503,
            "server_error",
            "The server is overloaded or not ready yet (simulated).",
            None,
            None,
        ),
        (Wire::Openai, FaultKind::Overloaded) => openai_error(
            529,
            "server_error",
            "The server is overloaded (simulated).",
            None,
            None,
        ),
        (Wire::Openai, _) => openai_error(
            401,
            "invalid_request_error",
            "Incorrect API key provided (simulated).",
            None,
            Some("invalid_api_key"),
        ),
        (Wire::Anthropic, FaultKind::RateLimit) => anthropic_error(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit (simulated)",
            request_id,
        ),
        (Wire::Anthropic, FaultKind::Internal) => anthropic_error(
            500,
            "api_error",
            "Internal server error (simulated)",
            request_id,
        ),
        (Wire::Anthropic, FaultKind::Unavailable) => anthropic_error(
            503,
            "api_error",
            "Service unavailable (simulated)",
            request_id,
        ),
        (Wire::Anthropic, FaultKind::Overloaded) => {
            anthropic_error(529, "overloaded_error", "Overloaded", request_id)
        }
        (Wire::Anthropic, _) => {
            anthropic_error(401, "authentication_error", "invalid x-api-key", request_id)
        }
        (Wire::Gemini, FaultKind::RateLimit) => {
            // Gemini carries the delay in the body only; real answers always have one.
            let delay = format!("{}s", retry_after_s.unwrap_or(1));
            return gemini_error(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details (simulated).",
                json!([
                    {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
                     "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                                     "quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}]},
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}
                ]),
            );
        }
        (Wire::Gemini, FaultKind::Internal) => gemini_error(
            500,
            "INTERNAL",
            "An internal error has occurred (simulated).",
            Value::Null,
        ),
        (Wire::Gemini, FaultKind::Unavailable) => gemini_error(
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later. (simulated)",
            Value::Null,
        ),
        (Wire::Gemini, FaultKind::Overloaded) => gemini_error(
            529,
            "UNAVAILABLE",
            "The model is overloaded. (simulated)",
            Value::Null,
        ),
        (Wire::Gemini, _) => gemini_bad_key(),
    };
    if kind == FaultKind::RateLimit
        && wire != Wire::Gemini
        && let Some(s) = retry_after_s
    {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(s));
    }
    r
}

pub fn gemini_bad_key() -> Resp {
    gemini_error(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]),
    )
}
