//! OpenAI wire over HTTP: JSON and SSE, tools, logprobs, errors, flavors, embeddings.

mod common;

use common::*;
use serde_json::{Value, json};

fn weather_tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"]}}}])
}

#[tokio::test]
async fn json_answer_is_deterministic_with_documented_usage() {
    let sim = sim().await;
    let body = json!({"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "tell me about rail yards"}]});
    let a: Value = openai(&sim, body.clone()).await.json().await.unwrap();
    let b: Value = openai(&sim, body).await.json().await.unwrap();
    assert_eq!(a["choices"][0]["message"], b["choices"][0]["message"]);
    let text = a["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(text.starts_with("[gpt-4o-mini] "), "{text}");
    assert_eq!(a["object"], "chat.completion");
    assert_eq!(a["choices"][0]["finish_reason"], "stop");
    // "Be brief." 9 chars -> 3+4; "tell me about rail yards" 24 chars -> 6+4
    assert_eq!(a["usage"]["prompt_tokens"], 17);
    assert_eq!(a["usage"]["completion_tokens"], 16);
    assert_eq!(a["usage"]["total_tokens"], 33);
    assert_eq!(text.split(' ').count(), 16);
}

#[tokio::test]
async fn stream_with_usage_matches_the_json_answer() {
    let sim = sim().await;
    let msgs = json!([{"role": "user", "content": "stream me some words please"}]);
    let j: Value = openai(&sim, json!({"model": "gpt-4o", "messages": msgs}))
        .await
        .json()
        .await
        .unwrap();
    let r = openai(
        &sim,
        json!({"model": "gpt-4o", "messages": msgs, "stream": true,
        "stream_options": {"include_usage": true}}),
    )
    .await;
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let (events, _) = sse(r).await;
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks = json_events(&events);
    let (last, body) = chunks.split_last().unwrap();
    assert!(
        body.iter()
            .all(|c| c["usage"].is_null() && c.get("usage").is_some())
    );
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"], j["usage"]);
    let text: String = body
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        text,
        j["choices"][0]["message"]["content"].as_str().unwrap()
    );
    assert_eq!(body.last().unwrap()["choices"][0]["finish_reason"], "stop");
    assert!(chunks.iter().all(|c| c["id"] == chunks[0]["id"]));
}

#[tokio::test]
async fn tool_call_streams_in_fragments_and_round_trips() {
    let sim = sim().await;
    let msgs = json!([{"role": "user", "content": "weather in Paris?"}]);
    let j: Value = openai(
        &sim,
        json!({"model": "gpt-4o", "messages": msgs, "tools": weather_tools()}),
    )
    .await
    .json()
    .await
    .unwrap();
    let call = &j["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(j["choices"][0]["finish_reason"], "tool_calls");
    assert!(j["choices"][0]["message"]["content"].is_null());
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "example", "days": 1}));

    let (events, _) = sse(openai(
        &sim,
        json!({"model": "gpt-4o", "messages": msgs,
        "tools": weather_tools(), "stream": true}),
    )
    .await)
    .await;
    let chunks = json_events(&events);
    let frags: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .filter(|s| !s.is_empty())
        .collect();
    assert!(frags.len() >= 2, "{frags:?}");
    assert_eq!(
        frags.concat(),
        call["function"]["arguments"].as_str().unwrap()
    );
    assert_eq!(
        chunks[0]["choices"][0]["delta"]["tool_calls"][0]["id"],
        call["id"]
    );

    let id = call["id"].as_str().unwrap();
    let follow = json!({"model": "gpt-4o", "tools": weather_tools(), "messages": [
        {"role": "user", "content": "weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": id, "content": "18C and cloudy"}]});
    let j: Value = openai(&sim, follow).await.json().await.unwrap();
    let text = j["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(text.contains("18C") && text.contains("cloudy"), "{text}");
    assert_eq!(j["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn n_stop_max_tokens_and_json_schema() {
    let sim = sim().await;
    let msgs = json!([{"role": "user", "content": "one two three four"}]);
    let j: Value = openai(
        &sim,
        json!({"model": "gpt-4o", "messages": msgs, "n": 3, "max_tokens": 4}),
    )
    .await
    .json()
    .await
    .unwrap();
    let choices = j["choices"].as_array().unwrap();
    assert_eq!(choices.len(), 3);
    assert!(choices.iter().all(|c| c["finish_reason"] == "length"));
    assert_eq!(j["usage"]["completion_tokens"], 12);

    let j: Value = openai(
        &sim,
        json!({"model": "gpt-4o", "messages": msgs, "stop": ["]"]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(j["choices"][0]["message"]["content"], "[gpt-4o");
    assert_eq!(j["choices"][0]["finish_reason"], "stop");
    assert_eq!(j["usage"]["completion_tokens"], 1);

    let schema = json!({"type": "object", "properties": {"name": {"type": "string"},
        "age": {"type": "integer"}}, "required": ["name", "age"], "additionalProperties": false});
    let j: Value = openai(&sim, json!({"model": "gpt-4o", "messages": msgs, "response_format":
        {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": true}}}))
    .await
    .json()
    .await
    .unwrap();
    let v: Value =
        serde_json::from_str(j["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(v, json!({"name": "example", "age": 1}));
}

#[tokio::test]
async fn logprobs_one_entry_per_token() {
    let sim = sim().await;
    let body = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}],
        "logprobs": true, "top_logprobs": 3});
    let j: Value = openai(&sim, body.clone()).await.json().await.unwrap();
    let lp = j["choices"][0]["logprobs"]["content"].as_array().unwrap();
    assert_eq!(lp.len(), 16);
    assert!(
        lp.iter()
            .all(|e| e["top_logprobs"].as_array().unwrap().len() == 3)
    );
    let again: Value = openai(&sim, body).await.json().await.unwrap();
    assert_eq!(j["choices"][0]["logprobs"], again["choices"][0]["logprobs"]);
}

#[tokio::test]
async fn rejections_use_openai_error_bodies() {
    let sim = sim().await;
    let url = format!("{}/v1/chat/completions", sim.url());
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let r = client()
        .post(&url)
        .json(&json!({"model": "gpt-4o", "messages": msgs}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let cases = [
        (
            json!({"model": "nope", "messages": msgs}),
            404,
            Some("model_not_found"),
        ),
        (json!({"model": "gpt-4o", "messages": []}), 400, None),
        (
            json!({"model": "gpt-4o", "messages": [{"role": "tool", "tool_call_id": "x", "content": "r"}]}),
            400,
            None,
        ),
        (
            json!({"model": "gpt-4o", "messages": [{"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "user", "content": "hi"}]}),
            400,
            None,
        ),
        (
            json!({"model": "gpt-4o", "messages": msgs, "response_format": {"type": "json_object"}}),
            400,
            None,
        ),
        (
            json!({"model": "gpt-4o", "messages": msgs, "stream_options": {"include_usage": true}}),
            400,
            None,
        ),
        (
            json!({"model": "gpt-4o", "messages": msgs, "top_logprobs": 2}),
            400,
            None,
        ),
        (
            json!({"model": "gpt-4o", "messages": msgs, "tool_choice": "auto"}),
            400,
            None,
        ),
    ];
    for (body, status, code) in cases {
        let r = openai(&sim, body.clone()).await;
        assert_eq!(r.status(), status, "{body}");
        let e: Value = r.json().await.unwrap();
        assert!(
            e["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{e}"
        );
        if let Some(code) = code {
            assert_eq!(e["error"]["code"], code);
        }
    }
}

#[tokio::test]
async fn context_window_gives_context_length_exceeded() {
    let mut cfg = fast_config();
    cfg.models[0].context_window = Some(10);
    let sim = switchyard_sim::spawn(cfg).await.unwrap();
    let r = openai(
        &sim,
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x".repeat(40)}]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "context_length_exceeded");
}

#[tokio::test]
async fn flavors_reject_and_stream_like_the_real_providers() {
    let sim = sim().await;
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let r = openai(
        &sim,
        json!({"model": "mistral-small-latest", "messages": msgs, "stream": true,
        "stream_options": {"include_usage": true}}),
    )
    .await;
    assert_eq!(r.status(), 422);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["message"]["detail"][0]["type"], "extra_forbidden");
    assert_eq!(
        e["message"]["detail"][0]["loc"],
        json!(["body", "stream_options"])
    );
    let r = openai(
        &sim,
        json!({"model": "mistral-small-latest", "messages": msgs, "max_completion_tokens": 5}),
    )
    .await;
    assert_eq!(r.status(), 422);
    let bad_id = json!({"model": "mistral-small-latest", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "call_abc", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "r"}]});
    assert_eq!(openai(&sim, bad_id).await.status(), 400);
    // Mistral's own tool-call ids are 9 alphanumerics and its stream carries usage unasked.
    let j: Value = openai(
        &sim,
        json!({"model": "mistral-small-latest", "messages": msgs, "tools": weather_tools()}),
    )
    .await
    .json()
    .await
    .unwrap();
    let id = j["choices"][0]["message"]["tool_calls"][0]["id"]
        .as_str()
        .unwrap();
    assert!(
        id.len() == 9 && id.chars().all(|c| c.is_ascii_alphanumeric()),
        "{id}"
    );
    let (ev, _) = sse(openai(
        &sim,
        json!({"model": "mistral-small-latest", "messages": msgs, "stream": true}),
    )
    .await)
    .await;
    assert!(json_events(&ev).last().unwrap()["usage"]["total_tokens"].is_u64());

    let together = "meta-llama/Llama-3.3-70B-Instruct-Turbo";
    assert_eq!(
        openai(
            &sim,
            json!({"model": together, "messages": msgs, "logprobs": true})
        )
        .await
        .status(),
        400
    );
    let j: Value = openai(
        &sim,
        json!({"model": together, "messages": msgs, "logprobs": 2}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        j["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    assert_eq!(
        openai(
            &sim,
            json!({"model": "llama-3.1-8b-instant", "messages": msgs, "logprobs": true})
        )
        .await
        .status(),
        400
    );
    let (ev, _) = sse(openai(
        &sim,
        json!({"model": "llama-3.1-8b-instant", "messages": msgs, "stream": true}),
    )
    .await)
    .await;
    let chunks = json_events(&ev);
    let last = chunks.last().unwrap();
    assert_eq!(last["x_groq"]["usage"]["completion_tokens"], 16);
    assert!(chunks.iter().all(|c| c.get("usage").is_none()));

    let (ev, raw) = sse(openai(
        &sim,
        json!({"model": "deepseek-chat", "messages": msgs, "stream": true}),
    )
    .await)
    .await;
    assert!(raw.starts_with(": keep-alive\n\n"), "{raw}");
    assert!(raw.matches(": keep-alive").count() >= json_events(&ev).len());
}

#[tokio::test]
async fn paths_without_v1_prefix_and_model_list() {
    let sim = sim().await;
    let r = client()
        .post(format!("{}/chat/completions", sim.url()))
        .bearer_auth("k")
        .json(&json!({"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let list: Value = client()
        .get(format!("{}/v1/models", sim.url()))
        .bearer_auth("k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        ids.contains(&"gpt-4o") && !ids.contains(&"claude-3-5-haiku"),
        "{ids:?}"
    );
}

#[tokio::test]
async fn embeddings_float_and_base64_agree() {
    let sim = sim().await;
    let url = format!("{}/v1/embeddings", sim.url());
    let body = json!({"model": "text-embedding-3-small", "input": ["reset my password", "pizza"], "dimensions": 64});
    let f: Value = client()
        .post(&url)
        .bearer_auth("k")
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(f["data"].as_array().unwrap().len(), 2);
    assert_eq!(f["data"][0]["embedding"].as_array().unwrap().len(), 64);
    assert_eq!(f["usage"]["prompt_tokens"], 5 + 2);
    let mut b64 = body.clone();
    b64["encoding_format"] = json!("base64");
    let b: Value = client()
        .post(&url)
        .bearer_auth("k")
        .json(&b64)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let s = b["data"][0]["embedding"].as_str().unwrap();
    // 64 f32 = 256 bytes -> ceil(256 / 3) * 4 base64 chars
    assert_eq!(s.len(), 344);
    let r = client()
        .post(&url)
        .bearer_auth("k")
        .json(&json!({"model": "text-embedding-3-small", "input": "x", "foo": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
