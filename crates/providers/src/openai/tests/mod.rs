//! Tests of the OpenAI-dialect engine. Flavor-specific request tables live in
//! `openai_compat/tests.rs`; the HTTP tests run against an in-process axum server.

mod errors;
mod http;
mod request;
mod response;
mod sse;

use switchyard_core::ChatRequest;

/// A request with something in every field a flavor may rewrite.
pub(crate) fn rich_request() -> ChatRequest {
    serde_json::from_value(serde_json::json!({
        "model": "auto",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": "Weather in Paris and Rome?", "name": "alice"},
            {"role": "assistant", "content": null, "reasoning_content": "think",
             "tool_calls": [
                {"id": "call_abc123XYZ", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "toolu_01A", "type": "function",
                 "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}
             ]},
            {"role": "tool", "tool_call_id": "call_abc123XYZ", "content": "18C"},
            {"role": "tool", "tool_call_id": "toolu_01A", "content": "24C", "name": "get_weather"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": "required",
        "max_completion_tokens": 256,
        "seed": 7,
        "logprobs": true,
        "top_logprobs": 3,
        "user": "u-1",
        "stream_options": {"include_usage": false},
        "models": ["a", "b"],
        "switchyard": {"task": "chat"},
        "reasoning_effort": "low"
    }))
    .expect("valid request")
}
