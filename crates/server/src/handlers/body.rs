//! Reading a request body: its bytes (413 over the limit), then JSON with the offending field
//! named and the message in the client's words, never our Rust type names.

use axum::extract::rejection::BytesRejection;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use switchyard_engine::GatewayError;

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
    // `?` is serde_path_to_error's name for a segment it could not read (a broken key in
    // `{{`), `.` the root: neither is a field a client could look for, so `param` stays null.
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        return Err(GatewayError::bad_request(format!(
            "We could not parse the JSON body of your request ({inner}). Send valid JSON."
        )));
    }
    let param = (path != "." && !path.contains('?')).then_some(path);
    let msg = match (&param, untagged_shape(&inner.to_string())) {
        (Some(p), Some(shape)) => format!("`{p}` must be {shape}."),
        (None, Some(shape)) => format!("Invalid request body: a field must be {shape}."),
        (Some(p), None) => format!(
            "Invalid value for `{p}`: {}",
            user_words(&inner.to_string())
        ),
        (None, None) => format!("Invalid request body: {}", user_words(&inner.to_string())),
    };
    let err = GatewayError::bad_request(msg);
    Err(match param {
        Some(p) => err.with_param(p),
        None => err,
    })
}

/// What an untagged enum of ours accepts, for serde's "data did not match any variant of
/// untagged enum X", which names our Rust type instead of the shape a client should send.
fn untagged_shape(msg: &str) -> Option<&'static str> {
    let rest = msg.split("untagged enum ").nth(1)?;
    let name: String = rest
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    Some(match name.as_str() {
        "Content" => "a string or an array of content parts",
        "Stop" => "a string or an array of strings",
        "ToolChoice" => {
            "\"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}"
        }
        "EmbedInput" => "a string, an array of strings or an array of token arrays",
        _ => "one of the documented shapes for this field",
    })
}

/// serde's message with our Rust type names ("expected struct ChatRequest") turned into the
/// JSON a client knows ("expected a JSON object").
fn user_words(msg: &str) -> String {
    let mut out = msg.to_owned();
    for (marker, words) in [
        ("internally tagged enum ", "an object with a `type`"),
        ("struct variant ", "a JSON object"),
        ("struct ", "a JSON object"),
    ] {
        while let Some(at) = out.find(marker) {
            let name_len = out[at + marker.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == ':')
                .count();
            out.replace_range(at..at + marker.len() + name_len, words);
        }
    }
    out
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

    #[test]
    fn no_question_mark_params_and_no_rust_type_names() {
        // (body, param, words the message must contain)
        let cases: [(&[u8], Option<&str>, &str); 5] = [
            (b"{{", None, "could not parse the JSON body"),
            (b"[1]", None, "expected a JSON object"),
            (
                br#"{"model": "m", "messages": [{"role": "user", "content": 5}]}"#,
                Some("messages[0].content"),
                "`messages[0].content` must be a string or an array of content parts",
            ),
            (
                br#"{"model": "m", "messages": [], "stop": 3}"#,
                Some("stop"),
                "must be a string or an array of strings",
            ),
            (
                br#"{"model": "m", "messages": [], "tool_choice": 1}"#,
                Some("tool_choice"),
                "\"required\"",
            ),
        ];
        for (body, param, words) in cases {
            let e = parse_json::<ChatRequest>(body).expect_err("invalid");
            let shown = String::from_utf8_lossy(body);
            assert_eq!(e.status, 400, "{shown}");
            assert_eq!(e.param.as_deref(), param, "{shown}: {}", e.message);
            assert!(e.message.contains(words), "{shown}: {}", e.message);
            for rust in ["struct ", "enum ", "ChatRequest", "?"] {
                assert!(!e.message.contains(rust), "{shown}: {}", e.message);
            }
        }
    }
}
