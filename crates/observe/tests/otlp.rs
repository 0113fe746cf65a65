mod common;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use common::rec;
use parking_lot::Mutex;
use serde_json::Value;
use switchyard_core::AttemptRecord;
use switchyard_observe::TelemetryConfig;
use switchyard_observe::otlp::TraceExporter;

type Bodies = Arc<Mutex<Vec<(String, Value)>>>;

async fn collector() -> (String, Bodies) {
    let bodies: Bodies = Arc::default();
    let app = Router::new()
        .route(
            "/v1/traces",
            post(
                |State(b): State<Bodies>, headers: axum::http::HeaderMap, body: String| async move {
                    let ct = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    b.lock()
                        .push((ct, serde_json::from_str(&body).expect("json body")));
                    "{}"
                },
            ),
        )
        .with_state(bodies.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), bodies)
}

fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

#[tokio::test]
async fn exports_genai_spans_to_collector() {
    let (url, bodies) = collector().await;
    assert!(
        TraceExporter::start(&TelemetryConfig::default(), reqwest::Client::new()).is_none(),
        "off by default"
    );
    let cfg = TelemetryConfig {
        otlp_endpoint: Some(format!("{url}/")),
        flush_ms: 60_000,
        ..TelemetryConfig::default()
    };
    let exp = TraceExporter::start(&cfg, reqwest::Client::new()).expect("on");

    let mut r = rec(
        "req-1",
        1_700_000_000_000,
        "openai/gpt-4o-mini",
        Some("0.00042"),
        300.0,
    );
    r.attempts.insert(
        0,
        AttemptRecord {
            model: "deepseek/chat".into(),
            provider: "deepseek".into(),
            outcome: "429".into(),
            latency_ms: 100.0,
            cost: None,
            cost_estimated: false,
        },
    );
    r.attempts[1].latency_ms = 150.0;
    exp.export(&r);
    exp.export(&rec(
        "req-2",
        1_700_000_000_500,
        "anthropic/haiku",
        None,
        50.0,
    ));
    exp.flush().await;

    let got = bodies.lock().clone();
    assert_eq!(got.len(), 1, "both requests in one POST");
    let (ct, body) = &got[0];
    assert!(ct.starts_with("application/json"));
    let rs = &body["resourceSpans"][0];
    assert_eq!(
        attr(&rs["resource"], "service.name").expect("svc")["stringValue"],
        "switchyard"
    );
    let spans = rs["scopeSpans"][0]["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 5, "request + 2 attempts, request + 1 attempt");

    let root = &spans[0];
    assert_eq!(root["kind"], 2);
    assert_eq!(root["name"], "chat auto");
    assert_eq!(root["traceId"].as_str().expect("tid").len(), 32);
    assert_eq!(root["startTimeUnixNano"], "1700000000000000000");
    assert_eq!(root["endTimeUnixNano"], "1700000000300000000");
    assert_eq!(
        attr(root, "gen_ai.operation.name").expect("op")["stringValue"],
        "chat"
    );
    assert_eq!(
        attr(root, "gen_ai.system").expect("sys")["stringValue"],
        "openai"
    );
    assert_eq!(
        attr(root, "gen_ai.request.model").expect("req")["stringValue"],
        "auto"
    );
    assert_eq!(
        attr(root, "gen_ai.response.model").expect("resp")["stringValue"],
        "openai/gpt-4o-mini"
    );
    assert_eq!(
        attr(root, "gen_ai.usage.input_tokens").expect("in")["intValue"],
        "110"
    );
    assert_eq!(
        attr(root, "gen_ai.usage.output_tokens").expect("out")["intValue"],
        "50"
    );
    assert_eq!(
        attr(root, "switchyard.cost_usd").expect("cost")["stringValue"],
        "0.00042"
    );

    let (a1, a2) = (&spans[1], &spans[2]);
    for a in [a1, a2] {
        assert_eq!(a["traceId"], root["traceId"]);
        assert_eq!(a["parentSpanId"], root["spanId"]);
        assert_eq!(a["kind"], 3);
    }
    assert_eq!(a1["name"], "chat deepseek/chat");
    assert_eq!(a1["status"]["code"], 2);
    assert_eq!(attr(a1, "error.type").expect("err")["stringValue"], "429");
    assert_eq!(
        attr(a1, "gen_ai.system").expect("sys")["stringValue"],
        "deepseek"
    );
    assert_eq!(a1["endTimeUnixNano"], "1700000000100000000");
    assert_eq!(a2["startTimeUnixNano"], a1["endTimeUnixNano"]);
    assert_eq!(a2["status"]["code"], 1);
    assert_ne!(
        spans[3]["traceId"], root["traceId"],
        "one trace per request"
    );
    assert_eq!(
        exp.counters()
            .exported
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}

#[tokio::test]
async fn unreachable_collector_counts_drops_without_blocking() {
    // A port nothing listens on: bind, learn the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("a")
        .port();
    let cfg = TelemetryConfig {
        otlp_endpoint: Some(format!("http://127.0.0.1:{port}")),
        ..TelemetryConfig::default()
    };
    let exp = TraceExporter::start(&cfg, reqwest::Client::new()).expect("on");
    exp.export(&rec("x", 0, "a/b", None, 1.0));
    exp.flush().await;
    assert_eq!(
        exp.counters()
            .dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}
