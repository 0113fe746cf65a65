//! Canonical response -> Anthropic `message`.

use serde_json::{Value, json};
use switchyard_core::{ChatResponse, FinishReason, Usage};

/// Anthropic's `stop_reason` and `stop_sequence`. A stop sequence is reported only when the
/// upstream named it (an Anthropic upstream does): OpenAI and Gemini say `stop` for both a
/// natural end and a matched sequence, and the sequence is not in the text, so those read as
/// `end_turn` with a null `stop_sequence` rather than a guess.
pub fn stop(f: Option<&FinishReason>, seq: Option<&str>) -> (&'static str, Option<String>) {
    match (f, seq) {
        (Some(FinishReason::Stop), Some(s)) => ("stop_sequence", Some(s.to_owned())),
        _ => (stop_reason(f), None),
    }
}

/// Our id as an Anthropic message id: `msg_` once, whether or not the upstream's id has it.
pub fn message_id(id: &str) -> String {
    if id.starts_with("msg_") {
        id.to_owned()
    } else {
        format!("msg_{id}")
    }
}

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
    let (stop_reason, stop_sequence) = stop(
        choice.and_then(|c| c.finish_reason.as_ref()),
        choice.and_then(|c| c.stop_sequence.as_deref()),
    );
    json!({
        "id": message_id(&r.id),
        "type": "message",
        "role": "assistant",
        "model": r.model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage(r.usage.as_ref()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_sequence_only_when_the_upstream_named_it() {
        let cases = [
            (
                Some(FinishReason::Stop),
                Some("STOP"),
                "stop_sequence",
                Some("STOP"),
            ),
            (Some(FinishReason::Stop), None, "end_turn", None),
            (Some(FinishReason::Length), None, "max_tokens", None),
            (Some(FinishReason::ToolCalls), None, "tool_use", None),
            (None, None, "end_turn", None),
        ];
        for (finish, seq, reason, want_seq) in cases {
            let got = stop(finish.as_ref(), seq);
            assert_eq!(
                got,
                (reason, want_seq.map(str::to_owned)),
                "{finish:?} {seq:?}"
            );
        }
        assert_eq!(message_id("msg_sim1"), "msg_sim1");
        assert_eq!(message_id("sim1"), "msg_sim1");
    }
}
