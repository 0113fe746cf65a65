use std::time::Duration;

use http::HeaderMap;
use serde_json::json;
use switchyard_core::ErrorKind::{self, *};

use crate::openai::error::{error_from_event, error_from_response, parse_error_body};

const KEY: &str = "sk-test-SECRET-0123456789";

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, v.parse().expect("header value"));
    }
    h
}

fn envelope(message: &str, kind: &str, code: Option<&str>) -> String {
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}}).to_string()
}

struct Case {
    name: &'static str,
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: String,
    kind: ErrorKind,
    retryable: bool,
    code: Option<&'static str>,
    retry_after: Option<Duration>,
}

fn case(name: &'static str, status: u16, body: String, kind: ErrorKind, retryable: bool) -> Case {
    Case {
        name,
        status,
        headers: &[],
        body,
        kind,
        retryable,
        code: None,
        retry_after: None,
    }
}

#[test]
fn status_and_code_table() {
    let cases = vec![
        Case { code: Some("unsupported_parameter"),
            ..case("400 bad param", 400, envelope("Unsupported parameter: 'temperature'", "invalid_request_error", Some("unsupported_parameter")), InvalidRequest, false) },
        Case { code: Some("context_length_exceeded"),
            ..case("400 context code", 400, envelope("This model's maximum context length is 128000 tokens.", "invalid_request_error", Some("context_length_exceeded")), ContextLengthExceeded, false) },
        Case { code: Some("400"),
            ..case("400 vllm flat context", 400, json!({"object": "error", "message": "This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.", "type": "BadRequestError", "param": null, "code": 400}).to_string(), ContextLengthExceeded, false) },
        Case { code: Some("invalid_api_key"),
            ..case("401", 401, envelope(&format!("Incorrect API key provided: {KEY}."), "invalid_request_error", Some("invalid_api_key")), Auth, false) },
        Case { code: Some("invalid_request_error"),
            ..case("402 deepseek balance", 402, envelope("Insufficient Balance", "unknown_error", Some("invalid_request_error")), QuotaExhausted, false) },
        Case { code: Some("model_not_found"),
            ..case("404 model", 404, envelope("The model `gpt-9` does not exist", "invalid_request_error", Some("model_not_found")), InvalidRequest, false) },
        case("413 plain text", 413, "Request Entity Too Large".into(), InvalidRequest, false),
        Case { code: Some("invalid_request_error"),
            ..case("422 mistral extra_forbidden", 422, json!({"object": "error", "message": {"detail": [{"type": "extra_forbidden", "loc": ["body", "stream_options"], "msg": "Extra inputs are not permitted", "input": {}}]}, "type": "invalid_request_error", "param": null, "code": null}).to_string(), InvalidRequest, false) },
        Case { headers: &[("retry-after", "7"), ("retry-after-ms", "1500")], code: Some("rate_limit_exceeded"), retry_after: Some(Duration::from_millis(1500)),
            ..case("429 rate", 429, envelope("Rate limit reached for requests", "requests", Some("rate_limit_exceeded")), RateLimited, true) },
        Case { headers: &[("retry-after", "3")], code: Some("rate_limit_exceeded"), retry_after: Some(Duration::from_secs(3)),
            ..case("429 groq retry-after", 429, envelope("Rate limit reached", "tokens", Some("rate_limit_exceeded")), RateLimited, true) },
        Case { headers: &[("x-should-retry", "true")], code: Some("insufficient_quota"),
            ..case("429 quota never retries", 429, envelope("You exceeded your current quota", "insufficient_quota", Some("insufficient_quota")), QuotaExhausted, false) },
        Case { code: Some("server_error"),
            ..case("500", 500, envelope("The server had an error", "server_error", None), Upstream, true) },
        Case { headers: &[("x-should-retry", "false")], code: Some("server_error"),
            ..case("500 told not to retry", 500, envelope("nope", "server_error", None), Upstream, false) },
        Case { headers: &[("x-should-retry", "true")], code: Some("invalid_request_error"),
            ..case("409-ish 400 told to retry", 400, envelope("try again", "invalid_request_error", None), InvalidRequest, true) },
        case("502 empty", 502, String::new(), Upstream, true),
        case("503", 503, "<html>Service Unavailable</html>".into(), Overloaded, true),
        case("529", 529, r#"{"error":"overloaded"}"#.into(), Overloaded, true),
        case("504", 504, String::new(), Timeout, true),
    ];
    for c in cases {
        let e = error_from_response(c.status, &headers(c.headers), c.body.as_bytes(), Some(KEY));
        assert_eq!(e.kind, c.kind, "{}", c.name);
        assert_eq!(e.retryable, c.retryable, "{}", c.name);
        assert_eq!(e.status, Some(c.status), "{}", c.name);
        assert_eq!(e.code.as_deref(), c.code, "{}", c.name);
        assert_eq!(e.retry_after, c.retry_after, "{}", c.name);
        assert!(!e.message.is_empty(), "{}", c.name);
        assert!(
            !e.to_string().contains("SECRET"),
            "{}: key leaked: {}",
            c.name,
            e.message
        );
    }
}

#[test]
fn messages_read_from_every_envelope() {
    let m = |b: &str| parse_error_body(b.as_bytes()).message;
    assert_eq!(
        m(&envelope("boom", "server_error", None)).as_deref(),
        Some("boom")
    );
    assert_eq!(
        m(r#"{"object":"error","message":"flat","type":"BadRequestError","code":400}"#).as_deref(),
        Some("flat")
    );
    assert_eq!(
        m(r#"{"error":"bare string"}"#).as_deref(),
        Some("bare string")
    );
    assert_eq!(
        m(r#"{"object":"error","message":{"detail":[{"loc":["body","messages",0,"name"],"msg":"Extra inputs are not permitted"}]}}"#).as_deref(),
        Some("Extra inputs are not permitted: body.messages.0.name")
    );
    assert_eq!(m("not json"), None);
    let e = error_from_response(502, &HeaderMap::new(), b"", None);
    assert_eq!(e.message, "upstream returned HTTP 502");
    let e = error_from_response(503, &HeaderMap::new(), b"<html>down</html>", None);
    assert_eq!(e.message, "<html>down</html>");
}

#[test]
fn stream_error_events_are_classified_by_type_and_code() {
    let cases = [
        (
            json!({"message": "m", "type": "server_error"}),
            Upstream,
            true,
        ),
        (
            json!({"message": "m", "type": "rate_limit_error"}),
            RateLimited,
            true,
        ),
        (
            json!({"message": "m", "type": "overloaded_error"}),
            Overloaded,
            true,
        ),
        (
            json!({"message": "m", "type": "invalid_request_error", "code": "context_length_exceeded"}),
            ContextLengthExceeded,
            false,
        ),
        (
            json!({"message": "m", "type": "insufficient_quota"}),
            QuotaExhausted,
            false,
        ),
        (
            json!({"message": "m", "type": "BadRequestError", "code": 503}),
            Overloaded,
            true,
        ),
        (
            json!({"message": "m", "type": "something_new"}),
            Upstream,
            true,
        ),
        (json!("just text"), Upstream, true),
    ];
    for (v, kind, retryable) in cases {
        let e = error_from_event(&v, None);
        assert_eq!((e.kind, e.retryable), (kind, retryable), "{v}");
        assert!(e.status.is_none());
    }
    let e = error_from_event(&json!({"message": format!("bad key {KEY}")}), Some(KEY));
    assert_eq!(e.message, "bad key ***");
}
