//! `switchyard demo`: the simulator and the gateway in one process, a short mixed workload,
//! and a table of what went where, what it cost and what it saved. No keys, no services, no
//! network beyond loopback.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rust_decimal::Decimal;
use serde_json::{Value, json};

const DEMO_CONFIG: &str = include_str!("../config/demo.toml");
const DEFAULT_SIM: &str = "127.0.0.1:4001";

pub async fn run(
    listen: &str,
    sim_listen: &str,
    no_workload: bool,
    exit_after: bool,
) -> Result<(), String> {
    let sim_listener = tokio::net::TcpListener::bind(sim_listen)
        .await
        .map_err(|e| format!("cannot listen on {sim_listen} for the simulator: {e}"))?;
    let sim_addr = sim_listener.local_addr().map_err(|e| e.to_string())?;
    let _sim = switchyard_sim::spawn_on(switchyard_sim::SimConfig::default_models(), sim_listener)
        .await
        .map_err(|e| format!("cannot start the simulator: {e}"))?;

    let text = DEMO_CONFIG.replace(DEFAULT_SIM, &sim_addr.to_string());
    let mut cfg = switchyard_engine::config::load_str(&text)
        .map_err(|e| crate::wiring::print_config_errors(&e))?;
    // The request log goes to a scratch directory so the demo leaves the working tree alone.
    let dir = std::env::temp_dir().join("switchyard-demo");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    cfg.base_dir = dir.clone();
    let running = crate::wiring::build(cfg, None).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let crate::wiring::Running { gateway, sink } = running;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gateway.serve(listener, async move {
        tokio::select! {
            () = switchyard_server::app::shutdown_signal() => {}
            _ = stop_rx => {}
        }
    }));
    let base = format!("http://{addr}");
    say(&format!(
        "Switchyard demo\n  gateway    {base}/v1   (point any OpenAI client here; any API key works)\n  simulator  http://{sim_addr}   (OpenAI, Anthropic, Gemini and compatible wire formats)\n  dashboard  {base}/ui   metrics {base}/metrics   request log {}\n",
        dir.display()
    ));
    if !no_workload {
        workload(&base).await?;
    }
    if exit_after {
        let _ = stop_tx.send(());
    } else {
        say("Serving until Ctrl-C. Try:\n  curl -s http://HOST/v1/chat/completions -H 'content-type: application/json' -d '{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"Translate to French: good morning\"}]}'".replace("http://HOST", &base).as_str());
    }
    match server.await {
        Ok(r) => r.map_err(|e| e.to_string())?,
        Err(e) => return Err(e.to_string()),
    }
    sink.log.flush().await;
    Ok(())
}

#[expect(
    clippy::print_stdout,
    reason = "the demo talks to the person who ran it"
)]
fn say(s: &str) {
    println!("{s}");
}

struct Job {
    label: &'static str,
    body: Value,
    task: Option<&'static str>,
}

fn jobs() -> Vec<Job> {
    let user = |s: &str| json!([{"role": "user", "content": s}]);
    let mut v = vec![
        Job {
            label: "code",
            task: Some("code"),
            body: json!({"model": "auto", "messages": user("Write a Python function that reverses a linked list.")}),
        },
        Job {
            label: "translation",
            task: Some("translation"),
            body: json!({"model": "auto", "messages": user("Translate to French: the weather is lovely today.")}),
        },
        Job {
            label: "reasoning",
            task: Some("reasoning"),
            body: json!({"model": "auto", "messages": user("A train leaves at 3pm at 60 km/h; another at 4pm at 90 km/h. When does the second catch up?")}),
        },
        Job {
            label: "summarization",
            task: Some("summarization"),
            body: json!({"model": "auto", "messages": user("Summarize: Switchyard routes each request to the cheapest model that is good enough.")}),
        },
        Job {
            label: "extraction",
            task: Some("extraction"),
            body: json!({"model": "auto", "messages": user("Extract the date from: the invoice was paid on 3 March 2025.")}),
        },
        Job {
            label: "chat (stream)",
            task: Some("chat"),
            body: json!({"model": "auto", "stream": true, "stream_options": {"include_usage": true}, "messages": user("Say hello to the new team.")}),
        },
        Job {
            label: "tools",
            task: None,
            body: json!({"model": "fast", "messages": user("What is the weather in Paris?"), "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]}),
        },
        Job {
            label: "json_schema",
            task: None,
            body: json!({"model": "openai/gpt-4o-mini", "messages": user("Give me a user record as JSON."), "response_format": {"type": "json_schema", "json_schema": {"name": "user", "schema": {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}, "required": ["name", "age"]}}}}),
        },
    ];
    v.push(Job { label: "cascade", task: None, body: json!({"model": "careful", "messages": user("Is 17 a prime number? Answer briefly.")}) });
    // The same question again: served from the exact cache, at no upstream cost.
    v.push(Job { label: "repeat (cache)", task: Some("translation"), body: json!({"model": "auto", "messages": user("Translate to French: the weather is lovely today.")}) });
    for model in [
        "openai/gpt-4o",
        "anthropic/claude-3-5-haiku",
        "google/gemini-2.0-flash",
        "deepseek/deepseek-chat",
        "mistral/mistral-small-latest",
        "together/llama-3.3-70b",
        "groq/llama-3.1-8b-instant",
        "local/llama",
    ] {
        v.push(Job { label: "direct (stream)", task: None, body: json!({"model": model, "stream": true, "stream_options": {"include_usage": true}, "messages": user("One sentence on why caching matters.")}) });
    }
    v
}

async fn workload(base: &str) -> Result<(), String> {
    let client = reqwest::Client::new();
    let mut table = String::new();
    let _ = writeln!(
        table,
        "{:<16} {:<30} {:<10} {:>11} {:>11} {:>7} {:>7}",
        "request", "served by", "provider", "cost $", "baseline $", "cache", "ms"
    );
    let mut total = Decimal::ZERO;
    let mut baseline_total = Decimal::ZERO;
    let mut unknown = 0;
    for mut job in jobs() {
        // Deterministic requests, so the exact cache and coalescing apply.
        job.body["temperature"] = json!(0);
        let t0 = Instant::now();
        let mut req = client
            .post(format!("{base}/v1/chat/completions"))
            .json(&job.body);
        if let Some(t) = job.task {
            req = req.header("x-switchyard-task", t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| format!("demo request failed: {e}"))?;
        let h = |n: &str| {
            resp.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned()
        };
        let (model, provider, cache) = (
            h("x-switchyard-model"),
            h("x-switchyard-provider"),
            h("x-switchyard-cache"),
        );
        let status = resp.status();
        let usage = if job.body["stream"] == json!(true) {
            stream_usage(resp).await
        } else {
            resp.json::<Value>()
                .await
                .ok()
                .and_then(|v| v.get("usage").cloned())
        };
        if !status.is_success() {
            let _ = writeln!(table, "{:<16} failed with {status}", job.label);
            continue;
        }
        let cost = usage.as_ref().and_then(|u| dec(&u["cost"]));
        let baseline = usage
            .as_ref()
            .and_then(|u| dec(&u["cost_details"]["baseline"]));
        match cost {
            Some(c) => total += c,
            None => unknown += 1,
        }
        baseline_total += baseline.or(cost).unwrap_or_default();
        let _ = writeln!(
            table,
            "{:<16} {:<30} {:<10} {:>11} {:>11} {:>7} {:>7}",
            job.label,
            model,
            provider,
            cost.map_or_else(|| "unknown".to_owned(), |c| format!("{:.6}", c)),
            baseline.map_or_else(|| "-".to_owned(), |c| format!("{:.6}", c)),
            cache,
            t0.elapsed().as_millis()
        );
    }
    let saved = baseline_total - total;
    let pct = if baseline_total.is_zero() {
        Decimal::ZERO
    } else {
        saved / baseline_total * Decimal::from(100)
    };
    let _ = writeln!(
        table,
        "\ntotal ${total:.6} against ${baseline_total:.6} on each request's baseline model: saved ${saved:.6} ({pct:.1}%){}",
        if unknown > 0 {
            format!("; {unknown} request(s) on models with no known price (cost null, not $0)")
        } else {
            String::new()
        }
    );
    say(&table);
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(())
}

fn dec(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => n.to_string().parse().ok(),
        _ => None,
    }
}

/// Read an SSE body to the end and return the usage of the final chunk.
async fn stream_usage(resp: reqwest::Response) -> Option<Value> {
    let mut body = resp.bytes_stream();
    let mut buf = Vec::new();
    while let Some(Ok(b)) = body.next().await {
        buf.extend_from_slice(&b);
    }
    let text = String::from_utf8_lossy(&buf);
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| v.get("usage").filter(|u| !u.is_null()).cloned())
        .next_back()
}
