//! Anthropic wire over HTTP: JSON and named-event SSE, tool use, validation errors.

mod common;

use common::*;
use serde_json::{Value, json};

fn tools() -> Value {
    json!([{"name": "get_weather", "description": "weather", "input_schema": {"type": "object",
        "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
}

#[tokio::test]
async fn stream_events_in_order_and_equal_to_json() {
    let sim = sim().await;
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "system": "Be brief.",
        "messages": [{"role": "user", "content": "say something about trains"}]});
    let j: Value = anthropic(&sim, body.clone()).await.json().await.unwrap();
    assert_eq!(j["type"], "message");
    assert_eq!(j["stop_reason"], "end_turn");
    // 9 chars -> 3+4, 27 chars -> 7+4; 8 of them cached (sim config), reported apart
    assert_eq!(j["usage"]["input_tokens"], 18 - 8);
    assert_eq!(j["usage"]["cache_read_input_tokens"], 8);
    assert_eq!(j["usage"]["output_tokens"], 16);
    let mut sb = body;
    sb["stream"] = json!(true);
    let (events, raw) = sse(anthropic(&sim, sb).await).await;
    assert!(!raw.contains("[DONE]"));
    let names: Vec<&str> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        &names[..3],
        ["message_start", "content_block_start", "ping"]
    );
    assert_eq!(
        &names[names.len() - 3..],
        ["content_block_stop", "message_delta", "message_stop"]
    );
    let data = json_events(&events);
    for (e, d) in events.iter().zip(&data) {
        assert_eq!(e.event.as_deref(), d["type"].as_str());
    }
    let text: String = data
        .iter()
        .filter_map(|d| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, j["content"][0]["text"].as_str().unwrap());
    let delta = data.iter().find(|d| d["type"] == "message_delta").unwrap();
    assert_eq!(delta["usage"]["output_tokens"], j["usage"]["output_tokens"]);
    assert_eq!(
        data[0]["message"]["usage"]["input_tokens"],
        j["usage"]["input_tokens"]
    );
}

#[tokio::test]
async fn tool_use_streams_json_fragments_and_round_trips() {
    let sim = sim().await;
    let msgs = json!([{"role": "user", "content": "weather in Oslo?"}]);
    let j: Value = anthropic(
        &sim,
        json!({"model": "claude-3-5-haiku", "max_tokens": 100,
        "messages": msgs, "tools": tools()}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(j["stop_reason"], "tool_use");
    let block = &j["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert_eq!(block["input"], json!({"city": "example"}));
    assert!(block["id"].as_str().unwrap().starts_with("toolu_"));

    let (events, _) = sse(anthropic(
        &sim,
        json!({"model": "claude-3-5-haiku", "max_tokens": 100,
        "messages": msgs, "tools": tools(), "stream": true}),
    )
    .await)
    .await;
    let data = json_events(&events);
    let parts: Vec<&str> = data
        .iter()
        .filter_map(|d| d["delta"]["partial_json"].as_str())
        .collect();
    assert!(parts.len() >= 2);
    let input: Value = serde_json::from_str(&parts.concat()).unwrap();
    assert_eq!(input, block["input"]);

    let follow = json!({"model": "claude-3-5-haiku", "max_tokens": 100, "tools": tools(), "messages": [
        {"role": "user", "content": "weather in Oslo?"},
        {"role": "assistant", "content": [block]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block["id"], "content": "minus 3 snowing"}]}]});
    let j: Value = anthropic(&sim, follow).await.json().await.unwrap();
    let text = j["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("snowing"), "{text}");
    assert_eq!(j["stop_reason"], "end_turn");
}

#[tokio::test]
async fn stop_sequence_and_max_tokens() {
    let sim = sim().await;
    let msgs = json!([{"role": "user", "content": "alpha beta"}]);
    let j: Value = anthropic(
        &sim,
        json!({"model": "claude-3-5-haiku", "max_tokens": 2, "messages": msgs}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(j["stop_reason"], "max_tokens");
    assert_eq!(j["usage"]["output_tokens"], 2);
    let j: Value = anthropic(
        &sim,
        json!({"model": "claude-3-5-haiku", "max_tokens": 99, "messages": msgs,
        "stop_sequences": ["haiku]"]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(j["stop_reason"], "stop_sequence");
    assert_eq!(j["stop_sequence"], "haiku]");
    assert_eq!(j["content"][0]["text"], "[claude-3-5-");
}

#[tokio::test]
async fn rejections_match_the_real_api() {
    let sim = sim().await;
    let ok_msgs = json!([{"role": "user", "content": "hi"}]);
    let r = anthropic(
        &sim,
        json!({"model": "claude-3-5-haiku", "messages": ok_msgs}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["type"], "error");
    assert_eq!(
        e["error"],
        json!({"type": "invalid_request_error", "message": "max_tokens: Field required"})
    );
    assert!(e["request_id"].as_str().unwrap().starts_with("req_"));
    let m = |messages: Value| json!({"model": "claude-3-5-haiku", "max_tokens": 10, "messages": messages});
    let cases = [
        m(json!([{"role": "system", "content": "x"}, {"role": "user", "content": "hi"}])),
        m(json!([{"role": "user", "content": [{"type": "text", "text": ""}]}])),
        m(json!([{"role": "user", "content": ""}])),
        m(
            json!([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x", "content": "r"}]}]),
        ),
        m(json!([{"role": "user", "content": "a"},
                 {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}]},
                 {"role": "user", "content": "no result"}])),
        json!({"model": "claude-3-5-haiku", "max_tokens": 10, "messages": ok_msgs, "n": 2}),
        json!({"model": "claude-3-5-haiku", "max_tokens": 10, "messages": ok_msgs, "temperature": 1.5}),
    ];
    for body in cases {
        let r = anthropic(&sim, body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
    }
    // consecutive user turns are accepted (the API merges them)
    let r = anthropic(
        &sim,
        m(json!([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])),
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = client()
        .post(format!("{}/v1/messages", sim.url()))
        .header("x-api-key", "k")
        .json(&m(ok_msgs.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "missing anthropic-version");
    let r = client()
        .post(format!("{}/v1/messages", sim.url()))
        .header("anthropic-version", "2023-06-01")
        .json(&m(ok_msgs))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["type"], "authentication_error");
    let r = anthropic(&sim, json!({"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn model_list_in_anthropic_shape() {
    let sim = sim().await;
    let v: Value = client()
        .get(format!("{}/v1/models", sim.url()))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["has_more"], false);
    assert!(
        v["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["type"] == "model")
    );
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
}
