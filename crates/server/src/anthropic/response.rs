//! Canonical response -> Anthropic `message`.

use serde_json::{Value, json};
use switchyard_core::{ChatResponse, FinishReason, Usage};

pub fn stop_reason(f: Option<&FinishReason>) -> &'static str {
    match f {
        Some(FinishReason::Length) => "max_tokens",
        Some(FinishReason::ToolCalls | FinishReason::FunctionCall) => "tool_use",
        Some(FinishReason::ContentFilter) => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic counts input without cache reads and writes; ours includes them.
pub fn usage(u: Option<&Usage>) -> Value {
    let Some(u) = u else {
        return json!({"input_tokens": 0, "output_tokens": 0});
    };
    let mut v = json!({
        "input_tokens": u.uncached_input_tokens(),
        "output_tokens": u.completion_tokens,
        "cache_read_input_tokens": u.cached_tokens(),
        "cache_creation_input_tokens": u.cache_write_tokens(),
    });
    if let Some(c) = &u.cost {
        v["cost"] = c.clone();
    }
    if let Some(d) = &u.cost_details {
        v["cost_details"] = serde_json::to_value(d).unwrap_or_default();
    }
    v
}

pub fn to_anthropic(r: &ChatResponse) -> Value {
    let choice = r.choices.first();
    let mut content = Vec::new();
    if let Some(c) = choice {
        if let Some(t) = c.message.content.as_deref().filter(|t| !t.is_empty()) {
            content.push(json!({"type": "text", "text": t}));
        }
        for tc in c.message.tool_calls.iter().flatten() {
            let input: Value =
                serde_json::from_str(&tc.function.arguments).unwrap_or_else(|_| json!({}));
            content.push(
                json!({"type": "tool_use", "id": tc.id, "name": tc.function.name, "input": input}),
            );
        }
    }
    json!({
        "id": if r.id.starts_with("msg_") { r.id.clone() } else { format!("msg_{}", r.id) },
        "type": "message",
        "role": "assistant",
        "model": r.model,
        "content": content,
        "stop_reason": stop_reason(choice.and_then(|c| c.finish_reason.as_ref())),
        "stop_sequence": Value::Null,
        "usage": usage(r.usage.as_ref()),
    })
}
