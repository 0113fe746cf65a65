//! Test helpers shared by every crate's integration tests: start `switchyard-sim` and a
//! gateway on ephemeral loopback ports in this process, collect the request records, and
//! read SSE bodies.
//!
//! ```ignore
//! let env = switchyard_testkit::TestEnv::demo().await;
//! let r = env.client().post(env.url("/v1/chat/completions")).json(&body).send().await?;
//! ```

pub mod chaos;

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;
use switchyard_core::RequestRecord;
use switchyard_engine::RecordSink;
use switchyard_server::state::MetricsRender;
use switchyard_server::{AppState, Gateway, GatewayOptions};
use switchyard_sim::{SimConfig, SimHandle};

/// The demo config: every provider kind, pointed at the simulator's default models.
pub const DEMO_CONFIG: &str = include_str!("../../../config/demo.toml");
/// The address the demo config names for the simulator, replaced by the real one.
pub const DEMO_SIM_ADDR: &str = "127.0.0.1:4001";

/// Keeps every record in memory, for assertions.
#[derive(Default)]
pub struct MemorySink {
    records: Mutex<Vec<RequestRecord>>,
}

impl MemorySink {
    pub fn all(&self) -> Vec<RequestRecord> {
        self.records.lock().clone()
    }

    pub fn by_id(&self, request_id: &str) -> Option<RequestRecord> {
        self.records
            .lock()
            .iter()
            .find(|r| r.request_id == request_id)
            .cloned()
    }

    pub fn clear(&self) {
        self.records.lock().clear();
    }

    /// Every record so far, removed from the sink (long runs drain it to keep memory flat).
    pub fn take(&self) -> Vec<RequestRecord> {
        std::mem::take(&mut *self.records.lock())
    }

    /// Wait until a record with this id exists (streams record when the body ends).
    pub async fn wait_for(&self, request_id: &str) -> RequestRecord {
        for _ in 0..200 {
            if let Some(r) = self.by_id(request_id) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no record for {request_id} after 2 s");
    }
}

impl RecordSink for MemorySink {
    fn record(&self, rec: RequestRecord) {
        self.records.lock().push(rec);
    }
}

/// Records to two sinks.
struct Tee(Arc<MemorySink>, Arc<dyn RecordSink>);

impl RecordSink for Tee {
    fn record(&self, rec: RequestRecord) {
        self.0.record(rec.clone());
        self.1.record(rec);
    }
}

/// What `TestEnv::start_with` can add to the plain gateway.
#[derive(Default)]
pub struct StartOptions {
    /// Every record also goes here (e.g. a real request log, or metrics).
    pub extra: Option<Arc<dyn RecordSink>>,
    /// Serves `/metrics` with this renderer.
    pub metrics: Option<MetricsRender>,
    /// Write the config to `DIR/switchyard.toml` and load it from there, so relative paths
    /// (includes, index files) resolve in `DIR` and the gateway can reload it.
    pub config_dir: Option<std::path::PathBuf>,
}

pub struct TestEnv {
    pub sim: SimHandle,
    pub base: String,
    pub records: Arc<MemorySink>,
    pub state: Arc<AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The task running `Gateway::serve`, awaited by `shutdown`.
    served: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    client: reqwest::Client,
}

impl TestEnv {
    /// The simulator's default models behind the demo config.
    pub async fn demo() -> TestEnv {
        TestEnv::start(SimConfig::default_models(), DEMO_CONFIG).await
    }

    /// Start `sim` and a gateway on `config_toml`, in which every `127.0.0.1:4001` is
    /// replaced by the simulator's real address.
    pub async fn start(sim: SimConfig, config_toml: &str) -> TestEnv {
        TestEnv::start_with_sink(sim, config_toml, None).await
    }

    /// Like `start`, and every record also goes to `extra` (e.g. a real request log).
    pub async fn start_with_sink(
        sim: SimConfig,
        config_toml: &str,
        extra: Option<Arc<dyn RecordSink>>,
    ) -> TestEnv {
        let opts = StartOptions {
            extra,
            ..StartOptions::default()
        };
        TestEnv::start_with(sim, config_toml, opts).await
    }

    /// Start `sim` and a gateway on `config_toml` with the options in `opts`.
    pub async fn start_with(sim: SimConfig, config_toml: &str, opts: StartOptions) -> TestEnv {
        let sim = switchyard_sim::spawn(sim).await.expect("simulator starts");
        let text = config_toml.replace(DEMO_SIM_ADDR, &sim.addr.to_string());
        let (cfg, config_path) = match &opts.config_dir {
            Some(dir) => {
                let path = dir.join("switchyard.toml");
                std::fs::write(&path, &text).expect("write the test config");
                let cfg = switchyard_engine::config::load_file(&path)
                    .unwrap_or_else(|e| panic!("test config invalid: {e:?}"));
                (cfg, Some(path))
            }
            None => (
                switchyard_engine::config::load_str(&text)
                    .unwrap_or_else(|e| panic!("test config invalid: {e:?}")),
                None,
            ),
        };
        let records = Arc::new(MemorySink::default());
        let sink: Arc<dyn RecordSink> = match opts.extra {
            Some(extra) => Arc::new(Tee(records.clone(), extra)),
            None => records.clone(),
        };
        let gateway = Gateway::new(
            cfg,
            config_path,
            GatewayOptions {
                sink,
                metrics: opts.metrics,
                extra: None,
                prepare: None,
            },
        )
        .unwrap_or_else(|e| panic!("gateway builds: {e:?}"));
        let state = gateway.state.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = tokio::spawn(gateway.serve(listener, async move {
            let _ = rx.await;
        }));
        TestEnv {
            sim,
            base: format!("http://{addr}"),
            records,
            state,
            stop: Some(tx),
            served: Some(served),
            client: reqwest::Client::new(),
        }
    }

    /// Stops the gateway as SIGTERM does and waits until `serve` returns, i.e. until the HTTP
    /// and batch drains are over (or the grace ran out). The simulator keeps running, so its
    /// stats still count what the stopped gateway sent.
    pub async fn shutdown(&mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.served.take() {
            Some(served) => served.await.map_err(std::io::Error::other)?,
            None => Ok(()),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// POST a JSON body to the gateway's chat endpoint.
    pub async fn chat(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/chat/completions"))
            .json(body)
            .send()
            .await
            .expect("gateway answers")
    }

    /// `POST /v1/route/explain` with extra headers; asserts a 200 and returns the plan.
    pub async fn explain(&self, body: &Value, headers: &[(&str, &str)]) -> Value {
        let mut r = self.client.post(self.url("/v1/route/explain")).json(body);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        let r = r.send().await.expect("gateway answers");
        assert_eq!(r.status(), 200, "explain failed");
        r.json().await.expect("a plan")
    }

    /// `GET /v1/models`: every entry of the list.
    pub async fn models(&self) -> Vec<Value> {
        let b: Value = self
            .client
            .get(self.url("/v1/models"))
            .send()
            .await
            .expect("gateway answers")
            .json()
            .await
            .expect("a model list");
        b["data"].as_array().cloned().unwrap_or_default()
    }

    /// The `/v1/models` entry with this id; panics (fails the test) when it is not listed.
    pub async fn model_entry(&self, id: &str) -> Value {
        self.models()
            .await
            .into_iter()
            .find(|m| m["id"] == id)
            .unwrap_or_else(|| panic!("{id} is not listed in /v1/models"))
    }

    /// Requests the simulator received for one upstream model.
    pub async fn sim_requests(&self, model: &str) -> u64 {
        self.sim_stats().await["models"][model]["requests"]
            .as_u64()
            .unwrap_or(0)
    }

    /// Uploads `jsonl` as a batch input file (multipart, as the SDKs send it) and creates a
    /// chat-completions batch on it; returns (file object, batch object).
    pub async fn submit_batch(&self, jsonl: &str) -> (Value, Value) {
        const BOUNDARY: &str = "switchyard-test-boundary";
        let upload = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n\
             Content-Type: application/jsonl\r\n\r\n{jsonl}\r\n--{BOUNDARY}--\r\n"
        );
        let file: Value = self
            .client
            .post(self.url("/v1/files"))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(upload)
            .send()
            .await
            .expect("gateway answers")
            .json()
            .await
            .expect("a file object");
        let batch: Value = self
            .client
            .post(self.url("/v1/batches"))
            .json(&serde_json::json!({"input_file_id": file["id"],
                "endpoint": "/v1/chat/completions", "completion_window": "24h"}))
            .send()
            .await
            .expect("gateway answers")
            .json()
            .await
            .expect("a batch object");
        (file, batch)
    }

    /// The simulator's `/sim/stats`.
    pub async fn sim_stats(&self) -> Value {
        self.client
            .get(format!("{}/sim/stats", self.sim.url()))
            .send()
            .await
            .expect("sim stats")
            .json()
            .await
            .expect("json")
    }

    /// `POST /sim/faults` on the simulator.
    pub async fn inject(&self, fault: &Value) {
        let r = self
            .client
            .post(format!("{}/sim/faults", self.sim.url()))
            .json(fault)
            .send()
            .await
            .expect("sim faults");
        assert!(
            r.status().is_success(),
            "fault rejected: {}",
            r.text().await.unwrap_or_default()
        );
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A response header as text; empty when absent.
pub fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// `n` batch input lines for `openai/gpt-4o-mini`, custom ids `q0`.., prompts "`topic` i".
pub fn chat_batch_lines(n: usize, topic: &str) -> String {
    (0..n)
        .map(|i| {
            let body = serde_json::json!({"model": "openai/gpt-4o-mini",
                "messages": [{"role": "user", "content": format!("{topic} {i}")}]});
            serde_json::json!({"custom_id": format!("q{i}"), "method": "POST",
                "url": "/v1/chat/completions", "body": body})
            .to_string()
                + "\n"
        })
        .collect()
}

/// Parse an SSE body into its `data:` payloads (`[DONE]` kept as a string).
pub fn sse_data(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|frame| frame.lines().find_map(|l| l.strip_prefix("data: ")))
        .map(|d| serde_json::from_str(d).unwrap_or_else(|_| Value::String(d.to_owned())))
        .collect()
}
