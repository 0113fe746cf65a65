use serde_json::{Value, json};
use switchyard_core::ChatRequest;

use super::{FLAVORS, build, build_concrete, flavor, mistral_tool_id};
use crate::openai::convert::{chat_body, chat_body_json, embed_body};
use crate::registry::ProviderSettings;

fn settings(flavor: Option<&str>, base_url: Option<&str>) -> ProviderSettings {
    ProviderSettings {
        name: "up".into(),
        kind: "openai-compatible".into(),
        flavor: flavor.map(str::to_owned),
        base_url: base_url.map(str::to_owned),
        ..ProviderSettings::default()
    }
}

fn rich() -> ChatRequest {
    crate::openai::tests::rich_request()
}

fn body(flavor_name: &str, stream: bool) -> serde_json::Map<String, Value> {
    let (q, _) = flavor(flavor_name).expect("flavor");
    chat_body(&rich(), "up-model", stream, &q).expect("body")
}

#[test]
fn stream_body_per_flavor_snapshots() {
    for f in FLAVORS {
        insta::assert_json_snapshot!(format!("stream_body_{f}"), body(f, true));
    }
}

/// The encoder the provider sends with (straight to bytes when no field is renamed or
/// dropped) must produce the same JSON as the map the snapshots above pin, for every flavor.
#[test]
fn encoded_body_matches_the_map_for_every_flavor() {
    for f in FLAVORS {
        for stream in [false, true] {
            let (q, _) = flavor(f).expect("flavor");
            let bytes = chat_body_json(&rich(), "up-model", stream, &q).expect("encodes");
            let sent: Value = serde_json::from_slice(&bytes).expect("valid JSON");
            assert_eq!(sent, Value::Object(body(f, stream)), "{f} stream={stream}");
        }
    }
    let q = crate::openai::Quirks::OPENAI;
    let bytes = chat_body_json(&rich(), "m", true, &q).expect("encodes");
    let sent: Value = serde_json::from_slice(&bytes).expect("valid JSON");
    let map = chat_body(&rich(), "m", true, &q).expect("body");
    assert_eq!(sent, Value::Object(map), "openai");
}

#[test]
fn request_field_table() {
    // (flavor, cap field sent, seed field, logprobs value, stream_options sent, tool_choice)
    let rows: &[(&str, &str, &str, Value, bool, Value)] = &[
        (
            "generic",
            "max_tokens",
            "seed",
            json!(true),
            true,
            json!("required"),
        ),
        (
            "deepseek",
            "max_tokens",
            "seed",
            json!(true),
            true,
            json!("required"),
        ),
        (
            "mistral",
            "max_tokens",
            "random_seed",
            Value::Null,
            false,
            json!("any"),
        ),
        (
            "groq",
            "max_completion_tokens",
            "seed",
            Value::Null,
            true,
            json!("required"),
        ),
        (
            "together",
            "max_tokens",
            "seed",
            json!(3),
            true,
            json!("required"),
        ),
        (
            "dashscope",
            "max_tokens",
            "seed",
            json!(true),
            true,
            json!("required"),
        ),
        (
            "vllm",
            "max_completion_tokens",
            "seed",
            json!(true),
            true,
            json!("required"),
        ),
        (
            "ollama",
            "max_tokens",
            "seed",
            Value::Null,
            true,
            Value::Null,
        ),
    ];
    assert_eq!(rows.len(), FLAVORS.len());
    for (f, cap, seed, logprobs, stream_opts, tool_choice) in rows {
        let b = body(f, true);
        assert_eq!(b.get(*cap), Some(&json!(256)), "{f} cap");
        let other_cap = if *cap == "max_tokens" {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        assert!(!b.contains_key(other_cap), "{f} sends only one cap field");
        assert_eq!(b.get(*seed), Some(&json!(7)), "{f} seed");
        assert_eq!(
            b.get("logprobs").cloned().unwrap_or(Value::Null),
            *logprobs,
            "{f} logprobs"
        );
        assert_eq!(
            b.contains_key("stream_options"),
            *stream_opts,
            "{f} stream_options"
        );
        assert_eq!(
            b.get("tool_choice").cloned().unwrap_or(Value::Null),
            *tool_choice,
            "{f} tool_choice"
        );
        assert_eq!(
            b["messages"][0]["role"], "system",
            "{f}: developer is sent as system"
        );
        assert!(
            !b.contains_key("switchyard") && !b.contains_key("models"),
            "{f} gateway fields"
        );
    }
}

#[test]
fn mistral_sends_only_its_schema() {
    let b = body("mistral", true);
    let allowed = super::convert::MISTRAL_FIELDS;
    for k in b.keys() {
        assert!(allowed.contains(&k.as_str()), "mistral would 422 on {k}");
    }
    for k in [
        "user",
        "reasoning_effort",
        "top_logprobs",
        "stream_options",
        "seed",
        "max_completion_tokens",
    ] {
        assert!(!b.contains_key(k), "{k} must not reach mistral");
    }
    let msgs = b["messages"].as_array().expect("messages");
    assert!(
        msgs[1].get("name").is_none(),
        "user message name is extra_forbidden"
    );
    assert_eq!(
        msgs[4]["name"], "get_weather",
        "tool message name is allowed"
    );
    for m in msgs {
        for k in m.as_object().expect("message").keys() {
            assert!(
                ["role", "content", "name", "tool_calls", "tool_call_id"].contains(&k.as_str()),
                "message key {k}"
            );
        }
    }
}

#[test]
fn mistral_tool_ids_are_nine_alphanumerics_and_still_match() {
    let b = body("mistral", false);
    let calls = b["messages"][2]["tool_calls"].as_array().expect("calls");
    let ids: Vec<&str> = calls
        .iter()
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    for id in &ids {
        assert_eq!(id.len(), 9, "{id}");
        assert!(id.bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
    }
    assert_ne!(ids[0], ids[1]);
    assert_eq!(b["messages"][3]["tool_call_id"], ids[0]);
    assert_eq!(b["messages"][4]["tool_call_id"], ids[1]);
    // Deterministic across requests, and Mistral's own ids pass unchanged.
    assert_eq!(mistral_tool_id("call_abc123XYZ"), ids[0]);
    assert_eq!(mistral_tool_id("D681PevKs"), "D681PevKs");
    assert_ne!(mistral_tool_id("call_1"), mistral_tool_id("call_2"));
}

#[test]
fn mistral_embeddings_use_its_field_names() {
    let (q, _) = flavor("mistral").expect("mistral");
    let req = serde_json::from_value(
        json!({"model": "e", "input": ["x"], "dimensions": 512, "user": "u"}),
    )
    .expect("req");
    let b = embed_body(&req, "mistral-embed", &q).expect("body");
    assert_eq!(
        Value::Object(b),
        json!({"model": "mistral-embed", "input": ["x"], "output_dimension": 512})
    );
}

#[test]
fn groq_drops_message_names_and_logprob_fields() {
    let b = body("groq", false);
    assert!(b["messages"][1].get("name").is_none());
    assert!(!b.contains_key("top_logprobs"));
    assert_eq!(b["reasoning_effort"], "low", "extras still pass to groq");
}

#[test]
fn together_logprobs_integer_only_when_asked() {
    let (q, _) = flavor("together").expect("together");
    let mut r = rich();
    r.top_logprobs = None;
    let b = chat_body(&r, "m", false, &q).expect("body");
    assert_eq!(
        b["logprobs"], 1,
        "at least one logprob when asked without top_logprobs"
    );
    r.logprobs = Some(false);
    r.top_logprobs = Some(5);
    let b = chat_body(&r, "m", false, &q).expect("body");
    assert!(!b.contains_key("logprobs") && !b.contains_key("top_logprobs"));
}

#[test]
fn build_defaults_and_errors() {
    let client = reqwest::Client::new;
    let bases = [
        ("deepseek", "https://api.deepseek.com"),
        ("mistral", "https://api.mistral.ai/v1"),
        ("groq", "https://api.groq.com/openai/v1"),
        ("together", "https://api.together.xyz/v1"),
        (
            "dashscope",
            "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        ),
        ("vllm", "http://127.0.0.1:8000/v1"),
        ("ollama", "http://127.0.0.1:11434/v1"),
    ];
    for (f, base) in bases {
        let p = build_concrete(&settings(Some(f), None), client()).expect("builds");
        assert_eq!(p.base_url(), base, "{f}");
    }
    let custom = build_concrete(
        &settings(Some("vllm"), Some("http://gpu:9000/v1/")),
        client(),
    )
    .expect("builds");
    assert_eq!(custom.base_url(), "http://gpu:9000/v1");

    let e = build(&settings(None, None), client())
        .err()
        .expect("generic needs base_url");
    assert!(e.contains("base_url") && e.contains("\"up\""), "{e}");
    let e = build(&settings(Some("nope"), Some("http://x")), client())
        .err()
        .expect("unknown flavor");
    assert!(
        e.contains("unknown openai-compatible flavor \"nope\""),
        "{e}"
    );
    let e = build(&settings(Some("generic"), Some("ftp://x")), client())
        .err()
        .expect("bad scheme");
    assert!(e.contains("http://"), "{e}");
    let mut bad_header = settings(Some("generic"), Some("http://x"));
    bad_header.headers.insert("bad header".into(), "v".into());
    assert!(build(&bad_header, client()).is_err());

    let p = build(
        &settings(Some("generic"), Some("http://127.0.0.1:1/v1")),
        client(),
    )
    .expect("builds");
    assert_eq!(p.kind(), "openai-compatible");
}

#[test]
fn offers_logprobs_table() {
    let want = [
        ("generic", true),
        ("deepseek", true),
        ("mistral", false),
        ("groq", false),
        ("together", true),
        ("dashscope", true),
        ("vllm", true),
        ("ollama", false),
    ];
    for (f, offers) in want {
        let p = build(
            &settings(Some(f), Some("http://127.0.0.1:1/v1")),
            reqwest::Client::new(),
        )
        .expect("builds");
        assert_eq!(p.offers_logprobs(), offers, "{f}");
    }
    let openai =
        crate::openai::build(&ProviderSettings::default(), reqwest::Client::new()).expect("openai");
    assert!(openai.offers_logprobs());
    assert_eq!(openai.kind(), "openai");
}

/// Groq takes one choice per request: `n > 1` is refused locally as a capability gap (so the
/// engine tries another candidate), and the provider says so for routing.
#[test]
fn groq_refuses_several_choices_as_a_capability_gap() {
    let mut req = rich();
    req.n = Some(2);
    for f in FLAVORS {
        let (q, _) = flavor(f).expect("flavor");
        let p = build(
            &settings(Some(f), Some("http://127.0.0.1:1/v1")),
            reqwest::Client::new(),
        )
        .expect("builds");
        let got = chat_body_json(&req, "m", false, &q);
        if *f == "groq" {
            let e = got.expect_err("groq refuses n>1");
            assert_eq!(e.kind, switchyard_core::ErrorKind::Unsupported);
            assert!(e.message.contains("n>1"), "{}", e.message);
            assert!(!p.offers_multiple_choices());
        } else {
            assert!(got.is_ok(), "{f}");
            assert!(p.offers_multiple_choices(), "{f}");
        }
    }
}
