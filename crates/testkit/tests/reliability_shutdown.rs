//! Graceful shutdown: the shutdown future (what SIGTERM resolves in `switchyard serve`) stops
//! new connections at once, while a stream already in flight runs to its `[DONE]`.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use switchyard_server::{Gateway, GatewayOptions};
use switchyard_sim::SimConfig;
use switchyard_testkit::{DEMO_CONFIG, DEMO_SIM_ADDR, MemorySink, sse_data};

#[tokio::test]
async fn shutdown_refuses_new_connections_and_lets_the_stream_finish() {
    // A slow model: 16 tokens at 20 tokens/s, so the stream lasts ~0.8 s.
    let mut sim_cfg = SimConfig::default_models();
    for m in &mut sim_cfg.models {
        if m.name == "gpt-4o-mini" {
            m.tokens_per_s = 20.0;
        }
    }
    let sim = switchyard_sim::spawn(sim_cfg).await.unwrap();
    let text = DEMO_CONFIG.replace(DEMO_SIM_ADDR, &sim.addr.to_string());
    let cfg = switchyard_engine::config::load_str(&text).unwrap();
    let records = Arc::new(MemorySink::default());
    let gateway = Gateway::new(
        cfg,
        None,
        GatewayOptions {
            sink: records.clone(),
            metrics: None,
            extra: None,
            prepare: None,
        },
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gateway.serve(listener, async move {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::new();
    let r = client
        .post(format!("http://{addr}/v1/chat/completions"))
        .json(&json!({"model": "openai/gpt-4o-mini", "stream": true,
            "messages": [{"role": "user", "content": "Write the release note"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut body = r.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    let mut text = String::from_utf8_lossy(&first).into_owned();

    // SIGTERM-equivalent while the stream is mid-way.
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let refused = fresh
        .get(format!("http://{addr}/health"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a new connection was accepted after shutdown began"
    );

    while let Some(chunk) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    let frames = sse_data(&text);
    assert_eq!(
        frames.last().unwrap(),
        "[DONE]",
        "the in-flight stream was cut"
    );
    let content: String = frames
        .iter()
        .filter_map(|f| f["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(content.split_whitespace().count() >= 16, "{content}");
    // The server exits once the stream is done, well inside the grace period.
    let exited = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(matches!(exited, Ok(Ok(Ok(())))), "{exited:?}");
    assert_eq!(records.all().len(), 1);
    assert_eq!(records.all()[0].status, 200);
}
