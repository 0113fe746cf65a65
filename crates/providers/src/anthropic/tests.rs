use http::HeaderMap;
use serde_json::{Value, json};
use switchyard_core::sse::{SseDecoder, SseEvent};
use switchyard_core::{
    CallCtx, ChatChunk, ChatRequest, ErrorKind, FinishReason, ProviderError, Secret,
    StreamAccumulator,
};

use super::convert::{from_wire, to_wire};
use super::error::from_http;
use super::stream::StreamState;
use super::wire;

fn req(v: Value) -> ChatRequest {
    serde_json::from_value(v).unwrap()
}

fn wire_json(v: Value) -> Value {
    serde_json::to_value(to_wire(&req(v), "claude-x", None, false).unwrap()).unwrap()
}

fn wire_err(v: Value) -> ProviderError {
    to_wire(&req(v), "claude-x", None, false).unwrap_err()
}

#[test]
fn system_hoisted_roles_merged_default_max_tokens() {
    let got = wire_json(json!({"model":"m","messages":[
        {"role":"system","content":"Be brief."},
        {"role":"user","content":"Hi"},
        {"role":"developer","content":[{"type":"text","text":"Use French."}]},
        {"role":"user","content":"there"},
        {"role":"assistant","content":""},
        {"role":"assistant","content":"Bonjour"}
    ]}));
    assert_eq!(
        got,
        json!({"model":"claude-x","max_tokens":4096,
        "system":"Be brief.\n\nUse French.",
        "messages":[
            {"role":"user","content":[{"type":"text","text":"Hi"},{"type":"text","text":"there"}]},
            {"role":"assistant","content":[{"type":"text","text":"Bonjour"}]}
        ]})
    );
}

#[test]
fn max_tokens_precedence() {
    let base = json!({"model":"m","messages":[{"role":"user","content":"x"}]});
    let r = req(base.clone());
    assert_eq!(
        to_wire(&r, "c", Some(1000), false).unwrap().max_tokens,
        1000
    );
    let mut v = base.clone();
    v["max_tokens"] = json!(50);
    assert_eq!(
        to_wire(&req(v), "c", Some(1000), false).unwrap().max_tokens,
        50
    );
    let mut v = base;
    v["max_tokens"] = json!(50);
    v["max_completion_tokens"] = json!(70);
    assert_eq!(
        to_wire(&req(v), "c", Some(1000), false).unwrap().max_tokens,
        70
    );
}

#[test]
fn tool_round_trip_results_first_in_one_user_turn() {
    let got = wire_json(json!({"model":"m","messages":[
        {"role":"user","content":"Weather in Paris and Rome?"},
        {"role":"assistant","content":"","tool_calls":[
            {"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
            {"id":"toolu_2","type":"function","function":{"name":"get_weather","arguments":""}}]},
        {"role":"tool","tool_call_id":"toolu_1","content":"18C"},
        {"role":"tool","tool_call_id":"toolu_2","content":[{"type":"text","text":"21C"}]},
        {"role":"user","content":"Thanks, and tomorrow?"}
    ]}));
    assert_eq!(
        got["messages"],
        json!([
            {"role":"user","content":[{"type":"text","text":"Weather in Paris and Rome?"}]},
            {"role":"assistant","content":[
                {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}},
                {"type":"tool_use","id":"toolu_2","name":"get_weather","input":{}}]},
            {"role":"user","content":[
                {"type":"tool_result","tool_use_id":"toolu_1","content":"18C"},
                {"type":"tool_result","tool_use_id":"toolu_2","content":"21C"},
                {"type":"text","text":"Thanks, and tomorrow?"}]}
        ])
    );
}

#[test]
fn tool_result_goes_ahead_of_earlier_user_text() {
    let got = wire_json(json!({"model":"m","messages":[
        {"role":"assistant","content":null,"tool_calls":[
            {"id":"t1","type":"function","function":{"name":"f","arguments":"{}"}}]},
        {"role":"user","content":"note"},
        {"role":"tool","tool_call_id":"t1","content":"ok"}
    ]}));
    assert_eq!(
        got["messages"][1]["content"],
        json!([{"type":"tool_result","tool_use_id":"t1","content":"ok"},{"type":"text","text":"note"}])
    );
}

#[test]
fn tools_choice_sampling_and_metadata() {
    let got = wire_json(
        json!({"model":"m","messages":[{"role":"user","content":"x"}],
        "tools":[{"type":"function","function":{"name":"a","description":"d","parameters":{"type":"object","properties":{"q":{"type":"string"}}}}},
                 {"type":"function","function":{"name":"b"}}],
        "tool_choice":"required","parallel_tool_calls":false,
        "temperature":1.7,"top_p":0.9,"stop":"END","user":"u-1","seed":3,"logprobs":true,
        "presence_penalty":1.0,"top_k":40}),
    );
    assert_eq!(
        got,
        json!({"model":"claude-x","max_tokens":4096,
            "messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],
            "stop_sequences":["END"],"temperature":1.0,"top_k":40,
            "tools":[{"name":"a","description":"d","input_schema":{"type":"object","properties":{"q":{"type":"string"}}}},
                     {"name":"b","input_schema":{"type":"object","properties":{}}}],
            "tool_choice":{"type":"any","disable_parallel_tool_use":true},
            "metadata":{"user_id":"u-1"}})
    );
}

#[test]
fn top_p_only_without_temperature() {
    let got =
        wire_json(json!({"model":"m","messages":[{"role":"user","content":"x"}],"top_p":0.5}));
    assert_eq!(got["top_p"], 0.5);
    assert!(got.get("temperature").is_none());
}

#[test]
fn tool_choice_table() {
    let cases = [
        (json!("auto"), json!({"type":"auto"})),
        (json!("none"), json!({"type":"none"})),
        (json!("required"), json!({"type":"any"})),
        (
            json!({"type":"function","function":{"name":"a"}}),
            json!({"type":"tool","name":"a"}),
        ),
    ];
    for (choice, want) in cases {
        let got = wire_json(
            json!({"model":"m","messages":[{"role":"user","content":"x"}],
            "tools":[{"type":"function","function":{"name":"a"}}],"tool_choice":choice}),
        );
        assert_eq!(got["tool_choice"], want);
    }
    // No tools: no tool_choice (Anthropic rejects it without tools).
    let got = wire_json(
        json!({"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"auto"}),
    );
    assert!(got.get("tool_choice").is_none());
}

#[test]
fn images_become_base64_or_url_sources() {
    let got = wire_json(json!({"model":"m","messages":[{"role":"user","content":[
        {"type":"text","text":"what is this"},
        {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0"}},
        {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg","detail":"low"}}
    ]}]}));
    assert_eq!(
        got["messages"][0]["content"],
        json!([
            {"type":"text","text":"what is this"},
            {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0"}},
            {"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}
        ])
    );
}

#[test]
fn response_formats() {
    let schema = json!({"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]});
    let got = wire_json(
        json!({"model":"m","messages":[{"role":"user","content":"x"}],
        "response_format":{"type":"json_schema","json_schema":{"name":"r","schema":schema}}}),
    );
    assert_eq!(
        got["output_config"],
        json!({"format":{"type":"json_schema","schema":schema}})
    );
    assert!(got.get("system").is_none());
    let got = wire_json(
        json!({"model":"m","messages":[{"role":"system","content":"S"},{"role":"user","content":"x"}],
        "response_format":{"type":"json_object"}}),
    );
    let system = got["system"].as_str().unwrap();
    assert!(system.starts_with("S\n\n") && system.contains("JSON object"));
    assert!(got.get("output_config").is_none());
}

/// Capability gaps (another provider could serve the request) are `Unsupported`; requests no
/// provider could serve are `InvalidRequest`.
#[test]
fn refusals_are_typed() {
    use ErrorKind::{InvalidRequest as Bad, Unsupported as Gap};
    let cases = [
        (
            json!({"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}),
            "n>1 is not supported by Anthropic models",
            Gap,
        ),
        (
            json!({"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[
                {"id":"t","type":"function","function":{"name":"f","arguments":"{not json"}}]}]}),
            "not valid JSON",
            Bad,
        ),
        (
            json!({"model":"m","messages":[{"role":"system","content":"only system"}]}),
            "at least one",
            Gap,
        ),
        (
            json!({"model":"m","messages":[{"role":"user","content":""}]}),
            "at least one",
            Gap,
        ),
        (
            json!({"model":"m","messages":[{"role":"tool","content":"x"}]}),
            "tool_call_id",
            Bad,
        ),
        (
            json!({"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}),
            "input_audio",
            Gap,
        ),
    ];
    for (body, needle, kind) in cases {
        let e = wire_err(body);
        assert_eq!(e.kind, kind, "{}", e.message);
        assert!(!e.retryable);
        assert!(e.message.contains(needle), "{} !~ {needle}", e.message);
    }
}

#[test]
fn response_with_text_tools_thinking_and_cache_usage() {
    let resp: wire::MessagesResponse = serde_json::from_value(json!({
        "id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",
        "content":[{"type":"thinking","thinking":"hmm","signature":"sig"},
                   {"type":"text","text":"Let me "},{"type":"text","text":"check."},
                   {"type":"tool_use","id":"toolu_A","name":"get_weather","input":{"city":"Paris"}},
                   {"type":"server_tool_use","id":"x","name":"web_search","input":{}}],
        "stop_reason":"tool_use","stop_sequence":null,
        "usage":{"input_tokens":100,"output_tokens":58,"cache_creation_input_tokens":20,"cache_read_input_tokens":300}
    }))
    .unwrap();
    let got = serde_json::to_value(from_wire(resp, 7)).unwrap();
    assert_eq!(
        got,
        json!({"id":"msg_1","object":"chat.completion","created":7,"model":"claude-sonnet-4-5",
            "choices":[{"index":0,"finish_reason":"tool_calls","logprobs":null,
                "message":{"role":"assistant","content":"Let me check.","refusal":null,
                    "reasoning_content":"hmm",
                    "tool_calls":[{"id":"toolu_A","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}}],
            "usage":{"prompt_tokens":420,"completion_tokens":58,"total_tokens":478,
                "prompt_tokens_details":{"cached_tokens":300,"cache_write_tokens":20},
                "completion_tokens_details":{"reasoning_tokens":0}}})
    );
}

#[test]
fn stop_reason_table() {
    for (wire_reason, want) in [
        ("end_turn", FinishReason::Stop),
        ("stop_sequence", FinishReason::Stop),
        ("pause_turn", FinishReason::Stop),
        ("max_tokens", FinishReason::Length),
        ("model_context_window_exceeded", FinishReason::Length),
        ("tool_use", FinishReason::ToolCalls),
        ("refusal", FinishReason::ContentFilter),
        ("brand_new", FinishReason::Other("brand_new".into())),
    ] {
        assert_eq!(super::convert::finish_reason(wire_reason), want);
    }
}

#[test]
fn http_error_table() {
    let body = |t: &str, m: &str| {
        json!({"type":"error","error":{"type":t,"message":m},"request_id":"req_1"}).to_string()
    };
    let cases: Vec<(u16, String, ErrorKind, bool)> = vec![
        (
            400,
            body("invalid_request_error", "temperature: bad"),
            ErrorKind::InvalidRequest,
            false,
        ),
        (
            400,
            body(
                "invalid_request_error",
                "prompt is too long: 210000 tokens > 200000 maximum",
            ),
            ErrorKind::ContextLengthExceeded,
            false,
        ),
        (
            401,
            body("authentication_error", "invalid x-api-key"),
            ErrorKind::Auth,
            false,
        ),
        (
            402,
            body("billing_error", "credit balance too low"),
            ErrorKind::QuotaExhausted,
            false,
        ),
        (403, body("permission_error", "no"), ErrorKind::Auth, false),
        (
            404,
            body("not_found_error", "model: x"),
            ErrorKind::InvalidRequest,
            false,
        ),
        (
            413,
            "<html>Request Entity Too Large</html>".to_owned(),
            ErrorKind::InvalidRequest,
            false,
        ),
        (
            429,
            body("rate_limit_error", "slow down"),
            ErrorKind::RateLimited,
            true,
        ),
        (500, body("api_error", "oops"), ErrorKind::Upstream, true),
        (
            529,
            body("overloaded_error", "Overloaded"),
            ErrorKind::Overloaded,
            true,
        ),
        (502, "bad gateway".to_owned(), ErrorKind::Upstream, true),
    ];
    for (status, b, kind, retryable) in cases {
        let e = from_http(status, &HeaderMap::new(), b.as_bytes());
        assert_eq!(
            (e.kind, e.retryable, e.status),
            (kind, retryable, Some(status)),
            "{status} {b}"
        );
    }
    let e = from_http(413, &HeaderMap::new(), b"too big");
    assert_eq!(e.code.as_deref(), Some("request_too_large"));
    let mut h = HeaderMap::new();
    h.insert("retry-after", "12".parse().unwrap());
    let e = from_http(429, &h, body("rate_limit_error", "slow").as_bytes());
    assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(12)));
    assert_eq!(e.code.as_deref(), Some("rate_limit_error"));
    assert_eq!(e.message, "Anthropic: slow");
    h.insert("x-should-retry", "false".parse().unwrap());
    assert!(!from_http(429, &h, b"{}").retryable);
}

/// Decode an SSE transcript and run it through the state machine, as the provider does.
fn run(transcript: &str) -> (Vec<ChatChunk>, Result<(), ProviderError>) {
    let mut dec = SseDecoder::new();
    let mut events: Vec<SseEvent> = Vec::new();
    dec.push(transcript.as_bytes(), &mut events);
    dec.finish(&mut events);
    let mut st = StreamState::new("fallback", 9);
    let mut chunks = Vec::new();
    for ev in &events {
        match st.on_event(ev) {
            Ok(c) => chunks.extend(c),
            Err(e) => return (chunks, Err(e)),
        }
    }
    let end = st.on_end();
    (chunks, end)
}

fn ev(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn tool_transcript() -> String {
    [
        ev("message_start", json!({"type":"message_start","message":{"id":"msg_S","type":"message","role":"assistant","content":[],"model":"claude-haiku","stop_reason":null,"usage":{"input_tokens":472,"output_tokens":1,"cache_read_input_tokens":100,"cache_creation_input_tokens":0}}})),
        ev("content_block_start", json!({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})),
        ev("ping", json!({"type":"ping"})),
        ev("content_block_delta", json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking"}})),
        ev("content_block_delta", json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" both."}})),
        ev("content_block_stop", json!({"type":"content_block_stop","index":0})),
        ev("content_block_start", json!({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_A","name":"get_weather","input":{}}})),
        ev("content_block_delta", json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\": \"Pa"}})),
        ev("content_block_delta", json!({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ris\"}"}})),
        ev("content_block_stop", json!({"type":"content_block_stop","index":1})),
        ev("content_block_start", json!({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_B","name":"get_time","input":{}}})),
        ev("content_block_delta", json!({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}})),
        ev("content_block_stop", json!({"type":"content_block_stop","index":2})),
        ev("message_delta", json!({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":58}})),
        ev("message_stop", json!({"type":"message_stop"})),
    ]
    .concat()
}

#[test]
fn stream_text_and_two_tool_calls() {
    let (chunks, end) = run(&tool_transcript());
    end.unwrap();
    let got: Vec<Value> = chunks
        .iter()
        .map(|c| {
            assert_eq!(
                (c.id.as_str(), c.model.as_str(), c.created),
                ("msg_S", "claude-haiku", 9)
            );
            json!({"choices": c.choices, "usage": c.usage})
        })
        .collect();
    let d = |delta: Value| json!({"choices":[{"index":0,"delta":delta,"finish_reason":null}],"usage":null});
    assert_eq!(
        got,
        vec![
            d(json!({"role":"assistant","content":""})),
            d(json!({"content":"Checking"})),
            d(json!({"content":" both."})),
            d(
                json!({"tool_calls":[{"index":0,"id":"toolu_A","type":"function","function":{"name":"get_weather","arguments":""}}]})
            ),
            d(json!({"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": \"Pa"}}]})),
            d(json!({"tool_calls":[{"index":0,"function":{"arguments":"ris\"}"}}]})),
            d(
                json!({"tool_calls":[{"index":1,"id":"toolu_B","type":"function","function":{"name":"get_time","arguments":""}}]})
            ),
            json!({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":null}),
            json!({"choices":[],"usage":{"prompt_tokens":572,"completion_tokens":58,"total_tokens":630,
                "prompt_tokens_details":{"cached_tokens":100},"completion_tokens_details":{"reasoning_tokens":0}}}),
        ]
    );
    // The accumulated stream equals what the non-streamed call would have returned.
    let mut acc = StreamAccumulator::new();
    chunks.iter().for_each(|c| acc.push(c));
    let resp = acc.finish();
    let calls = resp.choices[0].message.tool_calls.as_ref().unwrap();
    assert_eq!(calls[0].function.arguments, "{\"city\": \"Paris\"}");
    assert_eq!(calls[1].function.arguments, "");
    assert_eq!(
        resp.choices[0].message.content.as_deref(),
        Some("Checking both.")
    );
}

#[test]
fn stream_thinking_becomes_reasoning_and_signature_is_dropped() {
    let t = [
        ev("message_start", json!({"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":5}}})),
        ev("content_block_start", json!({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}})),
        ev("content_block_delta", json!({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me think"}})),
        ev("content_block_delta", json!({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}})),
        ev("message_delta", json!({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9,"input_tokens":5}})),
        ev("message_stop", json!({"type":"message_stop"})),
    ]
    .concat();
    let (chunks, end) = run(&t);
    end.unwrap();
    assert_eq!(chunks.len(), 4);
    assert_eq!(
        chunks[1].choices[0].delta.reasoning_content.as_deref(),
        Some("Let me think")
    );
    assert_eq!(chunks[2].choices[0].finish_reason, Some(FinishReason::Stop));
    assert_eq!(chunks[3].usage.as_ref().map(|u| u.total_tokens), Some(14));
}

#[test]
fn stream_error_event_mid_stream() {
    let t = [
        ev("message_start", json!({"type":"message_start","message":{"id":"m","model":"c","usage":{"input_tokens":5}}})),
        ev("content_block_delta", json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}})),
        ev("error", json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})),
        ev("content_block_delta", json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"never"}})),
    ]
    .concat();
    let (chunks, end) = run(&t);
    assert_eq!(chunks.len(), 2);
    let e = end.unwrap_err();
    assert_eq!((e.kind, e.retryable), (ErrorKind::Overloaded, true));
    assert_eq!(e.code.as_deref(), Some("overloaded_error"));
}

#[test]
fn stream_cut_before_message_stop() {
    let full = tool_transcript();
    let cut = &full[..full.find("event: message_delta").unwrap()];
    let (chunks, end) = run(cut);
    assert_eq!(chunks.len(), 7);
    let e = end.unwrap_err();
    assert_eq!((e.kind, e.retryable), (ErrorKind::StreamInterrupted, true));
    let (_, end) = run("");
    assert_eq!(end.unwrap_err().kind, ErrorKind::StreamInterrupted);
}

#[test]
fn stream_raw_json_error_body() {
    let mut st = StreamState::new("m", 0);
    let e = st
        .on_event(&SseEvent {
            event: Some("raw".into()),
            data: json!({"type":"error","error":{"type":"rate_limit_error","message":"x"}})
                .to_string(),
        })
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimited);
}

mod http_tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, Uri};
    use axum::routing::post;
    use futures::StreamExt;
    use switchyard_core::Provider;

    use super::*;
    use crate::registry::ProviderSettings;

    type Seen = Arc<Mutex<Vec<(String, HeaderMap, Value)>>>;

    async fn serve(reply: &'static str, content_type: &'static str) -> (String, Seen) {
        let seen: Seen = Arc::default();
        let app =
            Router::new()
                .route(
                    "/v1/messages",
                    post(
                        move |State(seen): State<Seen>,
                              uri: Uri,
                              headers: HeaderMap,
                              body: Bytes| async move {
                            let v: Value = serde_json::from_slice(&body).unwrap();
                            seen.lock().unwrap().push((uri.to_string(), headers, v));
                            ([("content-type", content_type)], reply)
                        },
                    ),
                )
                .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), seen)
    }

    fn provider(base: &str) -> Arc<dyn Provider> {
        let mut s = ProviderSettings {
            name: "claude".into(),
            kind: "anthropic".into(),
            base_url: Some(base.to_owned()),
            default_max_tokens: Some(321),
            ..Default::default()
        };
        s.headers.insert("anthropic-beta".into(), "x-1".into());
        super::super::build(&s, reqwest::Client::new()).unwrap()
    }

    fn ctx() -> CallCtx {
        let mut c = CallCtx::new("claude-test");
        c.api_key = Some(Secret::new("sk-ant-123"));
        c
    }

    #[tokio::test]
    async fn chat_sends_key_version_and_path() {
        let reply = r#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-test","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}"#;
        let (base, seen) = serve(reply, "application/json").await;
        let p = provider(&base);
        let r = req(json!({"model":"alias","messages":[{"role":"user","content":"hello"}]}));
        let resp = p.chat(&r, &ctx()).await.unwrap();
        assert_eq!(resp.choices[0].message.content.as_deref(), Some("hi"));
        let seen = seen.lock().unwrap();
        let (uri, headers, body) = &seen[0];
        assert_eq!(uri, "/v1/messages");
        assert_eq!(headers["x-api-key"], "sk-ant-123");
        assert_eq!(headers["anthropic-version"], "2023-06-01");
        assert_eq!(headers["anthropic-beta"], "x-1");
        assert!(headers.get("authorization").is_none());
        assert_eq!(body["model"], "claude-test");
        assert_eq!(body["max_tokens"], 321);
        assert!(body.get("stream").is_none());
    }

    #[tokio::test]
    async fn stream_end_to_end() {
        let transcript: &'static str = Box::leak(tool_transcript().into_boxed_str());
        let (base, seen) = serve(transcript, "text/event-stream").await;
        let p = provider(&base);
        let r = req(
            json!({"model":"alias","stream":true,"messages":[{"role":"user","content":"hello"}]}),
        );
        let s = p.chat_stream(&r, &ctx()).await.unwrap();
        let items: Vec<_> = s.collect().await;
        assert_eq!(items.len(), 9);
        assert!(items.iter().all(Result::is_ok));
        assert_eq!(seen.lock().unwrap()[0].2["stream"], true);
        assert!(!p.offers_logprobs());
    }
}

/// The matched stop sequence is carried (JSON and streamed, through the accumulator) for the
/// Anthropic ingress, and stays out of the OpenAI-shaped serialisation.
#[test]
fn matched_stop_sequence_is_kept_but_not_serialised() {
    let resp: wire::MessagesResponse = serde_json::from_value(json!({
        "id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",
        "content":[{"type":"text","text":"alpha beta "}],
        "stop_reason":"stop_sequence","stop_sequence":"STOP",
        "usage":{"input_tokens":5,"output_tokens":2}
    }))
    .unwrap();
    let canonical = from_wire(resp, 7);
    assert_eq!(canonical.choices[0].stop_sequence.as_deref(), Some("STOP"));
    assert_eq!(canonical.choices[0].finish_reason, Some(FinishReason::Stop));
    let openai = serde_json::to_string(&canonical).unwrap();
    assert!(!openai.contains("stop_sequence"), "{openai}");

    let transcript = [
        ev("message_start", json!({"type":"message_start","message":{"id":"msg_S","type":"message","role":"assistant","content":[],"model":"claude-haiku","stop_reason":null,"usage":{"input_tokens":5,"output_tokens":1}}})),
        ev("content_block_delta", json!({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"alpha beta "}})),
        ev("message_delta", json!({"type":"message_delta","delta":{"stop_reason":"stop_sequence","stop_sequence":"STOP"},"usage":{"output_tokens":2}})),
        ev("message_stop", json!({"type":"message_stop"})),
    ]
    .concat();
    let (chunks, end) = run(&transcript);
    end.unwrap();
    let last = chunks
        .iter()
        .find(|c| c.choices.iter().any(|ch| ch.finish_reason.is_some()))
        .unwrap();
    assert_eq!(last.choices[0].stop_sequence.as_deref(), Some("STOP"));
    assert!(
        !serde_json::to_string(last)
            .unwrap()
            .contains("stop_sequence")
    );
    let mut acc = StreamAccumulator::new();
    chunks.iter().for_each(|c| acc.push(c));
    assert_eq!(
        acc.finish().choices[0].stop_sequence.as_deref(),
        Some("STOP")
    );
}

/// `count_tokens` takes the prompt half of a Messages body only: Anthropic rejects
/// `max_tokens`, sampling and `stream` there.
#[test]
fn count_tokens_body_keeps_the_prompt_and_drops_the_rest() {
    let full = to_wire(
        &req(
            json!({"model":"m","max_tokens":50,"temperature":0.5,"stop":["X"],"messages":[
            {"role":"system","content":"Be brief."},
            {"role":"user","content":"Hi"}],
            "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
            "tool_choice":"required"}),
        ),
        "claude-x",
        None,
        true,
    )
    .unwrap();
    let got = serde_json::to_value(wire::CountTokensRequest::of(&full)).unwrap();
    assert_eq!(
        got,
        json!({
            "model": "claude-x",
            "system": "Be brief.",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any"}
        })
    );
}
