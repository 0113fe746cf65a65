//! The adapter against a tiny in-process server: headers, status mapping, timeouts, streams.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use futures::StreamExt;
use serde_json::{Value, json};
use switchyard_core::{CallCtx, ChatRequest, ErrorKind, Message, Provider, Role, Secret};

use crate::openai::{OpenAiProvider, Quirks};

#[derive(Default, Clone)]
struct Seen(Arc<Mutex<Vec<(HeaderMap, Value)>>>);

impl Seen {
    fn last(&self) -> (HeaderMap, Value) {
        self.0
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("a request reached the server")
    }
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

fn provider(addr: SocketAddr, quirks: Quirks) -> OpenAiProvider {
    let mut headers = BTreeMap::new();
    headers.insert("OpenAI-Project".to_owned(), "proj_1".to_owned());
    OpenAiProvider::new(
        reqwest::Client::new(),
        &format!("http://{addr}/v1/"),
        &headers,
        "openai",
        quirks,
    )
    .expect("provider")
}

fn ctx(key: Option<&str>) -> CallCtx {
    let mut c = CallCtx::new("gpt-4o-mini");
    c.api_key = key.map(Secret::new);
    c.request_id = "req-42".to_owned();
    c.first_byte_timeout = Some(Duration::from_secs(5));
    c.idle_timeout = Some(Duration::from_secs(5));
    c
}

fn hello() -> ChatRequest {
    ChatRequest {
        model: "auto".into(),
        messages: vec![Message::text(Role::User, "hi")],
        ..ChatRequest::default()
    }
}

fn recording(seen: Seen, reply: &'static str, content_type: &'static str) -> Router {
    Router::new().route(
        "/v1/chat/completions",
        post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen.clone();
            async move {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                seen.0.lock().expect("lock").push((headers, v));
                ([(header::CONTENT_TYPE, content_type)], reply)
            }
        }),
    )
}

const COMPLETION: &str = r#"{"id":"chatcmpl-9","object":"chat.completion","created":7,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}"#;

#[tokio::test]
async fn sends_auth_request_id_configured_headers_and_upstream_model() {
    let seen = Seen::default();
    let addr = serve(recording(seen.clone(), COMPLETION, "application/json")).await;
    let r = provider(addr, Quirks::OPENAI)
        .chat(&hello(), &ctx(Some("sk-abc")))
        .await
        .expect("chat");
    assert_eq!(r.choices[0].message.content.as_deref(), Some("hello"));
    assert_eq!(r.usage.map(|u| u.total_tokens), Some(9));
    let (h, body) = seen.last();
    assert_eq!(h["authorization"], "Bearer sk-abc");
    assert_eq!(h["x-switchyard-request-id"], "req-42");
    assert_eq!(h["openai-project"], "proj_1");
    assert_eq!(body["model"], "gpt-4o-mini");
}

#[tokio::test]
async fn no_key_means_no_authorization_header() {
    let seen = Seen::default();
    let addr = serve(recording(seen.clone(), COMPLETION, "application/json")).await;
    provider(addr, Quirks::OPENAI)
        .chat(&hello(), &ctx(None))
        .await
        .expect("chat");
    assert!(seen.last().0.get("authorization").is_none());
}

#[tokio::test]
async fn rate_limit_status_carries_retry_after() {
    let router = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "2"), ("content-type", "application/json")],
                r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#,
            )
        }),
    );
    let addr = serve(router).await;
    let p = provider(addr, Quirks::OPENAI);
    let e = p.chat(&hello(), &ctx(Some("k"))).await.expect_err("429");
    assert_eq!(
        (e.kind, e.status, e.retry_after),
        (
            ErrorKind::RateLimited,
            Some(429),
            Some(Duration::from_secs(2))
        )
    );
    // The same mapping applies before a stream starts.
    let e = p
        .chat_stream(&hello(), &ctx(Some("k")))
        .await
        .err()
        .expect("429 on stream");
    assert_eq!(e.kind, ErrorKind::RateLimited);
}

#[tokio::test]
async fn first_byte_timeout_is_a_timeout() {
    let router = Router::new().route(
        "/v1/chat/completions",
        post(|| async {
            tokio::time::sleep(Duration::from_secs(3)).await;
            COMPLETION.into_response()
        }),
    );
    let addr = serve(router).await;
    let mut c = ctx(None);
    c.first_byte_timeout = Some(Duration::from_millis(100));
    let e = provider(addr, Quirks::OPENAI)
        .chat(&hello(), &c)
        .await
        .expect_err("timeout");
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert!(e.retryable);
}

const STREAM: &str = "data: {\"id\":\"c1\",\"created\":5,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n: keep-alive\n\ndata: {\"id\":\"c1\",\"created\":5,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi!\"},\"finish_reason\":\"stop\"}]}\n\ndata: {\"id\":\"c1\",\"created\":5,\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":2,\"total_tokens\":5}}\n\ndata: [DONE]\n\n";

#[tokio::test]
async fn stream_chunks_pass_through_and_usage_is_requested() {
    let seen = Seen::default();
    let addr = serve(recording(seen.clone(), STREAM, "text/event-stream")).await;
    let s = provider(addr, Quirks::OPENAI)
        .chat_stream(&hello(), &ctx(Some("k")))
        .await
        .expect("stream");
    let items: Vec<_> = s.collect().await;
    let chunks: Vec<_> = items.into_iter().map(|i| i.expect("ok chunk")).collect();
    assert_eq!(chunks.len(), 3);
    assert_eq!(chunks[1].choices[0].delta.content.as_deref(), Some("Hi!"));
    assert!(chunks[2].choices.is_empty());
    assert_eq!(chunks[2].usage.as_ref().map(|u| u.total_tokens), Some(5));
    let (h, body) = seen.last();
    assert_eq!(h["accept"], "text/event-stream");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn stream_cut_by_the_server_is_interrupted() {
    let seen = Seen::default();
    let cut = "data: {\"id\":\"c1\",\"created\":5,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"The\"}}]}\n\n";
    let addr = serve(recording(seen, cut, "text/event-stream")).await;
    let s = provider(addr, Quirks::OPENAI)
        .chat_stream(&hello(), &ctx(None))
        .await
        .expect("stream");
    let items: Vec<_> = s.collect().await;
    assert!(items[0].is_ok());
    let e = items.last().expect("items").as_ref().expect_err("cut");
    assert_eq!(e.kind, ErrorKind::StreamInterrupted);
}

#[tokio::test]
async fn embeddings_round_trip_and_unsupported_flavors() {
    let seen = Seen::default();
    let seen2 = seen.clone();
    let router = Router::new().route(
        "/v1/embeddings",
        post(move |headers: HeaderMap, body: Bytes| {
            let seen = seen2.clone();
            async move {
                seen.0.lock().expect("lock").push((headers, serde_json::from_slice(&body).unwrap_or(Value::Null)));
                r#"{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,0.2]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":2,"total_tokens":2}}"#
            }
        }),
    );
    let addr = serve(router).await;
    let req = serde_json::from_value(json!({"model": "emb", "input": "hi"})).expect("req");
    let mut c = ctx(Some("k"));
    c.upstream_model = "text-embedding-3-small".into();
    let r = provider(addr, Quirks::OPENAI)
        .embed(&req, &c)
        .await
        .expect("embed");
    assert_eq!(r.usage.total_tokens, 2);
    assert_eq!(
        seen.last().1,
        json!({"model": "text-embedding-3-small", "input": "hi"})
    );

    let (groq, _) = crate::openai_compat::flavor("groq").expect("groq");
    let e = provider(addr, groq)
        .embed(&req, &c)
        .await
        .expect_err("groq has no embeddings");
    assert_eq!(e.kind, ErrorKind::Unsupported);
}

#[tokio::test]
async fn json_answer_to_a_stream_request_is_replayed_as_chunks() {
    let addr = serve(recording(Seen::default(), COMPLETION, "application/json")).await;
    let s = provider(addr, Quirks::OPENAI)
        .chat_stream(&hello(), &ctx(None))
        .await
        .expect("stream");
    let chunks: Vec<_> = s
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|i| i.expect("ok"))
        .collect();
    let mut acc = switchyard_core::StreamAccumulator::new();
    chunks.iter().for_each(|c| acc.push(c));
    assert!(acc.is_finished());
    let r = acc.finish();
    assert_eq!(r.choices[0].message.content.as_deref(), Some("hello"));
    assert_eq!(r.usage.map(|u| u.total_tokens), Some(9));
    assert!(chunks.last().is_some_and(|c| c.choices.is_empty()));

    let err = r#"{"error":{"message":"model overloaded","type":"server_error","code":null}}"#;
    let addr = serve(recording(Seen::default(), err, "application/json")).await;
    let e = provider(addr, Quirks::OPENAI)
        .chat_stream(&hello(), &ctx(None))
        .await
        .err()
        .expect("error");
    assert_eq!(
        (e.kind, e.message.as_str()),
        (ErrorKind::Upstream, "model overloaded")
    );
}

#[test]
fn debug_output_hides_configured_header_values() {
    let mut headers = BTreeMap::new();
    headers.insert("api-key".to_owned(), "azure-secret-value".to_owned());
    let p = OpenAiProvider::new(
        reqwest::Client::new(),
        "http://127.0.0.1:1/v1",
        &headers,
        "openai",
        Quirks::OPENAI,
    )
    .expect("provider");
    assert!(!format!("{p:?}").contains("azure-secret-value"));
}
