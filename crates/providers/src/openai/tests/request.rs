use serde_json::{Value, json};

use super::rich_request;
use crate::openai::Quirks;
use crate::openai::convert::{chat_body, embed_body};

#[test]
fn openai_stream_body_snapshot() {
    let body = chat_body(&rich_request(), "gpt-4o-mini", true, &Quirks::OPENAI).expect("body");
    insta::assert_json_snapshot!("openai_stream_body", body);
}

#[test]
fn gateway_fields_never_go_upstream_and_model_is_replaced() {
    let body = chat_body(&rich_request(), "gpt-4o-mini", false, &Quirks::OPENAI).expect("body");
    assert_eq!(body["model"], "gpt-4o-mini");
    for k in ["models", "provider", "switchyard"] {
        assert!(!body.contains_key(k), "{k} leaked upstream");
    }
    // Unknown client fields pass through to OpenAI.
    assert_eq!(body["reasoning_effort"], "low");
    assert_eq!(body["user"], "u-1");
}

#[test]
fn stream_usage_is_always_requested_and_never_sent_without_stream() {
    let stream = chat_body(&rich_request(), "m", true, &Quirks::OPENAI).expect("body");
    assert_eq!(stream["stream"], true);
    assert_eq!(stream["stream_options"], json!({"include_usage": true}));

    let mut plain = rich_request();
    plain.stream_options = None;
    let s2 = chat_body(&plain, "m", true, &Quirks::OPENAI).expect("body");
    assert_eq!(s2["stream_options"], json!({"include_usage": true}));

    let non_stream = chat_body(&rich_request(), "m", false, &Quirks::OPENAI).expect("body");
    assert!(!non_stream.contains_key("stream"));
    assert!(!non_stream.contains_key("stream_options"));
}

#[test]
fn openai_keeps_fields_as_sent() {
    let body = chat_body(&rich_request(), "m", false, &Quirks::OPENAI).expect("body");
    assert_eq!(body["max_completion_tokens"], 256);
    assert!(!body.contains_key("max_tokens"));
    assert_eq!(body["seed"], 7);
    assert_eq!(body["logprobs"], true);
    assert_eq!(body["top_logprobs"], 3);
    assert_eq!(body["tool_choice"], "required");
    let msgs = body["messages"].as_array().expect("messages");
    assert_eq!(msgs[0]["role"], "developer");
    assert_eq!(msgs[1]["name"], "alice");
    assert_eq!(msgs[2]["tool_calls"][1]["id"], "toolu_01A");
    assert_eq!(msgs[4]["tool_call_id"], "toolu_01A");
}

#[test]
fn reasoning_text_is_never_replayed() {
    let body = chat_body(&rich_request(), "m", false, &Quirks::OPENAI).expect("body");
    let assistant = &body["messages"][2];
    assert_eq!(assistant.get("reasoning_content"), None);
    assert_eq!(
        assistant["content"],
        Value::Null,
        "null content stays null beside tool calls"
    );
}

#[test]
fn embeddings_body_replaces_model_only() {
    let req = serde_json::from_value(json!({
        "model": "embed-small", "input": ["a", "b"], "dimensions": 256, "user": "u", "x": 1
    }))
    .expect("embed request");
    let body = embed_body(&req, "text-embedding-3-small", &Quirks::OPENAI).expect("body");
    assert_eq!(
        Value::Object(body),
        json!({"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 256, "user": "u", "x": 1})
    );
}
