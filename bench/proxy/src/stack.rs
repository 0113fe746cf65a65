//! The mandated stack's own floor: an axum server in front of a pooled reqwest client, doing no
//! gateway work. `bench-stack MODE LISTEN UPSTREAM` where MODE is
//!   `pass`  request and response bodies buffered and forwarded as bytes;
//!   `json`  both bodies also parsed into `serde_json::Value` and written back (what any
//!           translating gateway must at least do).
//! Measured beside `bench-proxy` (bare hyper, streaming bodies), it splits Switchyard's CPU per
//! request into what axum + reqwest + JSON cost before any routing, pricing or logging.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

struct Ctx {
    client: reqwest::Client,
    url: String,
    json: bool,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "pass".into());
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:4306".into());
    let upstream = args.next().unwrap_or_else(|| "127.0.0.1:4301".into());
    let json = match mode.as_str() {
        "pass" => false,
        "json" => true,
        _ => return Err("MODE is pass or json".into()),
    };
    // The gateway's own client (one pool, its settings), so the floor is like for like.
    let client = switchyard_providers::http::shared_client();
    let ctx = Arc::new(Ctx {
        client,
        url: format!("http://{upstream}/v1/chat/completions"),
        json,
    });
    let app = axum::Router::new()
        .route("/v1/chat/completions", post(forward))
        .route("/health", get(|| async { "ok" }))
        .with_state(ctx);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!(
        "bench-stack ({mode}) listening on http://{}",
        listener.local_addr()?
    );
    if std::env::var_os("STACK_AXUM_SERVE").is_some() {
        axum::serve(listener, app).await?;
        return Ok(());
    }
    // The gateway's own accept loop (hyper's HTTP/1 builder); STACK_AXUM_SERVE=1 measures
    // axum::serve's auto builder instead.
    let _ = switchyard_server::listen::accept_until(listener, app, std::future::pending()).await;
    Ok(())
}

fn roundtrip(b: &[u8]) -> Option<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(b).ok()?;
    serde_json::to_vec(&v).ok()
}

async fn forward(State(ctx): State<Arc<Ctx>>, headers: HeaderMap, body: Bytes) -> Response {
    let body = if ctx.json {
        match roundtrip(&body) {
            Some(b) => Bytes::from(b),
            None => return StatusCode::BAD_REQUEST.into_response(),
        }
    } else {
        body
    };
    let mut rb = ctx
        .client
        .post(&ctx.url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body);
    if let Some(a) = headers.get(header::AUTHORIZATION) {
        rb = rb.header(header::AUTHORIZATION, a);
    }
    let Ok(resp) = rb.send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = resp.status();
    let ct = resp.headers().get(header::CONTENT_TYPE).cloned();
    let Ok(bytes) = resp.bytes().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let bytes = if ctx.json && status.is_success() {
        roundtrip(&bytes).map_or(bytes, Bytes::from)
    } else {
        bytes
    };
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = status;
    if let Some(ct) = ct {
        r.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    r
}
