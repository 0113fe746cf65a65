//! `GET /v1/models` pricing and capabilities, and what an embeddings answer carries (cost,
//! cost details, base64 for every provider kind), against the demo config and simulator.

use serde_json::{Value, json};
use switchyard_testkit::TestEnv;

async fn models(env: &TestEnv) -> Vec<Value> {
    let b: Value = env
        .client()
        .get(env.url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    b["data"].as_array().unwrap().clone()
}

fn find<'a>(all: &'a [Value], id: &str) -> &'a Value {
    all.iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("{id} not listed"))
}

#[tokio::test]
async fn embedding_models_report_no_chat_capabilities() {
    let env = TestEnv::demo().await;
    let all = models(&env).await;
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
