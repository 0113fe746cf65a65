use serde_json::{Value, json};
use switchyard_core::sse::{SseDecoder, SseEvent};
use switchyard_core::{ChatChunk, ErrorKind, FinishReason, ProviderError, StreamAccumulator};

use super::stream::StreamState;

fn frame(v: Value) -> String {
    format!("data: {v}\r\n\r\n")
}

fn run(transcript: &str) -> (Vec<ChatChunk>, Result<(), ProviderError>) {
    let mut dec = SseDecoder::new();
    let mut events: Vec<SseEvent> = Vec::new();
    dec.push(transcript.as_bytes(), &mut events);
    dec.finish(&mut events);
    let mut st = StreamState::new("gen-id".into(), "fallback", 3);
    let mut chunks = Vec::new();
    for ev in &events {
        match st.on_event(ev) {
            Ok(c) => chunks.extend(c),
            Err(e) => return (chunks, Err(e)),
        }
    }
    match st.on_end() {
        Ok(last) => {
            chunks.extend(last);
            (chunks, Ok(()))
        }
        Err(e) => (chunks, Err(e)),
    }
}

fn transcript() -> String {
    let usage =
        |c: u64| json!({"promptTokenCount":10,"candidatesTokenCount":c,"totalTokenCount":10 + c});
    [
        frame(json!({"candidates":[{"index":0,"content":{"role":"model","parts":[{"text":"Let me"}]}}],
            "usageMetadata":usage(2),"modelVersion":"gemini-2.5-flash","responseId":"resp-1"})),
        frame(json!({"candidates":[{"index":0,"content":{"role":"model","parts":[{"text":" check."}]}}],
            "usageMetadata":usage(4),"modelVersion":"gemini-2.5-flash","responseId":"resp-1"})),
        frame(json!({"candidates":[{"index":0,"content":{"role":"model","parts":[
                {"functionCall":{"name":"get_weather","args":{"city":"Paris"}}},
                {"functionCall":{"id":"g2","name":"get_time","args":{}}}]},
            "finishReason":"STOP"}],
            "usageMetadata":usage(12),"modelVersion":"gemini-2.5-flash","responseId":"resp-1"})),
    ]
    .concat()
}

#[test]
fn text_then_function_calls_then_usage() {
    let (chunks, end) = run(&transcript());
    end.unwrap();
    for c in &chunks {
        assert_eq!(
            (c.id.as_str(), c.model.as_str(), c.created),
            ("resp-1", "gemini-2.5-flash", 3)
        );
    }
    let got: Vec<Value> = chunks
        .iter()
        .map(|c| json!({"choices": c.choices, "usage": c.usage}))
        .collect();
    let synth = chunks[2].choices[0].delta.tool_calls.as_ref().unwrap()[0]
        .id
        .clone()
        .unwrap();
    assert!(synth.starts_with("call_"));
    assert_eq!(
        got,
        vec![
            json!({"choices":[{"index":0,"delta":{"role":"assistant","content":"Let me"},"finish_reason":null}],"usage":null}),
            json!({"choices":[{"index":0,"delta":{"content":" check."},"finish_reason":null}],"usage":null}),
            json!({"choices":[{"index":0,"delta":{"tool_calls":[
                {"index":0,"id":synth,"type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
                {"index":1,"id":"g2","type":"function","function":{"name":"get_time","arguments":"{}"}}]},
                "finish_reason":"tool_calls"}],"usage":null}),
            json!({"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":12,"total_tokens":22,
                "prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}),
        ]
    );
    let mut acc = StreamAccumulator::new();
    chunks.iter().for_each(|c| acc.push(c));
    assert!(acc.is_finished());
    let resp = acc.finish();
    assert_eq!(
        resp.choices[0].message.content.as_deref(),
        Some("Let me check.")
    );
    assert_eq!(
        resp.choices[0].message.tool_calls.as_ref().map(Vec::len),
        Some(2)
    );
}

#[test]
fn thoughts_and_plain_stop() {
    let t = [
        frame(json!({"candidates":[{"content":{"parts":[{"text":"hmm","thought":true}]}}]})),
        frame(json!({"candidates":[{"content":{"parts":[{"text":"Hi"}]},"finishReason":"STOP"}],
            "usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"thoughtsTokenCount":5}})),
    ]
    .concat();
    let (chunks, end) = run(&t);
    end.unwrap();
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[0].id, "gen-id");
    assert_eq!(
        chunks[0].choices[0].delta.reasoning_content.as_deref(),
        Some("hmm")
    );
    assert_eq!(chunks[1].choices[0].finish_reason, Some(FinishReason::Stop));
    let u = chunks[2].usage.as_ref().unwrap();
    assert_eq!((u.completion_tokens, u.reasoning_tokens()), (6, 5));
}

#[test]
fn cut_stream_is_interrupted() {
    let full = transcript();
    let cut = &full[..full.rfind("data:").unwrap()];
    let (chunks, end) = run(cut);
    assert_eq!(chunks.len(), 2);
    let e = end.unwrap_err();
    assert_eq!((e.kind, e.retryable), (ErrorKind::StreamInterrupted, true));
    assert_eq!(run("").1.unwrap_err().kind, ErrorKind::StreamInterrupted);
}

#[test]
fn error_bodies_on_a_stream() {
    let mut st = StreamState::new("x".into(), "m", 0);
    let raw = SseEvent {
        event: Some("raw".into()),
        data: json!({"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}})
            .to_string(),
    };
    let e = st.on_event(&raw).unwrap_err();
    assert_eq!(
        (e.kind, e.status, e.retryable),
        (ErrorKind::Overloaded, Some(503), true)
    );
    let in_frame = SseEvent {
        event: None,
        data: json!({"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"q","details":[
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"2s"}]}})
        .to_string(),
    };
    let e = st.on_event(&in_frame).unwrap_err();
    assert_eq!(e.kind, ErrorKind::RateLimited);
    assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(2)));
    let garbage = SseEvent {
        event: None,
        data: "not json".into(),
    };
    assert_eq!(st.on_event(&garbage).unwrap_err().kind, ErrorKind::Decode);
}

#[test]
fn blocked_prompt_on_a_stream() {
    let t = frame(
        json!({"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},
        "usageMetadata":{"promptTokenCount":4}}),
    );
    let (chunks, end) = run(&t);
    end.unwrap();
    assert_eq!(chunks.len(), 2);
    let c = &chunks[0].choices[0];
    assert_eq!(c.finish_reason, Some(FinishReason::ContentFilter));
    assert!(
        c.delta
            .refusal
            .as_deref()
            .unwrap()
            .contains("PROHIBITED_CONTENT")
    );
    assert_eq!(chunks[1].usage.as_ref().map(|u| u.prompt_tokens), Some(4));
}

mod http_tests {
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::State;
    use axum::http::{HeaderMap, Uri};
    use axum::routing::post;
    use futures::StreamExt;
    use switchyard_core::{CallCtx, ChatRequest, EmbedRequest, Provider, Secret};

    use super::*;
    use crate::registry::ProviderSettings;

    type Seen = Arc<Mutex<Vec<(String, HeaderMap, Value)>>>;

    /// A fake Gemini that answers by method (the part after the colon in the path).
    async fn serve() -> (String, Seen) {
        let seen: Seen = Arc::default();
        let handler = |State(seen): State<Seen>, uri: Uri, headers: HeaderMap, body: Bytes| async move {
            let v: Value = serde_json::from_slice(&body).unwrap();
            let path = uri.path().to_owned();
            seen.lock().unwrap().push((uri.to_string(), headers, v));
            let (ct, body) = if path.ends_with(":streamGenerateContent") {
                ("text/event-stream", transcript())
            } else if path.ends_with(":generateContent") {
                ("application/json", json!({"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":"STOP"}],
                    "usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":1}}).to_string())
            } else if path.ends_with(":batchEmbedContents") {
                (
                    "application/json",
                    json!({"embeddings":[{"values":[1.0]},{"values":[2.0]}]}).to_string(),
                )
            } else {
                (
                    "application/json",
                    json!({"embedding":{"values":[0.5]}}).to_string(),
                )
            };
            ([("content-type", ct)], body)
        };
        let app = Router::new()
            .route("/v1beta/models/{call}", post(handler))
            .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}/"), seen)
    }

    fn provider(base: &str) -> Arc<dyn Provider> {
        let s = ProviderSettings {
            name: "g".into(),
            kind: "gemini".into(),
            base_url: Some(base.to_owned()),
            ..Default::default()
        };
        super::super::build(&s, reqwest::Client::new()).unwrap()
    }

    fn ctx() -> CallCtx {
        let mut c = CallCtx::new("gemini-2.5-flash");
        c.api_key = Some(Secret::new("AIza-secret"));
        c
    }

    fn chat_req(stream: bool) -> ChatRequest {
        serde_json::from_value(
            json!({"model":"alias","stream":stream,"messages":[{"role":"user","content":"hello"}]}),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn chat_and_stream_paths_and_key_header() {
        let (base, seen) = serve().await;
        let p = provider(&base);
        let resp = p.chat(&chat_req(false), &ctx()).await.unwrap();
        assert_eq!(resp.choices[0].message.content.as_deref(), Some("hi"));
        assert_eq!(resp.model, "gemini-2.5-flash");
        let items: Vec<_> = p
            .chat_stream(&chat_req(true), &ctx())
            .await
            .unwrap()
            .collect()
            .await;
        assert_eq!(items.len(), 4);
        assert!(items.iter().all(Result::is_ok));

        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].0, "/v1beta/models/gemini-2.5-flash:generateContent");
        assert_eq!(
            seen[1].0,
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        for (uri, headers, body) in seen.iter() {
            assert_eq!(headers["x-goog-api-key"], "AIza-secret");
            assert!(!uri.contains("key="), "{uri}");
            assert_eq!(body["contents"][0]["parts"][0]["text"], "hello");
        }
    }

    #[tokio::test]
    async fn tool_ids_round_trip_through_the_provider() {
        let (base, seen) = serve().await;
        let p = provider(&base);
        let items: Vec<_> = p
            .chat_stream(&chat_req(true), &ctx())
            .await
            .unwrap()
            .collect()
            .await;
        let mut acc = StreamAccumulator::new();
        items.iter().for_each(|c| acc.push(c.as_ref().unwrap()));
        let calls = acc.finish().choices[0].message.tool_calls.clone().unwrap();
        // Send the calls back: Gemini's own id ("g2") is echoed, the synthetic one is not.
        let next: ChatRequest = serde_json::from_value(json!({"model":"alias","messages":[
            {"role":"user","content":"hello"},
            {"role":"assistant","tool_calls":calls},
            {"role":"tool","tool_call_id":calls[0].id,"content":"18C"},
            {"role":"tool","tool_call_id":"g2","content":"noon"}]}))
        .unwrap();
        p.chat(&next, &ctx()).await.unwrap();
        let seen = seen.lock().unwrap();
        let body = &seen[1].2;
        assert_eq!(
            body["contents"][1]["parts"],
            json!([{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}},
                   {"functionCall":{"id":"g2","name":"get_time","args":{}}}])
        );
        assert_eq!(
            body["contents"][2]["parts"],
            json!([{"functionResponse":{"name":"get_weather","response":{"output":"18C"}}},
                   {"functionResponse":{"id":"g2","name":"get_time","response":{"output":"noon"}}}])
        );
    }

    #[tokio::test]
    async fn embed_paths() {
        let (base, seen) = serve().await;
        let p = provider(&base);
        let one: EmbedRequest =
            serde_json::from_value(json!({"model":"e","input":"abcdefgh"})).unwrap();
        let r = p.embed(&one, &ctx()).await.unwrap();
        assert_eq!((r.data.len(), r.usage.prompt_tokens), (1, 2));
        let many: EmbedRequest =
            serde_json::from_value(json!({"model":"e","input":["a","b"]})).unwrap();
        let r = p.embed(&many, &ctx()).await.unwrap();
        assert_eq!(r.data[1].embedding, json!([2.0]));
        let seen = seen.lock().unwrap();
        assert_eq!(seen[0].0, "/v1beta/models/gemini-2.5-flash:embedContent");
        assert_eq!(
            seen[1].0,
            "/v1beta/models/gemini-2.5-flash:batchEmbedContents"
        );
    }
}
