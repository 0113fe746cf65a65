//! Gemini wire over HTTP: generateContent, SSE and array streams, function calls, errors,
//! embeddings.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn sse_stream_matches_json_and_has_no_done() {
    let sim = sim().await;
    let body = json!({"systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": "describe a signal box"}]}]});
    let j: Value = gemini(&sim, "gemini-2.0-flash", "generateContent", body.clone())
        .await
        .json()
        .await
        .unwrap();
    let c = &j["candidates"][0];
    assert_eq!(c["finishReason"], "STOP");
    assert_eq!(c["content"]["role"], "model");
    let text = c["content"]["parts"][0]["text"].as_str().unwrap();
    // 9 chars -> 3+4, 21 chars -> 6+4
    assert_eq!(j["usageMetadata"]["promptTokenCount"], 17);
    assert_eq!(j["usageMetadata"]["candidatesTokenCount"], 16);
    assert_eq!(j["usageMetadata"]["totalTokenCount"], 33);

    let r = gemini(
        &sim,
        "gemini-2.0-flash",
        "streamGenerateContent?alt=sse",
        body.clone(),
    )
    .await;
    let (events, raw) = sse(r).await;
    assert!(!raw.contains("[DONE]") && !raw.contains("event:"));
    let chunks = json_events(&events);
    let streamed: String = chunks
        .iter()
        .filter_map(|c| c["candidates"][0]["content"]["parts"][0]["text"].as_str())
        .collect();
    assert_eq!(streamed, text);
    assert_eq!(chunks.last().unwrap()["usageMetadata"], j["usageMetadata"]);
    assert_eq!(
        chunks.last().unwrap()["candidates"][0]["finishReason"],
        "STOP"
    );

    // without alt=sse: one JSON array, delivered progressively
    let r = gemini(&sim, "gemini-2.0-flash", "streamGenerateContent", body).await;
    let arr: Value = r.json().await.unwrap();
    assert_eq!(arr.as_array().unwrap().len(), chunks.len());
}

#[tokio::test]
async fn function_call_and_response_round_trip() {
    let sim = sim().await;
    let tools = json!([{"functionDeclarations": [{"name": "get_weather", "parameters": {"type": "OBJECT",
        "properties": {"city": {"type": "STRING"}}, "required": ["city"]}}]}]);
    let body =
        json!({"contents": [{"role": "user", "parts": [{"text": "weather?"}]}], "tools": tools});
    let j: Value = gemini(&sim, "gemini-2.5-pro", "generateContent", body)
        .await
        .json()
        .await
        .unwrap();
    let part = &j["candidates"][0]["content"]["parts"][0];
    assert_eq!(
        part["functionCall"],
        json!({"name": "get_weather", "args": {"city": "example"}})
    );
    assert_eq!(j["candidates"][0]["finishReason"], "STOP");
    let mk = |response: Value| {
        json!({"tools": tools, "contents": [
        {"role": "user", "parts": [{"text": "weather?"}]},
        {"role": "model", "parts": [part]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": response}}]}]})
    };
    let j: Value = gemini(
        &sim,
        "gemini-2.5-pro",
        "generateContent",
        mk(json!({"output": "sunny 25C"})),
    )
    .await
    .json()
    .await
    .unwrap();
    let text = j["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .unwrap();
    assert!(text.contains("sunny"), "{text}");
    let r = gemini(
        &sim,
        "gemini-2.5-pro",
        "generateContent",
        mk(json!("sunny")),
    )
    .await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn generation_config_limits_and_logprobs() {
    let sim = sim().await;
    let body = json!({"contents": [{"parts": [{"text": "a b c"}]}], "generationConfig":
        {"maxOutputTokens": 3, "candidateCount": 2, "responseLogprobs": true, "logprobs": 2}});
    let j: Value = gemini(&sim, "gemini-2.0-flash", "generateContent", body)
        .await
        .json()
        .await
        .unwrap();
    let cands = j["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 2);
    assert!(cands.iter().all(|c| c["finishReason"] == "MAX_TOKENS"));
    assert_eq!(j["usageMetadata"]["candidatesTokenCount"], 6);
    let lr = &cands[0]["logprobsResult"];
    assert_eq!(lr["chosenCandidates"].as_array().unwrap().len(), 3);
    assert_eq!(
        lr["topCandidates"][0]["candidates"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(cands[0]["avgLogprobs"].as_f64().unwrap() < 0.0);
}

#[tokio::test]
async fn auth_and_validation_errors() {
    let mut cfg = fast_config();
    for m in &mut cfg.models {
        m.keys = Some(vec!["good".into()]);
    }
    let sim = switchyard_sim::spawn(cfg).await.unwrap();
    let body = json!({"contents": [{"parts": [{"text": "hi"}]}]});
    let r = gemini(&sim, "gemini-2.0-flash", "generateContent", body.clone()).await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(e["error"]["details"][0]["reason"], "API_KEY_INVALID");
    let url = format!(
        "{}/v1beta/models/gemini-2.0-flash:generateContent",
        sim.url()
    );
    let r = client()
        .post(format!("{url}?key=good"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = client().post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let h = |b: Value| {
        client()
            .post(&url)
            .header("x-goog-api-key", "good")
            .json(&b)
            .send()
    };
    for bad in [
        json!({"contents": []}),
        json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}),
        json!({"contents": [{"parts": []}]}),
        json!({"contents": [{"parts": [{"text": "x"}]}], "bogusField": 1}),
    ] {
        assert_eq!(h(bad.clone()).await.unwrap().status(), 400, "{bad}");
    }
    let r = client()
        .post(format!("{}/v1beta/models/nope:generateContent", sim.url()))
        .header("x-goog-api-key", "good")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn embed_content_and_batch() {
    let sim = sim().await;
    let one: Value = gemini(
        &sim,
        "text-embedding-004",
        "embedContent",
        json!({"content": {"parts": [{"text": "hello world"}]}, "outputDimensionality": 32}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(one["embedding"]["values"].as_array().unwrap().len(), 32);
    let req = |t: &str| json!({"model": "models/text-embedding-004", "content": {"parts": [{"text": t}]}});
    let b: Value = gemini(
        &sim,
        "text-embedding-004",
        "batchEmbedContents",
        json!({"requests": [req("a b"), req("c d")]}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(b["embeddings"].as_array().unwrap().len(), 2);
    assert_eq!(b["embeddings"][0]["values"].as_array().unwrap().len(), 768);
    let r = gemini(
        &sim,
        "text-embedding-004",
        "batchEmbedContents",
        json!({"requests": [{"model": "models/other", "content": {"parts": [{"text": "x"}]}}]}),
    )
    .await;
    assert_eq!(r.status(), 400);
    let list: Value = client()
        .get(format!("{}/v1beta/models", sim.url()))
        .header("x-goog-api-key", "k")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        list["models"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == "models/gemini-2.5-pro")
    );
}
