//! Whole SSE transcripts -> chunk sequences, through the same decoder the HTTP path uses.

use switchyard_core::sse::SseDecoder;
use switchyard_core::{ChatChunk, ErrorKind, FinishReason, ProviderError, StreamAccumulator};

use crate::openai::stream::StreamDecoder;

type Items = Vec<Result<ChatChunk, ProviderError>>;

fn run_split(transcript: &str, split: usize) -> Items {
    let mut sse = SseDecoder::new();
    let mut dec = StreamDecoder::new("fallback", Some("sk-KEY-123456"));
    let mut events = Vec::new();
    let mut out = Vec::new();
    for part in transcript.as_bytes().chunks(split.max(1)) {
        sse.push(part, &mut events);
        for ev in events.drain(..) {
            dec.on_event(&ev, &mut out);
        }
    }
    sse.finish(&mut events);
    for ev in events.drain(..) {
        dec.on_event(&ev, &mut out);
    }
    dec.on_end(&mut out);
    out
}

fn run(transcript: &str) -> Items {
    run_split(transcript, usize::MAX)
}

fn oks(items: &Items) -> Vec<&ChatChunk> {
    items.iter().filter_map(|i| i.as_ref().ok()).collect()
}

fn accumulate(items: &Items) -> switchyard_core::ChatResponse {
    let mut acc = StreamAccumulator::new();
    for c in oks(items) {
        acc.push(c);
    }
    acc.finish()
}

const TEXT: &str = r#"data: {"id":"c1","object":"chat.completion.chunk","created":5,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}

data: {"id":"c1","object":"chat.completion.chunk","created":5,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null}

data: {"id":"c1","object":"chat.completion.chunk","created":5,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}],"usage":null}

data: {"id":"c1","object":"chat.completion.chunk","created":5,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}

data: {"id":"c1","object":"chat.completion.chunk","created":5,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":0}}}

data: [DONE]

"#;

#[test]
fn text_stream_with_usage_on_final_empty_chunk() {
    let items = run(TEXT);
    assert!(items.iter().all(Result::is_ok));
    let chunks = oks(&items);
    assert_eq!(chunks.len(), 5);
    assert!(
        chunks[..4]
            .iter()
            .all(|c| c.usage.is_none() && c.id == "c1" && c.created == 5)
    );
    let last = chunks[4];
    assert!(last.choices.is_empty());
    assert_eq!(last.usage.as_ref().map(|u| u.total_tokens), Some(11));
    let r = accumulate(&items);
    assert_eq!(r.choices[0].message.content.as_deref(), Some("Hello"));
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::Stop));
}

#[test]
fn every_byte_split_gives_the_same_chunks() {
    let whole: Vec<ChatChunk> = run(TEXT).into_iter().map(|r| r.expect("ok")).collect();
    for split in [1, 2, 3, 7, 64] {
        let got: Vec<ChatChunk> = run_split(TEXT, split)
            .into_iter()
            .map(|r| r.expect("ok"))
            .collect();
        assert_eq!(got, whole, "split {split}");
    }
}

#[test]
fn streamed_tool_call_argument_fragments() {
    let t = r#"data: {"id":"c2","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}

data: {"id":"c2","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"ci"}}]},"finish_reason":null}]}

data: {"id":"c2","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\":\"Paris\"}"}}]},"finish_reason":null}]}

data: {"id":"c2","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

data: [DONE]
"#;
    let items = run(t);
    let r = accumulate(&items);
    let calls = r.choices[0].message.tool_calls.as_ref().expect("calls");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].id, "call_1");
    assert_eq!(calls[0].function.name, "get_weather");
    assert_eq!(calls[0].function.arguments, r#"{"city":"Paris"}"#);
    assert_eq!(r.choices[0].finish_reason, Some(FinishReason::ToolCalls));
}

#[test]
fn two_parallel_tool_calls_interleaved() {
    let t = r#"data: {"id":"c3","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"weather","arguments":""}}]}}]}

data: {"id":"c3","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"time","arguments":"{\"tz\":"}}]}}]}

data: {"id":"c3","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":\"Rome\"}"}}]}}]}

data: {"id":"c3","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"\"CET\"}"}}]}}]}

data: {"id":"c3","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

data: [DONE]
"#;
    let items = run(t);
    insta::assert_json_snapshot!("parallel_tool_calls_chunks", oks(&items));
    let r = accumulate(&items);
    let calls = r.choices[0].message.tool_calls.as_ref().expect("calls");
    let got: Vec<(&str, &str, &str)> = calls
        .iter()
        .map(|c| {
            (
                c.id.as_str(),
                c.function.name.as_str(),
                c.function.arguments.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("call_a", "weather", r#"{"city":"Rome"}"#),
            ("call_b", "time", r#"{"tz":"CET"}"#)
        ]
    );
}

#[test]
fn whole_tool_calls_without_index_get_their_own_slots() {
    let t = r#"data: {"id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"id":"aaaaaaaa1","function":{"name":"f","arguments":"{}"}}]}}]}

data: {"id":"c","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"id":"bbbbbbbb2","function":{"name":"g","arguments":{"x":1}}}]},"finish_reason":"tool_calls"}]}

"#;
    let r = accumulate(&run(t));
    let calls = r.choices[0].message.tool_calls.as_ref().expect("calls");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].function.arguments, r#"{"x":1}"#);
}

#[test]
fn usage_on_a_chunk_with_choices_moves_to_a_final_empty_chunk() {
    // Mistral: no stream_options, usage rides on the finishing chunk.
    let t = r#"data: {"id":"m1","created":1,"model":"mistral-small","choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":null}]}

data: {"id":"m1","created":1,"model":"mistral-small","choices":[{"index":0,"delta":{"content":""},"finish_reason":"stop"}],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}

data: [DONE]

"#;
    let items = run(t);
    let chunks = oks(&items);
    assert_eq!(chunks.len(), 3);
    assert!(
        chunks[1].usage.is_none() && chunks[1].choices[0].finish_reason == Some(FinishReason::Stop)
    );
    assert!(chunks[2].choices.is_empty());
    assert_eq!(chunks[2].usage.as_ref().map(|u| u.prompt_tokens), Some(5));
}

#[test]
fn groq_usage_in_x_groq() {
    let t = r#"data: {"id":"g","created":1,"model":"llama","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}],"x_groq":{"id":"req_1"}}

data: {"id":"g","created":1,"model":"llama","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"x_groq":{"id":"req_1","usage":{"queue_time":0.01,"prompt_tokens":12,"completion_tokens":1,"total_tokens":13}}}

data: [DONE]
"#;
    let items = run(t);
    let last = *oks(&items).last().expect("chunks");
    assert!(last.choices.is_empty());
    assert_eq!(last.usage.as_ref().map(|u| u.total_tokens), Some(13));
}

#[test]
fn continuous_usage_reports_once_with_the_latest_numbers() {
    let t = r#"data: {"id":"v","created":1,"model":"q","choices":[{"index":0,"delta":{"content":"a"}}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}

data: {"id":"v","created":1,"model":"q","choices":[{"index":0,"delta":{"content":"b"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}

data: [DONE]
"#;
    let items = run(t);
    let with_usage: Vec<_> = oks(&items)
        .into_iter()
        .filter(|c| c.usage.is_some())
        .collect();
    assert_eq!(with_usage.len(), 1);
    assert_eq!(
        with_usage[0].usage.as_ref().map(|u| u.completion_tokens),
        Some(2)
    );
}

#[test]
fn deepseek_keep_alive_comments_and_reasoning() {
    let t = ": keep-alive\n\n: keep-alive\n\ndata: {\"id\":\"d\",\"created\":1,\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"think\"}}]}\n\n: keep-alive\n\ndata: {\"id\":\"d\",\"created\":1,\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"42\"},\"finish_reason\":\"stop\"}]}\n\ndata: {\"id\":\"d\",\"created\":1,\"model\":\"deepseek-reasoner\",\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":6,\"total_tokens\":10,\"prompt_cache_hit_tokens\":0}}\n\ndata: [DONE]\n\n";
    let items = run(t);
    assert!(items.iter().all(Result::is_ok));
    let r = accumulate(&items);
    assert_eq!(
        r.choices[0].message.reasoning_content.as_deref(),
        Some("think")
    );
    assert_eq!(r.choices[0].message.content.as_deref(), Some("42"));
    assert_eq!(r.usage.map(|u| u.total_tokens), Some(10));
}

#[test]
fn vllm_reasoning_delta() {
    let t = "data: {\"id\":\"v\",\"created\":1,\"model\":\"q\",\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"r\"}}]}\n\ndata: {\"id\":\"v\",\"created\":1,\"model\":\"q\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
    let r = accumulate(&run(t));
    assert_eq!(r.choices[0].message.reasoning_content.as_deref(), Some("r"));
}

#[test]
fn mid_stream_error_event_ends_the_stream_with_the_upstream_message() {
    let t = r#"data: {"id":"e","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"par"}}]}

data: {"error":{"message":"The server had an error while processing your request. key sk-KEY-123456","type":"server_error","param":null,"code":null}}

data: {"id":"e","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"never"}}]}

"#;
    let items = run(t);
    assert_eq!(items.len(), 2, "nothing after the error: {items:?}");
    let e = items[1].as_ref().expect_err("error");
    assert_eq!(e.kind, ErrorKind::Upstream);
    assert!(e.message.starts_with("The server had an error"));
    assert!(!e.message.contains("sk-KEY"), "key scrubbed: {}", e.message);
}

/// The typed chunk parse fails on `choices` here; the error object must still win.
#[test]
fn error_event_with_odd_fields_is_still_the_upstream_error() {
    let t = r#"data: {"choices":"none","error":{"message":"overloaded","type":"server_error"}}

"#;
    let items = run(t);
    assert_eq!(items.len(), 1, "{items:?}");
    let e = items[0].as_ref().expect_err("error");
    assert_eq!(e.kind, ErrorKind::Upstream);
    assert_eq!(e.message, "overloaded");
}

#[test]
fn cut_stream_without_finish_is_interrupted() {
    let t = r#"data: {"id":"x","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"The answer is"}}]}

"#;
    let items = run(t);
    assert_eq!(items.len(), 2);
    let e = items[1].as_ref().expect_err("cut");
    assert_eq!(e.kind, ErrorKind::StreamInterrupted);
    assert!(e.retryable);
    // An empty body is cut too.
    let e = run("").pop().expect("one item").expect_err("cut");
    assert_eq!(e.kind, ErrorKind::StreamInterrupted);
}

#[test]
fn finish_without_done_is_clean_and_done_ends_normally() {
    let t = "data: {\"id\":\"x\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}\n\n";
    let items = run(t);
    assert!(items.iter().all(Result::is_ok));
    assert_eq!(items.len(), 2);
    let done_only = run("data: [DONE]\n\n");
    assert!(done_only.is_empty());
}

#[test]
fn n2_stream_needs_every_choice_finished() {
    let t = "data: {\"id\":\"x\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"},{\"index\":1,\"delta\":{\"content\":\"b\"}}]}\n\n";
    let e = run(t)
        .pop()
        .expect("item")
        .expect_err("choice 1 never finished");
    assert_eq!(e.kind, ErrorKind::StreamInterrupted);
}

#[test]
fn insufficient_system_resource_before_any_output_is_retryable() {
    let t = "data: {\"id\":\"d\",\"created\":1,\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\ndata: {\"id\":\"d\",\"created\":1,\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"insufficient_system_resource\"}]}\n\n";
    let e = run(t).pop().expect("item").expect_err("error");
    assert_eq!(e.kind, ErrorKind::Upstream);
    assert!(e.retryable);

    let partial = "data: {\"id\":\"d\",\"created\":1,\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"half\"}}]}\n\ndata: {\"id\":\"d\",\"created\":1,\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"insufficient_system_resource\"}]}\n\n";
    let items = run(partial);
    assert!(items.iter().all(Result::is_ok));
    assert_eq!(
        accumulate(&items).choices[0].finish_reason,
        Some(FinishReason::Other("insufficient_system_resource".into()))
    );
}

#[test]
fn undecodable_chunk_is_a_decode_error() {
    let e = run("data: {not json\n\n")
        .pop()
        .expect("item")
        .expect_err("decode");
    assert_eq!(e.kind, ErrorKind::Decode);
}

#[test]
fn empty_opening_chunk_does_not_blank_the_stream_id_and_missing_ids_are_minted_once() {
    let t = "data: {\"id\":\"\",\"object\":\"\",\"created\":0,\"model\":\"\",\"choices\":[],\"prompt_filter_results\":[]}\n\ndata: {\"id\":\"az-1\",\"created\":9,\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"finish_reason\":\"stop\"}]}\n\n";
    let items = run(t);
    let c = oks(&items)[0];
    assert_eq!(
        (c.id.as_str(), c.created, c.model.as_str()),
        ("az-1", 9, "gpt-4o")
    );

    let t = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n";
    let items = run(t);
    let chunks = oks(&items);
    assert!(chunks[0].id.starts_with("chatcmpl-"));
    assert_eq!(chunks[0].id, chunks[1].id);
    assert_eq!(chunks[0].model, "fallback");
}
