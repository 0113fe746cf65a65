//! `GET /v1/models` pricing and capabilities, and what an embeddings answer carries (cost,
//! cost details, base64 for every provider kind), against the demo config and simulator.

use serde_json::{Value, json};
use switchyard_testkit::TestEnv;

fn find<'a>(all: &'a [Value], id: &str) -> &'a Value {
    all.iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("{id} not listed"))
}

#[tokio::test]
async fn models_carry_openrouter_pricing_and_null_when_unknown() {
    let env = TestEnv::demo().await;
    let all = env.models().await;
    for m in &all {
        // What the OpenAI SDK's models.list() reads.
        for field in ["id", "object", "created", "owned_by"] {
            assert!(!m[field].is_null(), "{field} missing in {m}");
        }
        assert!(m.get("pricing").is_some(), "no pricing key in {m}");
    }
    let mini = &find(&all, "openai/gpt-4o-mini")["pricing"];
    assert_eq!(mini["prompt"], "0.00000015");
    assert_eq!(mini["completion"], "0.0000006");
    assert_eq!(mini["input_cache_read"], "0.000000075");
    // An unknown price is null, never zeros.
    assert!(find(&all, "local/llama")["pricing"].is_null());
    // An alias is its target under another name.
    assert_eq!(find(&all, "gpt-4o-mini")["pricing"], *mini);
    assert_eq!(find(&all, "gpt-4o-mini")["context_length"], 128_000);
    // A route: no single price, its candidates named.
    let auto = find(&all, "auto");
    assert!(auto["pricing"].is_null());
    assert!(
        !auto["switchyard"]["candidates"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn embedding_models_report_no_chat_capabilities() {
    let env = TestEnv::demo().await;
    let all = env.models().await;
    for (id, context) in [
        ("google/text-embedding-004", 2048),
        ("openai/text-embedding-3-small", 8191),
    ] {
        let m = find(&all, id);
        assert_eq!(
            m["capabilities"],
            json!({"tools": false, "json_schema": false, "vision": false, "logprobs": false, "embeddings": true}),
            "{id}"
        );
        assert_eq!(m["context_length"], context, "{id}");
    }
}

async fn embed(env: &TestEnv, body: Value) -> (http::HeaderMap, Value) {
    let r = env
        .client()
        .post(env.url("/v1/embeddings"))
        .json(&body)
        .send()
        .await
        .expect("gateway answers");
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    (h, r.json().await.expect("a JSON answer"))
}

#[tokio::test]
async fn embeddings_carry_cost_and_cost_details() {
    let env = TestEnv::demo().await;
    let (h, b) = embed(
        &env,
        json!({"model": "openai/text-embedding-3-small", "input": "hi there"}),
    )
    .await;
    let header: f64 = h["x-switchyard-cost"].to_str().unwrap().parse().unwrap();
    assert!(header > 0.0);
    assert_eq!(b["usage"]["cost"].as_f64(), Some(header), "{b}");
    let attempts = b["usage"]["cost_details"]["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["cost"].as_f64(), Some(header));
    let id = h["x-switchyard-request-id"].to_str().unwrap();
    let rec = env.records.wait_for(id).await;
    assert_eq!(rec.cost.map(|c| c.to_f64()), Some(header));

    // Unknown price: null in the body, no header, null in the record.
    let (h, b) = embed(
        &env,
        json!({"model": "google/text-embedding-004", "input": "hi there"}),
    )
    .await;
    assert!(
        b["usage"]["cost"].is_null() && b["usage"].get("cost").is_some(),
        "{b}"
    );
    assert!(!h.contains_key("x-switchyard-cost"));
    let rec = env
        .records
        .wait_for(h["x-switchyard-request-id"].to_str().unwrap())
        .await;
    assert_eq!(rec.cost, None);
}

/// Standard base64 -> bytes (test helper; the inputs are well-formed).
fn unbase64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .filter(|(_, c)| **c != b'=')
            .fold(0u32, |n, (i, &c)| n | u32::from(val(c)) << (18 - 6 * i));
        let bytes = n.to_be_bytes();
        let pad = chunk.iter().filter(|c| **c == b'=').count();
        out.extend_from_slice(&bytes[1..4 - pad]);
    }
    out
}

#[tokio::test]
async fn base64_encoding_is_honoured_for_every_provider_kind() {
    let env = TestEnv::demo().await;
    for model in ["google/text-embedding-004", "openai/text-embedding-3-small"] {
        let input = json!(["hello world", "goodbye"]);
        let (_, floats) = embed(&env, json!({"model": model, "input": input})).await;
        let (_, b64) = embed(
            &env,
            json!({"model": model, "input": input, "encoding_format": "base64"}),
        )
        .await;
        for i in 0..2 {
            let s = b64["data"][i]["embedding"].as_str().unwrap_or_else(|| {
                panic!("{model}: not a base64 string: {}", b64["data"][i]);
            });
            let got: Vec<f32> = unbase64(s)
                .chunks(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let want: Vec<f32> = floats["data"][i]["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(got, want, "{model}");
        }
    }
}
