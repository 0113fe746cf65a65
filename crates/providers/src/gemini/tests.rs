use std::collections::HashMap;
use std::time::Duration;

use http::HeaderMap;
use serde_json::{Value, json};
use switchyard_core::{ChatRequest, EmbedRequest, ErrorKind, FinishReason, ProviderError};

use super::convert::{Remembered, to_wire};
use super::error::from_http;
use super::response::{finish_reason, from_wire};
use super::schema::sanitize;
use super::{embed, wire};

fn req(v: Value) -> ChatRequest {
    serde_json::from_value(v).unwrap()
}

fn no_ids() -> HashMap<String, Remembered> {
    HashMap::new()
}

fn wire_json(v: Value) -> Value {
    serde_json::to_value(to_wire(&req(v), &no_ids()).unwrap()).unwrap()
}

fn wire_err(v: Value) -> ProviderError {
    to_wire(&req(v), &no_ids()).unwrap_err()
}

#[test]
fn system_instruction_roles_and_merging() {
    let got = wire_json(json!({"model":"m","messages":[
        {"role":"system","content":"Be brief."},
        {"role":"developer","content":"Use French."},
        {"role":"user","content":"Hi"},
        {"role":"user","content":[{"type":"text","text":"there"},{"type":"text","text":""}]},
        {"role":"assistant","content":"Bonjour"}
    ]}));
    assert_eq!(
        got,
        json!({
        "systemInstruction":{"parts":[{"text":"Be brief."},{"text":"Use French."}]},
        "contents":[
            {"role":"user","parts":[{"text":"Hi"},{"text":"there"}]},
            {"role":"model","parts":[{"text":"Bonjour"}]}
        ]})
    );
}

#[test]
fn tool_history_looks_up_names_and_wraps_output() {
    let got = wire_json(json!({"model":"m","messages":[
        {"role":"user","content":"Weather in Paris and Rome?"},
        {"role":"assistant","content":"","tool_calls":[
            {"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
            {"id":"call_b","type":"function","function":{"name":"get_time","arguments":""}}]},
        {"role":"tool","tool_call_id":"call_b","content":"noon"},
        {"role":"tool","tool_call_id":"call_a","content":"{\"temp\":18}"},
        {"role":"user","content":"thanks"}
    ]}));
    assert_eq!(
        got["contents"],
        json!([
            {"role":"user","parts":[{"text":"Weather in Paris and Rome?"}]},
            {"role":"model","parts":[
                {"functionCall":{"name":"get_weather","args":{"city":"Paris"}}},
                {"functionCall":{"name":"get_time","args":{}}}]},
            {"role":"user","parts":[
                {"functionResponse":{"name":"get_time","response":{"output":"noon"}}},
                {"functionResponse":{"name":"get_weather","response":{"output":{"temp":18}}}},
                {"text":"thanks"}]}
        ])
    );
}

#[test]
fn remembered_ids_and_signatures_are_echoed() {
    let mut ids = no_ids();
    ids.insert(
        "g-1".into(),
        Remembered {
            gemini_id: Some("g-1".into()),
            thought_signature: Some("SIG".into()),
        },
    );
    let r = req(json!({"model":"m","messages":[
        {"role":"user","content":"x"},
        {"role":"assistant","tool_calls":[{"id":"g-1","type":"function","function":{"name":"f","arguments":"{}"}}]},
        {"role":"tool","tool_call_id":"g-1","content":"ok"}
    ]}));
    let got = serde_json::to_value(to_wire(&r, &ids).unwrap()).unwrap();
    assert_eq!(
        got["contents"][1]["parts"][0],
        json!({"functionCall":{"id":"g-1","name":"f","args":{}},"thoughtSignature":"SIG"})
    );
    assert_eq!(
        got["contents"][2]["parts"][0],
        json!({"functionResponse":{"id":"g-1","name":"f","response":{"output":"ok"}}})
    );
}

#[test]
fn request_errors() {
    let cases = [
        (
            json!({"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"nope","content":"r"}]}),
            "matches no earlier assistant tool call",
        ),
        (
            json!({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}),
            "not valid JSON",
        ),
        (
            json!({"model":"m","seed":9_999_999_999_i64,"messages":[{"role":"user","content":"x"}]}),
            "seed",
        ),
    ];
    for (body, needle) in cases {
        let e = wire_err(body);
        assert_eq!(e.kind, ErrorKind::InvalidRequest);
        assert!(e.message.contains(needle), "{} !~ {needle}", e.message);
    }
    // A conversation with nothing but a system prompt is valid OpenAI that this API cannot
    // carry: a capability gap, so the engine can try another provider.
    for body in [
        json!({"model":"m","messages":[{"role":"system","content":"s"}]}),
        json!({"model":"m","messages":[{"role":"user","content":""}]}),
    ] {
        let e = wire_err(body);
        assert_eq!(e.kind, ErrorKind::Unsupported, "{}", e.message);
        assert!(e.message.contains("at least one"), "{}", e.message);
    }
    // A tool message naming its function still works without the earlier call.
    let got = wire_json(
        json!({"model":"m","messages":[{"role":"user","content":"x"},
        {"role":"tool","tool_call_id":"nope","name":"f","content":"r"}]}),
    );
    assert_eq!(
        got["contents"][0]["parts"][0]["functionResponse"]["name"],
        "f"
    );
}

#[test]
fn generation_config_tools_and_formats() {
    let got = wire_json(json!({"model":"m","messages":[{"role":"user","content":[
            {"type":"text","text":"look"},
            {"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4A"}},
            {"type":"image_url","image_url":{"url":"https://example.com/a.PNG?x=1"}}]}],
        "temperature":1.5,"top_p":0.9,"max_completion_tokens":256,"stop":["END"],"n":2,"seed":7,
        "presence_penalty":0.5,"frequency_penalty":0.25,"logprobs":true,"top_logprobs":3,
        "response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object","additionalProperties":false}}},
        "tools":[{"type":"function","function":{"name":"f","description":"d","parameters":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}},
                 {"type":"function","function":{"name":"g","parameters":{"type":"object","properties":{}}}}],
        "tool_choice":{"type":"function","function":{"name":"f"}}}));
    assert_eq!(
        got,
        json!({
            "contents":[{"role":"user","parts":[
                {"text":"look"},
                {"inlineData":{"mimeType":"image/jpeg","data":"/9j/4A"}},
                {"fileData":{"mimeType":"image/png","fileUri":"https://example.com/a.PNG?x=1"}}]}],
            "tools":[{"functionDeclarations":[
                {"name":"f","description":"d","parameters":{"type":"OBJECT","properties":{"q":{"type":"STRING"}},"required":["q"]}},
                {"name":"g"}]}],
            "toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["f"]}},
            "generationConfig":{"temperature":1.5,"topP":0.9,"maxOutputTokens":256,"stopSequences":["END"],
                "candidateCount":2,"seed":7,"presencePenalty":0.5,"frequencyPenalty":0.25,
                "responseLogprobs":true,"logprobs":3,"responseMimeType":"application/json",
                "responseJsonSchema":{"type":"object","additionalProperties":false}}
        })
    );
    for (choice, mode) in [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")] {
        let got = wire_json(
            json!({"model":"m","messages":[{"role":"user","content":"x"}],
            "tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":choice}),
        );
        assert_eq!(
            got["toolConfig"],
            json!({"functionCallingConfig":{"mode":mode}})
        );
    }
    let got = wire_json(
        json!({"model":"m","messages":[{"role":"user","content":"x"}],
        "response_format":{"type":"json_object"},"logprobs":false,"top_logprobs":2}),
    );
    assert_eq!(
        got["generationConfig"],
        json!({"responseMimeType":"application/json"})
    );
}

#[test]
fn schema_sanitizing() {
    let input = json!({
        "$schema":"http://json-schema.org/draft-07/schema#",
        "type":"object","additionalProperties":false,
        "$defs":{"Unit":{"type":"string","enum":["c","f"],"description":"unit"}},
        "properties":{
            "city":{"type":"string","format":"uri","minLength":1},
            "when":{"type":"string","format":"date-time"},
            "unit":{"$ref":"#/$defs/Unit"},
            "days":{"type":["integer","null"],"exclusiveMinimum":0},
            "mode":{"const":"fast"},
            "level":{"enum":[1,2,3],"description":"Level."},
            "tags":{"type":"array","items":{"type":"string"},"uniqueItems":true},
            "opt":{"anyOf":[{"type":"number"},{"type":"null"}]},
            "either":{"oneOf":[{"type":"string"},{"type":"integer"}]},
            "nested":{"properties":{"a":{"type":"boolean"}},"required":["a","ghost"]}
        },
        "required":["city"]
    });
    assert_eq!(
        sanitize(&input).unwrap(),
        json!({
            "type":"OBJECT",
            "properties":{
                "city":{"type":"STRING","minLength":1},
                "when":{"type":"STRING","format":"date-time"},
                "unit":{"type":"STRING","enum":["c","f"],"description":"unit"},
                "days":{"type":"INTEGER","nullable":true},
                "mode":{"type":"STRING","enum":["fast"]},
                "level":{"description":"Level. Allowed values: 1, 2, 3."},
                "tags":{"type":"ARRAY","items":{"type":"STRING"}},
                "opt":{"type":"NUMBER","nullable":true},
                "either":{"anyOf":[{"type":"STRING"},{"type":"INTEGER"}]},
                "nested":{"type":"OBJECT","properties":{"a":{"type":"BOOLEAN"}},"required":["a"]}
            },
            "required":["city"]
        })
    );
    let recursive = json!({"type":"object","properties":{"node":{"$ref":"#/$defs/N"}},
        "$defs":{"N":{"type":"object","properties":{"next":{"$ref":"#/$defs/N"}}}}});
    // Terminates, and the cut-off level is a plain object.
    let out = sanitize(&recursive).unwrap().to_string();
    assert!(out.contains("\"next\""));
    assert_eq!(sanitize(&json!({"type":"object"})), None);
}

fn resp(v: Value) -> wire::GenerateContentResponse {
    serde_json::from_value(v).unwrap()
}

#[test]
fn response_text_thoughts_calls_and_usage() {
    let (got, remembered) = from_wire(
        resp(
            json!({"candidates":[{"index":0,"finishReason":"STOP","content":{"role":"model","parts":[
                {"text":"Plan","thought":true},
                {"text":"Let me "},{"text":"check."},
                {"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"S1"},
                {"functionCall":{"id":"gid","name":"get_time"}}]}}],
            "usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":30,"thoughtsTokenCount":40,
                "cachedContentTokenCount":100,"toolUsePromptTokenCount":5,"totalTokenCount":195},
            "modelVersion":"gemini-2.5-flash","responseId":"r-1"}),
        ),
        "fallback",
        5,
    );
    let v = serde_json::to_value(&got).unwrap();
    let calls = &v["choices"][0]["message"]["tool_calls"];
    let synth = calls[0]["id"].as_str().unwrap();
    assert!(synth.starts_with("call_") && synth.len() == 29, "{synth}");
    assert_eq!(calls[1]["id"], "gid");
    assert_eq!(
        v,
        json!({"id":"r-1","object":"chat.completion","created":5,"model":"gemini-2.5-flash",
            "choices":[{"index":0,"finish_reason":"tool_calls","logprobs":null,
                "message":{"role":"assistant","content":"Let me check.","refusal":null,"reasoning_content":"Plan",
                    "tool_calls":[
                        {"id":synth,"type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
                        {"id":"gid","type":"function","function":{"name":"get_time","arguments":"{}"}}]}}],
            "usage":{"prompt_tokens":125,"completion_tokens":70,"total_tokens":195,
                "prompt_tokens_details":{"cached_tokens":100},
                "completion_tokens_details":{"reasoning_tokens":40}}})
    );
    assert_eq!(
        remembered,
        vec![
            (
                synth.to_owned(),
                Remembered {
                    gemini_id: None,
                    thought_signature: Some("S1".into())
                }
            ),
            (
                "gid".to_owned(),
                Remembered {
                    gemini_id: Some("gid".into()),
                    thought_signature: None
                }
            ),
        ]
    );
}

#[test]
fn finish_reason_table() {
    let cases = [
        ("STOP", false, FinishReason::Stop),
        ("STOP", true, FinishReason::ToolCalls),
        ("MAX_TOKENS", false, FinishReason::Length),
        ("SAFETY", false, FinishReason::ContentFilter),
        ("RECITATION", false, FinishReason::ContentFilter),
        ("BLOCKLIST", false, FinishReason::ContentFilter),
        ("PROHIBITED_CONTENT", false, FinishReason::ContentFilter),
        ("SPII", false, FinishReason::ContentFilter),
        ("IMAGE_SAFETY", false, FinishReason::ContentFilter),
        ("OTHER", false, FinishReason::Stop),
        (
            "MALFORMED_FUNCTION_CALL",
            false,
            FinishReason::Other("malformed_function_call".into()),
        ),
    ];
    for (r, calls, want) in cases {
        assert_eq!(finish_reason(r, calls), want, "{r}");
    }
}

#[test]
fn blocked_prompt_multi_candidates_and_logprobs() {
    let (got, _) = from_wire(
        resp(json!({"promptFeedback":{"blockReason":"SAFETY"},
            "usageMetadata":{"promptTokenCount":9,"totalTokenCount":9}})),
        "gm",
        1,
    );
    assert_eq!(got.choices.len(), 1);
    let c = &got.choices[0];
    assert_eq!(c.finish_reason, Some(FinishReason::ContentFilter));
    assert_eq!(c.message.content, None);
    assert!(c.message.refusal.as_deref().unwrap().contains("SAFETY"));
    assert_eq!(got.model, "gm");
    assert!(got.id.starts_with("chatcmpl-"));
    assert_eq!(got.usage.unwrap().prompt_tokens, 9);

    let (got, _) = from_wire(
        resp(json!({"candidates":[
            {"index":1,"finishReason":"MAX_TOKENS","content":{"parts":[{"text":"B"}]}},
            {"index":0,"finishReason":"STOP","content":{"parts":[{"text":"A"}]},
             "logprobsResult":{"chosenCandidates":[{"token":"A","logProbability":-0.5}],
                "topCandidates":[{"candidates":[{"token":"A","logProbability":-0.5},{"token":"Z","logProbability":-2.0}]}]}}]})),
        "gm",
        1,
    );
    let v = serde_json::to_value(&got.choices).unwrap();
    assert_eq!(v[0]["message"]["content"], "A");
    assert_eq!(v[1]["finish_reason"], "length");
    assert_eq!(
        v[0]["logprobs"],
        json!({"content":[{"token":"A","logprob":-0.5,"bytes":[65],
            "top_logprobs":[{"token":"A","logprob":-0.5,"bytes":[65]},{"token":"Z","logprob":-2.0,"bytes":[90]}]}],
            "refusal":null})
    );
}

#[test]
fn http_error_table() {
    let body = |code: u16, status: &str, msg: &str, details: Value| {
        json!({"error":{"code":code,"message":msg,"status":status,"details":details}}).to_string()
    };
    let cases = [
        (
            400,
            body(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                json!([{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]),
            ),
            ErrorKind::Auth,
            false,
        ),
        (
            400,
            body(
                400,
                "INVALID_ARGUMENT",
                "bad key",
                json!([{"reason":"API_KEY_INVALID"}]),
            ),
            ErrorKind::Auth,
            false,
        ),
        (
            400,
            body(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
                json!([]),
            ),
            ErrorKind::ContextLengthExceeded,
            false,
        ),
        (
            400,
            body(400, "INVALID_ARGUMENT", "Invalid JSON payload", json!([])),
            ErrorKind::InvalidRequest,
            false,
        ),
        (
            403,
            body(403, "PERMISSION_DENIED", "no access", json!([])),
            ErrorKind::Auth,
            false,
        ),
        (
            404,
            body(404, "NOT_FOUND", "models/x is not found", json!([])),
            ErrorKind::InvalidRequest,
            false,
        ),
        (
            429,
            body(
                429,
                "RESOURCE_EXHAUSTED",
                "quota",
                json!([
            {"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[]},
            {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]),
            ),
            ErrorKind::RateLimited,
            true,
        ),
        (
            500,
            body(500, "INTERNAL", "oops", json!([])),
            ErrorKind::Upstream,
            true,
        ),
        (
            503,
            body(503, "UNAVAILABLE", "The model is overloaded.", json!([])),
            ErrorKind::Overloaded,
            true,
        ),
        (
            504,
            body(504, "DEADLINE_EXCEEDED", "slow", json!([])),
            ErrorKind::Timeout,
            true,
        ),
        (
            502,
            "<html>bad gateway</html>".to_owned(),
            ErrorKind::Upstream,
            true,
        ),
    ];
    for (status, b, kind, retryable) in cases {
        let e = from_http(status, &HeaderMap::new(), b.as_bytes());
        assert_eq!(
            (e.kind, e.retryable, e.status),
            (kind, retryable, Some(status)),
            "{b}"
        );
    }
    let e = from_http(429, &HeaderMap::new(), cases_429().as_bytes());
    assert_eq!(e.retry_after, Some(Duration::from_secs(37)));
    assert_eq!(e.code.as_deref(), Some("RESOURCE_EXHAUSTED"));
    assert_eq!(e.message, "Gemini: quota");
    let e = from_http(
        400,
        &HeaderMap::new(),
        json!([{"error":{"code":400,"message":"API key not valid","status":"INVALID_ARGUMENT"}}])
            .to_string()
            .as_bytes(),
    );
    assert_eq!(
        (e.kind, e.code.as_deref()),
        (ErrorKind::Auth, Some("API_KEY_INVALID"))
    );
}

fn cases_429() -> String {
    json!({"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[
        {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"37s"}]}})
    .to_string()
}

#[test]
fn embeddings_one_batch_and_estimate() {
    let one: EmbedRequest =
        serde_json::from_value(json!({"model":"e","input":"hello","dimensions":8})).unwrap();
    let many: EmbedRequest =
        serde_json::from_value(json!({"model":"e","input":["abcde","ü"]})).unwrap();
    let to = |r: &EmbedRequest| match embed::to_wire(r, "text-embedding-004").unwrap() {
        embed::EmbedCall::One(b) => json!({"one": b}),
        embed::EmbedCall::Batch(b) => json!({"batch": b}),
    };
    assert_eq!(
        to(&one),
        json!({"one":{"content":{"parts":[{"text":"hello"}]},"outputDimensionality":8}})
    );
    assert_eq!(
        to(&many),
        json!({"batch":{"requests":[
            {"model":"models/text-embedding-004","content":{"parts":[{"text":"abcde"}]}},
            {"model":"models/text-embedding-004","content":{"parts":[{"text":"ü"}]}}]}})
    );
    let vecs = vec![
        wire::EmbedValues {
            values: vec![0.5, -1.0],
        },
        wire::EmbedValues {
            values: vec![0.25, 0.0],
        },
    ];
    let got = embed::from_wire(vecs.clone(), &many, "e").unwrap();
    // ceil(5/4) + ceil(1/4) = 2 + 1
    assert_eq!((got.usage.prompt_tokens, got.usage.total_tokens), (3, 3));
    assert_eq!(got.data[1].index, 1);
    assert_eq!(got.data[0].embedding, json!([0.5, -1.0]));
    assert_eq!(
        embed::from_wire(vecs, &one, "e").unwrap_err().kind,
        ErrorKind::Decode
    );
    let tokens: EmbedRequest = serde_json::from_value(json!({"model":"e","input":[1,2]})).unwrap();
    assert_eq!(
        embed::to_wire(&tokens, "e").unwrap_err().kind,
        ErrorKind::InvalidRequest
    );
}
