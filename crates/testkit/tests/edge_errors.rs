//! The gateway's edge, black box: bodies every endpoint must reject locally (same 400 on chat,
//! streamed chat and `/v1/route/explain`), error envelopes for wrong methods, unknown paths and
//! malformed JSON, and the Anthropic Messages ingress (its validation, ids, stop sequences).
//! Every rejection is checked against `/sim/stats`: nothing may reach a provider.

use serde_json::{Value, json};
use switchyard_testkit::TestEnv;

fn hi() -> Value {
    json!([{"role": "user", "content": "hi"}])
}

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}])
}

async fn post(env: &TestEnv, path: &str, body: &Value) -> (u16, reqwest::header::HeaderMap, Value) {
    post_raw(env, path, body.to_string().into_bytes()).await
}

async fn post_raw(
    env: &TestEnv,
    path: &str,
    body: Vec<u8>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = env
        .client()
        .post(env.url(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("gateway answers");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

async fn assert_nothing_reached_a_provider(env: &TestEnv) {
    assert_eq!(
        env.sim_stats().await["total"],
        0,
        "a rejected body reached the simulator"
    );
}

#[tokio::test]
async fn invalid_chat_bodies_get_the_same_400_on_chat_stream_and_explain() {
    let env = TestEnv::demo().await;
    let named = |n: &str| json!({"type": "function", "function": {"name": n}});
    let cases = [
        ("max_tokens 0", json!({"max_tokens": 0}), "max_tokens"),
        (
            "max_completion_tokens 0",
            json!({"max_completion_tokens": 0}),
            "max_completion_tokens",
        ),
        (
            "tool_choice names a function not in tools",
            json!({"tools": tools(), "tool_choice": named("zzz")}),
            "tool_choice",
        ),
        (
            "tool_choice required without tools",
            json!({"tool_choice": "required"}),
            "tool_choice",
        ),
        (
            "named tool_choice without tools",
            json!({"tool_choice": named("get_weather")}),
            "tool_choice",
        ),
        ("empty messages", json!({"messages": []}), "messages"),
        (
            "temperature 5 and max_tokens 0",
            json!({"temperature": 5, "max_tokens": 0}),
            "temperature",
        ),
    ];
    for (name, extra, param) in cases {
        let mut body = json!({"model": "gpt-4o-mini", "messages": hi()});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let mut streamed = body.clone();
        streamed["stream"] = json!(true);
        for (path, body) in [
            ("/v1/chat/completions", &body),
            ("/v1/chat/completions", &streamed),
            ("/v1/route/explain", &body),
        ] {
            let (status, h, b) = post(&env, path, body).await;
            let what = format!("{name} on {path} (stream {})", body["stream"]);
            assert_eq!(status, 400, "{what}: {b}");
            assert!(h.contains_key("x-switchyard-request-id"), "{what}");
            assert_eq!(b["error"]["type"], "invalid_request_error", "{what}: {b}");
            assert_eq!(b["error"]["param"], param, "{what}: {b}");
            assert!(
                b["error"]["message"].as_str().unwrap().contains(param),
                "{what}: {b}"
            );
        }
    }
    assert_nothing_reached_a_provider(&env).await;
}

#[tokio::test]
async fn wrong_methods_and_unknown_paths_get_an_envelope_and_a_request_id() {
    let env = TestEnv::demo().await;
    let c = env.client();
    for (req, status, allowed) in [
        (c.get(env.url("/v1/chat/completions")), 405, Some("POST")),
        (c.post(env.url("/v1/models")), 405, Some("GET")),
        (c.get(env.url("/v1/nope")), 404, None),
        (c.post(env.url("/v2/chat/completions")), 404, None),
    ] {
        let r = req.send().await.unwrap();
        let what = r.url().path().to_owned();
        assert_eq!(r.status().as_u16(), status, "{what}");
        assert!(
            r.headers()
                .get("x-switchyard-request-id")
                .is_some_and(|v| !v.is_empty()),
            "{what}: no request id"
        );
        let allow = r
            .headers()
            .get("allow")
            .map(|v| v.to_str().unwrap().to_owned());
        let b: Value = r.json().await.expect("an envelope");
        assert_eq!(b["error"]["type"], "invalid_request_error", "{what}: {b}");
        let msg = b["error"]["message"].as_str().unwrap();
        if let Some(m) = allowed {
            assert!(
                allow.is_some_and(|a| a.contains(m)),
                "{what}: no Allow: {m}"
            );
            assert!(msg.contains("Allow"), "{what}: {msg}");
        }
    }
}

#[tokio::test]
async fn malformed_json_has_a_null_param_and_no_rust_type_names() {
    let env = TestEnv::demo().await;
    for path in [
        "/v1/chat/completions",
        "/v1/embeddings",
        "/v1/route/explain",
    ] {
        let (status, h, b) = post_raw(&env, path, b"{{".to_vec()).await;
        assert_eq!(status, 400, "{path}: {b}");
        assert!(h.contains_key("x-switchyard-request-id"), "{path}");
        assert!(b["error"]["param"].is_null(), "{path}: {b}");
    }
    let bad_content = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": 5}]});
    let (status, _, b) = post(&env, "/v1/chat/completions", &bad_content).await;
    assert_eq!(status, 400, "{b}");
    assert_eq!(b["error"]["param"], "messages[0].content", "{b}");
    let msg = b["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("must be a string or an array of content parts"),
        "{msg}"
    );
    let (_, _, b) = post(&env, "/v1/chat/completions", &json!([1])).await;
    let msg = b["error"]["message"].as_str().unwrap();
    assert!(
        !msg.contains("struct") && !msg.contains("ChatRequest"),
        "{msg}"
    );
    assert_nothing_reached_a_provider(&env).await;
}

#[tokio::test]
async fn messages_ingress_rejects_what_anthropic_rejects() {
    let env = TestEnv::demo().await;
    let base = json!({"model": "anthropic/claude-sonnet-4-5", "max_tokens": 10, "messages": hi()});
    for (field, value) in [
        ("temperature", json!(3)),
        ("max_tokens", json!(0)),
        ("top_p", json!(1.5)),
    ] {
        let mut body = base.clone();
        body[field] = value;
        for stream in [false, true] {
            body["stream"] = json!(stream);
            let (status, h, b) = post(&env, "/v1/messages", &body).await;
            assert_eq!(status, 400, "{field} (stream {stream}): {b}");
            assert!(h.contains_key("x-switchyard-request-id"));
            assert_eq!(b["type"], "error", "{b}");
            assert_eq!(b["error"]["type"], "invalid_request_error", "{b}");
            assert!(
                b["error"]["message"].as_str().unwrap().contains(field),
                "{b}"
            );
        }
    }
    assert_nothing_reached_a_provider(&env).await;
}

/// An upstream failure on the Messages ingress names what was tried, like the chat endpoint.
#[tokio::test]
async fn messages_ingress_errors_carry_the_attempts() {
    let env = TestEnv::demo().await;
    env.inject(&json!({"model": "claude-3-5-haiku", "kind": "500", "rate": 1}))
        .await;
    let body = json!({"model": "anthropic/claude-3-5-haiku", "max_tokens": 10, "messages": hi()});
    let (status, h, b) = post(&env, "/v1/messages", &body).await;
    assert!(status >= 500, "{status}: {b}");
    assert_eq!(b["type"], "error", "{b}");
    let attempts = h
        .get("x-switchyard-attempts")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        attempts.starts_with("anthropic/claude-3-5-haiku:500"),
        "attempts: {attempts:?}"
    );
}

/// `(event name, data)` of an Anthropic SSE body.
fn named_events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter_map(|frame| {
            let name = frame.lines().find_map(|l| l.strip_prefix("event: "))?;
            let data = frame.lines().find_map(|l| l.strip_prefix("data: "))?;
            Some((name.to_owned(), serde_json::from_str(data).ok()?))
        })
        .collect()
}

#[tokio::test]
async fn messages_ingress_ids_and_stop_sequences_match_json_and_stream() {
    let env = TestEnv::demo().await;
    // The simulator's answers start with `[<upstream model>`, so "sonnet" is always matched.
    let body = |prompt: &str| {
        json!({"model": "anthropic/claude-sonnet-4-5", "max_tokens": 50,
        "stop_sequences": ["sonnet"], "messages": [{"role": "user", "content": prompt}]})
    };
    let (status, _, j) = post(&env, "/v1/messages", &body("alpha beta")).await;
    assert_eq!(status, 200, "{j}");
    assert_eq!(j["stop_reason"], "stop_sequence", "{j}");
    assert_eq!(j["stop_sequence"], "sonnet", "{j}");
    let id = j["id"].as_str().unwrap();
    assert!(
        id.starts_with("msg_") && !id.starts_with("msg_msg_"),
        "{id}"
    );

    let mut streamed = body("gamma delta");
    streamed["stream"] = json!(true);
    let r = env
        .client()
        .post(env.url("/v1/messages"))
        .json(&streamed)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events = named_events(&r.text().await.unwrap());
    let start = &events.iter().find(|(n, _)| n == "message_start").unwrap().1;
    let id = start["message"]["id"].as_str().unwrap();
    assert!(
        id.starts_with("msg_") && !id.starts_with("msg_msg_"),
        "{id}"
    );
    let delta = &events.iter().find(|(n, _)| n == "message_delta").unwrap().1;
    assert_eq!(delta["delta"]["stop_reason"], "stop_sequence", "{delta}");
    assert_eq!(delta["delta"]["stop_sequence"], "sonnet", "{delta}");

    // An OpenAI upstream only says `stop`: no sequence is invented.
    let mut openai = body("epsilon");
    openai["model"] = json!("openai/gpt-4o-mini");
    openai["stop_sequences"] = json!(["gpt"]);
    let (status, _, j) = post(&env, "/v1/messages", &openai).await;
    assert_eq!(status, 200, "{j}");
    assert_eq!(j["stop_reason"], "end_turn", "{j}");
    assert!(j["stop_sequence"].is_null(), "{j}");
}
