//! Black-box HTTP tests: client -> gateway -> simulator, for every provider kind, JSON and
//! streamed; and bad input that must never reach a provider.

use serde_json::{Value, json};
use switchyard_testkit::{TestEnv, sse_data};

const DIRECT_MODELS: &[&str] = &[
    "openai/gpt-4o-mini",
    "anthropic/claude-3-5-haiku",
    "google/gemini-2.0-flash",
    "deepseek/deepseek-chat",
    "mistral/mistral-small-latest",
    "together/llama-3.3-70b",
    "groq/llama-3.1-8b-instant",
    "local/llama",
];

fn hello(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello to the team"}]})
}

#[tokio::test]
async fn every_provider_kind_answers_json_with_usage_cost_and_headers() {
    let env = TestEnv::demo().await;
    for model in DIRECT_MODELS {
        let r = env.chat(&hello(model)).await;
        assert_eq!(r.status(), 200, "{model}");
        let h = r.headers().clone();
        assert_eq!(h["x-switchyard-model"], *model);
        assert!(h.contains_key("x-switchyard-request-id"));
        assert!(
            h["x-switchyard-attempts"]
                .to_str()
                .unwrap()
                .ends_with(":ok"),
            "{model}"
        );
        assert!(h.contains_key("x-switchyard-overhead-ms"));
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["object"], "chat.completion");
        let text = body["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(!text.is_empty(), "{model}: empty answer");
        assert_eq!(body["choices"][0]["finish_reason"], "stop", "{model}");
        let u = &body["usage"];
        assert!(u["prompt_tokens"].as_u64().unwrap() > 0, "{model}");
        assert!(u["completion_tokens"].as_u64().unwrap() > 0, "{model}");
        assert_eq!(
            u["total_tokens"].as_u64().unwrap(),
            u["prompt_tokens"].as_u64().unwrap() + u["completion_tokens"].as_u64().unwrap()
        );
        if *model == "local/llama" {
            assert!(
                u["cost"].is_null(),
                "self-hosted model has no list price: cost must be null, not 0"
            );
            assert!(!h.contains_key("x-switchyard-cost"));
        } else {
            assert!(
                u["cost"].as_f64().unwrap() > 0.0,
                "{model}: cost {}",
                u["cost"]
            );
            assert!(h.contains_key("x-switchyard-cost"));
        }
        let rid = h["x-switchyard-request-id"].to_str().unwrap();
        let rec = env.records.wait_for(rid).await;
        assert_eq!(rec.status, 200);
        assert_eq!(rec.served_model.as_deref(), Some(*model));
        assert_eq!(rec.tokens.output, u["completion_tokens"].as_u64().unwrap());
    }
}

#[tokio::test]
async fn every_provider_kind_streams_with_one_final_usage_chunk() {
    let env = TestEnv::demo().await;
    for model in DIRECT_MODELS {
        let mut body = hello(model);
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let r = env.chat(&body).await;
        assert_eq!(r.status(), 200, "{model}");
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        let rid = r.headers()["x-switchyard-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        let text = r.text().await.unwrap();
        let events = sse_data(&text);
        assert_eq!(events.last(), Some(&json!("[DONE]")), "{model}: {text}");
        let chunks: Vec<&Value> = events.iter().filter(|e| e.is_object()).collect();
        let usage_chunks: Vec<&&Value> = chunks
            .iter()
            .filter(|c| c.get("usage").is_some_and(|u| !u.is_null()))
            .collect();
        assert_eq!(usage_chunks.len(), 1, "{model}: exactly one usage chunk");
        assert_eq!(
            usage_chunks[0]["choices"],
            json!([]),
            "{model}: the usage chunk has empty choices"
        );
        assert!(
            std::ptr::eq(*usage_chunks[0], *chunks.last().unwrap()),
            "{model}: usage chunk comes last"
        );
        let content: String = chunks
            .iter()
            .filter_map(|c| {
                c["choices"]
                    .get(0)
                    .and_then(|ch| ch["delta"]["content"].as_str())
            })
            .collect();
        assert!(!content.is_empty(), "{model}");
        let finishes: Vec<&Value> = chunks
            .iter()
            .filter_map(|c| c["choices"].get(0).map(|ch| &ch["finish_reason"]))
            .filter(|f| !f.is_null())
            .collect();
        assert_eq!(finishes, vec![&json!("stop")], "{model}");
        let u = &usage_chunks[0]["usage"];
        let rec = env.records.wait_for(&rid).await;
        assert_eq!(rec.status, 200, "{model}");
        assert_eq!(
            rec.tokens.output,
            u["completion_tokens"].as_u64().unwrap(),
            "{model}"
        );
        if *model != "local/llama" {
            assert!(u["cost"].as_f64().unwrap() > 0.0);
        }
    }
}

#[tokio::test]
async fn no_usage_chunk_unless_asked() {
    let env = TestEnv::demo().await;
    let mut body = hello("anthropic/claude-3-5-haiku");
    body["stream"] = json!(true);
    let text = env.chat(&body).await.text().await.unwrap();
    let events = sse_data(&text);
    assert!(
        events
            .iter()
            .all(|e| e.get("usage").is_none_or(Value::is_null)),
        "{text}"
    );
    assert_eq!(events.last(), Some(&json!("[DONE]")));
}

#[tokio::test]
async fn tool_calls_round_trip_on_every_wire() {
    let env = TestEnv::demo().await;
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    for model in [
        "openai/gpt-4o-mini",
        "anthropic/claude-3-5-haiku",
        "google/gemini-2.0-flash",
        "mistral/mistral-small-latest",
    ] {
        for stream in [false, true] {
            let body = json!({"model": model, "stream": stream, "tools": tools, "messages": [{"role": "user", "content": "Weather in Paris?"}]});
            let r = env.chat(&body).await;
            assert_eq!(r.status(), 200, "{model} stream={stream}");
            let (id, name, args) = if stream {
                let events = sse_data(&r.text().await.unwrap());
                let mut id = String::new();
                let mut name = String::new();
                let mut args = String::new();
                for e in events.iter().filter(|e| e.is_object()) {
                    for tc in e["choices"]
                        .get(0)
                        .and_then(|c| c["delta"]["tool_calls"].as_array())
                        .into_iter()
                        .flatten()
                    {
                        assert_eq!(tc["index"], 0);
                        if let Some(i) = tc["id"].as_str() {
                            id = i.to_owned();
                        }
                        if let Some(n) = tc["function"]["name"].as_str() {
                            name.push_str(n);
                        }
                        if let Some(a) = tc["function"]["arguments"].as_str() {
                            args.push_str(a);
                        }
                    }
                }
                (id, name, args)
            } else {
                let b: Value = r.json().await.unwrap();
                assert_eq!(b["choices"][0]["finish_reason"], "tool_calls", "{model}");
                let tc = &b["choices"][0]["message"]["tool_calls"][0];
                (
                    tc["id"].as_str().unwrap().to_owned(),
                    tc["function"]["name"].as_str().unwrap().to_owned(),
                    tc["function"]["arguments"].as_str().unwrap().to_owned(),
                )
            };
            assert_eq!(name, "get_weather", "{model} stream={stream}");
            let parsed: Value = serde_json::from_str(&args)
                .unwrap_or_else(|e| panic!("{model}: arguments {args:?} not JSON: {e}"));
            assert!(parsed["city"].is_string());
            // Send the tool result back: the upstream must accept the history we translate.
            let follow = json!({"model": model, "tools": tools, "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function", "function": {"name": name, "arguments": args}}]},
                {"role": "tool", "tool_call_id": id, "content": "18C and cloudy"}
            ]});
            let r = env.chat(&follow).await;
            let status = r.status();
            let b: Value = r.json().await.unwrap();
            assert_eq!(status, 200, "{model}: {b}");
            assert!(
                b["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .contains("18C"),
                "{model}: {b}"
            );
        }
    }
}

#[tokio::test]
async fn json_schema_and_logprobs_pass_through() {
    let env = TestEnv::demo().await;
    let body = json!({"model": "openai/gpt-4o-mini", "logprobs": true, "top_logprobs": 2, "messages": [{"role": "user", "content": "A user as JSON"}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "u", "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}}}});
    let b: Value = env.chat(&body).await.json().await.unwrap();
    let content: Value =
        serde_json::from_str(b["choices"][0]["message"]["content"].as_str().unwrap()).unwrap();
    assert!(content["name"].is_string());
    let lp = &b["choices"][0]["logprobs"]["content"];
    assert!(!lp.as_array().unwrap().is_empty());
    assert_eq!(lp[0]["top_logprobs"].as_array().unwrap().len(), 2);
    // A model whose wire has no logprobs is excluded when logprobs are required.
    let body = json!({"model": "anthropic/claude-3-5-haiku", "logprobs": true, "messages": [{"role": "user", "content": "hi"}]});
    let r = env.chat(&body).await;
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert!(
        b["error"]["message"].as_str().unwrap().contains("logprobs"),
        "{b}"
    );
}

#[tokio::test]
async fn embeddings_for_openai_and_gemini() {
    let env = TestEnv::demo().await;
    for model in [
        "openai/text-embedding-3-small",
        "google/text-embedding-004",
        "embed",
    ] {
        let r = env
            .client()
            .post(env.url("/v1/embeddings"))
            .json(&json!({"model": model, "input": ["hello world", "goodbye"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{model}");
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["object"], "list");
        assert_eq!(b["data"].as_array().unwrap().len(), 2);
        assert!(b["data"][1]["embedding"].as_array().unwrap().len() > 10);
    }
}

#[tokio::test]
async fn bad_input_is_a_4xx_envelope_and_never_reaches_a_provider() {
    let env = TestEnv::demo().await;
    let cases: Vec<(&str, Vec<u8>, u16, Option<&str>)> = vec![
        (
            "malformed json",
            b"{\"model\": \"auto\", \"messages\": [".to_vec(),
            400,
            None,
        ),
        (
            "wrong type",
            br#"{"model": "auto", "messages": "hi"}"#.to_vec(),
            400,
            Some("messages"),
        ),
        (
            "empty messages",
            br#"{"model": "auto", "messages": []}"#.to_vec(),
            400,
            Some("messages"),
        ),
        (
            "missing model",
            br#"{"messages": [{"role":"user","content":"hi"}]}"#.to_vec(),
            400,
            None,
        ),
        (
            "unknown model",
            br#"{"model": "gtp-4o", "messages": [{"role":"user","content":"hi"}]}"#.to_vec(),
            404,
            Some("model"),
        ),
        (
            "bad temperature",
            br#"{"model": "auto", "temperature": 7, "messages": [{"role":"user","content":"hi"}]}"#
                .to_vec(),
            400,
            Some("temperature"),
        ),
        (
            "bad role",
            br#"{"model": "auto", "messages": [{"role":"wizard","content":"hi"}]}"#.to_vec(),
            400,
            None,
        ),
        (
            "oversize",
            format!(
                r#"{{"model": "auto", "messages": [{{"role":"user","content":"{}"}}]}}"#,
                "x".repeat(5 * 1024 * 1024)
            )
            .into_bytes(),
            413,
            None,
        ),
    ];
    for (name, body, status, param) in cases {
        let r = env
            .client()
            .post(env.url("/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{name}");
        assert!(
            r.headers().contains_key("x-switchyard-request-id"),
            "{name}"
        );
        let b: Value = r.json().await.unwrap();
        assert!(
            b["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{name}: {b}"
        );
        assert!(b["error"]["type"].is_string(), "{name}: {b}");
        if let Some(p) = param {
            assert_eq!(b["error"]["param"], p, "{name}: {b}");
        }
    }
    assert_eq!(
        env.sim_stats().await["total"],
        0,
        "bad input reached the simulator"
    );
    // Every rejected request is still logged.
    assert_eq!(env.records.all().len(), 8);
    assert!(env.records.all().iter().all(|r| r.status >= 400));
}

#[tokio::test]
async fn models_lists_models_routes_and_aliases() {
    let env = TestEnv::demo().await;
    let b: Value = env
        .client()
        .get(env.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for want in [
        "openai/gpt-4o",
        "auto",
        "fast",
        "claude",
        "google/text-embedding-004",
    ] {
        assert!(ids.contains(&want), "{want} missing from {ids:?}");
    }
    let gpt = b["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "openai/gpt-4o")
        .unwrap();
    assert!(gpt["context_length"].as_u64().unwrap() >= 128_000);
    assert_eq!(gpt["capabilities"]["tools"], true);
    let health: Value = env
        .client()
        .get(env.url("/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(
        env.client()
            .get(env.url("/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = env
        .client()
        .get(env.url("/v2/nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn failover_to_the_next_candidate_is_invisible() {
    let env = TestEnv::demo().await;
    env.inject(&json!({"model": "gemini-2.0-flash", "kind": "503", "rate": 1.0}))
        .await;
    for stream in [false, true] {
        let body = json!({"model": "fast", "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
        let r = env.chat(&body).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-switchyard-model"], "openai/gpt-4o-mini");
        let attempts = r.headers()["x-switchyard-attempts"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            attempts.starts_with("google/gemini-2.0-flash:503,openai/gpt-4o-mini:ok"),
            "{attempts}"
        );
        let text = r.text().await.unwrap();
        assert!(!text.contains("error"), "{text}");
    }
}
