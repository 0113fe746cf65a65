use serde_json::json;
use switchyard_core::{ErrorKind, FinishReason, Usage};

use crate::openai::convert::{
    logprobs_from_wire, parse_chat_response, parse_embed_response, usage_from_wire,
};
use crate::openai::wire::WireUsage;

fn parse(
    v: serde_json::Value,
) -> Result<switchyard_core::ChatResponse, switchyard_core::ProviderError> {
    parse_chat_response(v.to_string().as_bytes(), "fallback-model")
}

#[test]
fn openai_tool_call_response_with_cached_and_reasoning_usage() {
    let r = parse(json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1741570283,
        "model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_1", "service_tier": "default",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": null,
            "message": {"role": "assistant", "content": null, "refusal": null, "annotations": [],
                "tool_calls": [{"id": "call_abc", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
        "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99,
            "prompt_tokens_details": {"cached_tokens": 64, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 5, "audio_tokens": 0}}
    }))
    .expect("parses");
    insta::assert_json_snapshot!("openai_tool_call_response", r);
    let u = r.usage.expect("usage");
    assert_eq!(
        (
            u.cached_tokens(),
            u.reasoning_tokens(),
            u.uncached_input_tokens()
        ),
        (64, 5, 18)
    );
}

#[test]
fn deepseek_blank_line_padding_cache_hits_and_reasoning() {
    let body = format!(
        "\n\n\n{}",
        json!({
            "id": "ds-1", "object": "chat.completion", "created": 1, "model": "deepseek-reasoner",
            "choices": [{"index": 0, "finish_reason": "stop",
                "message": {"role": "assistant", "content": "42", "reasoning_content": "6*7"}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                "prompt_cache_hit_tokens": 80, "prompt_cache_miss_tokens": 20,
                "completion_tokens_details": {"reasoning_tokens": 12}}
        })
    );
    let r = parse_chat_response(body.as_bytes(), "x").expect("parses");
    let msg = &r.choices[0].message;
    assert_eq!(msg.content.as_deref(), Some("42"));
    assert_eq!(msg.reasoning_content.as_deref(), Some("6*7"));
    let u = r.usage.expect("usage");
    assert_eq!(u.cached_tokens(), 80);
    assert_eq!(u.reasoning_tokens(), 12);
}

#[test]
fn vllm_reasoning_field_becomes_reasoning_content() {
    let r = parse(json!({"id": "v", "created": 1, "model": "qwen3",
        "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": "hi", "reasoning": "because"}}]}))
    .expect("parses");
    assert_eq!(
        r.choices[0].message.reasoning_content.as_deref(),
        Some("because")
    );
}

#[test]
fn mistral_content_chunks_and_model_length() {
    let r = parse(json!({"id": "m", "created": 1, "model": "magistral",
        "choices": [{"index": 0, "finish_reason": "model_length",
            "message": {"role": "assistant", "content": [
                {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
                {"type": "text", "text": "Answer"}]}}]}))
    .expect("parses");
    let c = &r.choices[0];
    assert_eq!(c.message.content.as_deref(), Some("Answer"));
    assert_eq!(c.message.reasoning_content.as_deref(), Some("hmm"));
    assert_eq!(c.finish_reason, Some(FinishReason::Length));
}

#[test]
fn insufficient_system_resource_is_retryable_only_without_output() {
    let empty = parse(json!({"id": "d", "created": 1, "model": "deepseek-chat",
        "choices": [{"index": 0, "finish_reason": "insufficient_system_resource",
            "message": {"role": "assistant", "content": ""}}]}))
    .expect_err("no output -> error");
    assert_eq!(empty.kind, ErrorKind::Upstream);
    assert!(empty.retryable);

    let partial = parse(json!({"id": "d", "created": 1, "model": "deepseek-chat",
        "choices": [{"index": 0, "finish_reason": "insufficient_system_resource",
            "message": {"role": "assistant", "content": "half an ans"}}]}))
    .expect("partial output is kept");
    assert_eq!(
        partial.choices[0].finish_reason,
        Some(FinishReason::Other("insufficient_system_resource".into()))
    );
}

#[test]
fn missing_ids_are_filled_and_object_arguments_serialised() {
    let r = parse(json!({"choices": [{"message": {"content": null,
        "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]}, "finish_reason": "tool_calls"}]}))
    .expect("parses");
    assert!(r.id.starts_with("chatcmpl-"));
    assert_eq!(r.model, "fallback-model");
    assert!(r.created > 0);
    let call = &r.choices[0].message.tool_calls.as_ref().expect("calls")[0];
    assert!(call.id.starts_with("call_"));
    assert_eq!(call.kind, "function");
    assert_eq!(call.function.arguments, r#"{"a":1}"#);
}

#[test]
fn error_body_on_200_is_an_error() {
    let e = parse(
        json!({"error": {"message": "overloaded, retry", "type": "server_error", "code": null}}),
    )
    .expect_err("error");
    assert_eq!(e.kind, ErrorKind::Upstream);
    assert_eq!(e.message, "overloaded, retry");
}

/// The typed parse fails on `choices` here; the error object must still win over a decode error.
#[test]
fn error_body_on_200_with_odd_fields_is_still_the_upstream_error() {
    let e = parse(json!({"choices": "none", "error": {"message": "boom", "type": "server_error"}}))
        .expect_err("error");
    assert_eq!(e.kind, ErrorKind::Upstream);
    assert_eq!(e.message, "boom");
}

#[test]
fn garbage_body_is_a_decode_error() {
    let e = parse_chat_response(b"<html>502</html>", "m").expect_err("decode");
    assert_eq!(e.kind, ErrorKind::Decode);
    assert!(e.message.contains("<html>"));
}

#[test]
fn usage_table() {
    // (wire usage) -> (prompt, completion, total, cached, reasoning)
    type Row = (serde_json::Value, (u64, u64, u64, u64, u64));
    let cases: &[Row] = &[
        (
            json!({"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}),
            (9, 3, 12, 0, 0),
        ),
        (
            json!({"prompt_tokens": 9, "completion_tokens": 3}),
            (9, 3, 12, 0, 0),
        ),
        (
            json!({"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12,
                "prompt_tokens_details": null, "completion_tokens_details": null}),
            (9, 3, 12, 0, 0),
        ),
        (
            json!({"prompt_tokens": 90, "completion_tokens": 30, "total_tokens": 120,
                "prompt_tokens_details": {"cached_tokens": 64}}),
            (90, 30, 120, 64, 0),
        ),
        // DeepSeek counters only when the OpenAI details are absent.
        (
            json!({"prompt_tokens": 90, "completion_tokens": 30, "total_tokens": 120,
                "prompt_cache_hit_tokens": 50, "prompt_cache_miss_tokens": 40}),
            (90, 30, 120, 50, 0),
        ),
        (
            json!({"prompt_tokens": 90, "completion_tokens": 30, "total_tokens": 120,
                "prompt_tokens_details": {"cached_tokens": 60}, "prompt_cache_hit_tokens": 50}),
            (90, 30, 120, 60, 0),
        ),
        (
            json!({"prompt_tokens": 5, "completion_tokens": 300, "total_tokens": 305,
                "completion_tokens_details": {"reasoning_tokens": 256}}),
            (5, 300, 305, 0, 256),
        ),
        // Ollama reports 0 prompt tokens when its prompt cache hit.
        (
            json!({"prompt_tokens": 0, "completion_tokens": 4, "total_tokens": 4}),
            (0, 4, 4, 0, 0),
        ),
    ];
    for (wire, want) in cases {
        let w: WireUsage = serde_json::from_value(wire.clone()).expect("wire usage");
        let u: Usage = usage_from_wire(&w);
        let got = (
            u.prompt_tokens,
            u.completion_tokens,
            u.total_tokens,
            u.cached_tokens(),
            u.reasoning_tokens(),
        );
        assert_eq!(got, *want, "{wire}");
    }
}

#[test]
fn together_logprobs_become_openai_content() {
    let lp = logprobs_from_wire(
        Some(
            json!({"tokens": ["Hel", "lo"], "token_logprobs": [-0.25, null],
            "top_logprobs": [{"Hel": -0.25, "Hi": -1.5}, null]}),
        ),
        None,
    )
    .expect("converted");
    insta::assert_json_snapshot!("together_logprobs", lp);
}

#[test]
fn openai_logprobs_pass_and_streamed_numbers_attach_to_the_token() {
    let lp = logprobs_from_wire(
        Some(json!({"content": [{"token": "a", "logprob": -0.1, "bytes": [97], "top_logprobs": []}], "refusal": null})),
        None,
    )
    .expect("openai shape");
    assert_eq!(lp.content.expect("content")[0].token, "a");
    let n = logprobs_from_wire(Some(json!(-0.5)), Some("tok")).expect("number");
    let c = n.content.expect("content");
    assert_eq!((c[0].token.as_str(), c[0].logprob), ("tok", -0.5));
    assert!(logprobs_from_wire(Some(json!(null)), None).is_none());
}

#[test]
fn embeddings_parse_with_and_without_usage() {
    let r = parse_embed_response(
        json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]}],
            "model": "text-embedding-3-small", "usage": {"prompt_tokens": 8, "total_tokens": 8}})
        .to_string()
        .as_bytes(),
    )
    .expect("parses");
    assert_eq!(r.usage.prompt_tokens, 8);
    assert_eq!(r.data[0].embedding, json!([0.5, -0.25]));
    let no_usage =
        parse_embed_response(br#"{"data":[{"index":0,"embedding":[1.0]}],"model":"nomic"}"#)
            .expect("parses");
    assert_eq!(no_usage.usage.total_tokens, 0);
}
