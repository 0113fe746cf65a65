//! A bounded chaos run: many requests, streamed and not, through a gateway whose simulated
//! upstreams fail at random (about 20% of calls, every fault kind but bad keys), checking that
//! every request ends in a complete answer or an explicit error, none hangs, none is recorded
//! twice or lost, the simulator saw exactly the calls the records say were made, and memory
//! stays flat. Used by `tests/reliability_chaos.rs` (short) and `examples/chaos.rs` (full).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use crate::{TestEnv, sse_data};

/// Four providers of three wire formats behind one route, plus direct names (no fallback).
pub const CHAOS_TOML: &str = r#"
[providers.openai]
kind = "openai"
base_url = "http://127.0.0.1:4001/v1"
keys = ["plain:k1", "plain:k2"]
first_byte_timeout = "1s"
idle_timeout = "500ms"

[providers.anthropic]
kind = "anthropic"
base_url = "http://127.0.0.1:4001"
keys = ["plain:k"]
first_byte_timeout = "1s"
idle_timeout = "500ms"

[providers.gemini]
kind = "gemini"
base_url = "http://127.0.0.1:4001"
keys = ["plain:k"]
first_byte_timeout = "1s"
idle_timeout = "500ms"

[providers.deepseek]
kind = "openai-compatible"
flavor = "deepseek"
base_url = "http://127.0.0.1:4001"
keys = ["plain:k"]
first_byte_timeout = "1s"
idle_timeout = "500ms"

[models."openai/gpt-4o-mini"]
provider = "openai"
upstream = "gpt-4o-mini"

[models."anthropic/claude-3-5-haiku"]
provider = "anthropic"
upstream = "claude-3-5-haiku"
price_id = "anthropic/claude-3-5-haiku-20241022"

[models."google/gemini-2.0-flash"]
provider = "gemini"
upstream = "gemini-2.0-flash"

[models."deepseek/deepseek-chat"]
provider = "deepseek"
upstream = "deepseek-chat"

[routes.chaos]
strategy = "ordered"
candidates = ["deepseek/deepseek-chat", "openai/gpt-4o-mini", "google/gemini-2.0-flash", "anthropic/claude-3-5-haiku"]
[routes.chaos.retry]
backoff_base = "50ms"
backoff_max = "200ms"
max_retry_after = "1s"
"#;

/// Upstream model names in the simulator.
pub const CHAOS_UPSTREAMS: &[&str] = &[
    "gpt-4o-mini",
    "claude-3-5-haiku",
    "gemini-2.0-flash",
    "deepseek-chat",
];
const NAMES: &[&str] = &[
    "chaos",
    "chaos",
    "chaos",
    "openai/gpt-4o-mini",
    "anthropic/claude-3-5-haiku",
    "google/gemini-2.0-flash",
    "deepseek/deepseek-chat",
];

/// Fault kinds and their rates per model; the simulator takes the first rule that fires, so
/// the share of faulty calls is 1 - prod(1 - rate) = 20.1%.
pub const FAULTS: &[(&str, f64, u32)] = &[
    ("429", 0.03, 0),
    ("500", 0.04, 0),
    ("503", 0.03, 0),
    ("529", 0.02, 0),
    ("reset", 0.04, 0),
    ("cut", 0.02, 0),
    ("cut", 0.02, 3),
    ("hang", 0.01, 0),
    ("drip", 0.015, 0),
];

#[derive(Debug, Clone)]
pub struct ChaosOpts {
    pub requests: usize,
    pub concurrency: usize,
    pub client_timeout: Duration,
}

#[derive(Debug, Default)]
pub struct ChaosReport {
    pub requests: usize,
    pub concurrency: usize,
    pub elapsed_s: f64,
    pub complete: usize,
    pub explicit_errors: usize,
    pub errors_by_status: BTreeMap<String, usize>,
    /// 200 streams that ended without `[DONE]` and without an error event: must be 0.
    pub silent_truncations: usize,
    /// Anything else that is neither a complete answer nor an error envelope: must be 0.
    pub malformed: usize,
    /// Requests that did not finish within the client timeout: must be 0.
    pub timeouts: usize,
    pub missing_request_id: usize,
    pub records: usize,
    pub records_not_exactly_once: usize,
    /// Calls the records say were made (attempts that were not skips) ...
    pub attempted_calls: u64,
    /// ... and calls the simulator counted. Equal when nothing was lost or double-counted,
    /// except calls whose connection failed before the request reached the simulator.
    pub sim_calls: u64,
    /// Attempts that failed to connect (`connect`): the only calls the simulator may miss.
    pub unreached_calls: u64,
    pub attempt_outcomes: BTreeMap<String, u64>,
    pub sim_faults: BTreeMap<String, u64>,
    pub failovers: usize,
    /// Resident set size of this process (gateway + simulator + client), KiB.
    pub rss_kib_start: u64,
    pub rss_kib_mid: u64,
    pub rss_kib_end: u64,
    pub sim_in_flight_after: u64,
}

impl ChaosReport {
    /// The invariants the run must hold; the list of violations (empty = pass).
    pub fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        let mut check = |ok: bool, what: String| {
            if !ok {
                v.push(what);
            }
        };
        check(
            self.timeouts == 0,
            format!("{} requests hung", self.timeouts),
        );
        check(
            self.silent_truncations == 0,
            format!("{} silently truncated streams", self.silent_truncations),
        );
        check(
            self.malformed == 0,
            format!("{} malformed answers", self.malformed),
        );
        check(
            self.complete + self.explicit_errors == self.requests,
            "not every request accounted".to_owned(),
        );
        check(
            self.missing_request_id == 0,
            format!("{} answers without request id", self.missing_request_id),
        );
        check(
            self.records == self.requests,
            format!("{} records for {} requests", self.records, self.requests),
        );
        check(
            self.records_not_exactly_once == 0,
            format!(
                "{} request ids not recorded exactly once",
                self.records_not_exactly_once
            ),
        );
        check(
            self.sim_calls <= self.attempted_calls
                && self.attempted_calls - self.sim_calls <= self.unreached_calls,
            format!(
                "records say {} upstream calls ({} failed to connect), simulator saw {}",
                self.attempted_calls, self.unreached_calls, self.sim_calls
            ),
        );
        check(
            self.sim_in_flight_after <= 1,
            format!("{} upstream calls still open", self.sim_in_flight_after),
        );
        // Flat: the second half of the run may not grow memory by more than 20% + 16 MiB.
        check(
            self.rss_kib_end <= self.rss_kib_mid + self.rss_kib_mid / 5 + 16 * 1024,
            format!(
                "memory grew from {} KiB (mid) to {} KiB (end)",
                self.rss_kib_mid, self.rss_kib_end
            ),
        );
        v
    }
}

/// RSS of this process in KiB (Linux); 0 elsewhere.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4)
}

/// What the records say, without keeping them.
#[derive(Default)]
struct Tally {
    records: usize,
    per_id: HashMap<String, usize>,
    calls: u64,
    connect_failures: u64,
    failovers: usize,
    outcomes: BTreeMap<String, u64>,
}

impl Tally {
    fn add(&mut self, batch: &[switchyard_core::RequestRecord]) {
        for r in batch {
            self.records += 1;
            *self.per_id.entry(r.request_id.clone()).or_default() += 1;
            for a in &r.attempts {
                *self.outcomes.entry(a.outcome.clone()).or_default() += 1;
                if !a.outcome.starts_with("skipped:") {
                    self.calls += 1;
                }
                if a.outcome == "connect" {
                    self.connect_failures += 1;
                }
            }
            if r.attempts.len() > 1 && r.status == 200 {
                self.failovers += 1;
            }
        }
    }
}

enum Ending {
    Complete,
    Error(u16),
    Truncated,
    Malformed,
}

async fn one(client: &reqwest::Client, url: &str, i: usize) -> (Option<String>, Ending) {
    let stream = i % 2 == 1;
    let model = NAMES[i % NAMES.len()];
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": format!("chaos request {i}: report the status")}]});
    if stream {
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
    }
    let Ok(r) = client.post(url).json(&body).send().await else {
        return (None, Ending::Malformed);
    };
    let rid = r
        .headers()
        .get("x-switchyard-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let status = r.status().as_u16();
    if status != 200 {
        let b: Value = r.json().await.unwrap_or(Value::Null);
        let explicit = b["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty());
        return (
            rid,
            if explicit {
                Ending::Error(status)
            } else {
                Ending::Malformed
            },
        );
    }
    if !stream {
        let b: Value = r.json().await.unwrap_or(Value::Null);
        let ok = b["choices"][0]["message"]["content"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
            && b["choices"][0]["finish_reason"].is_string();
        return (
            rid,
            if ok {
                Ending::Complete
            } else {
                Ending::Malformed
            },
        );
    }
    let mut text = String::new();
    let mut s = r.bytes_stream();
    while let Some(c) = s.next().await {
        match c {
            Ok(b) => text.push_str(&String::from_utf8_lossy(&b)),
            Err(_) => return (rid, Ending::Truncated),
        }
    }
    let frames = sse_data(&text);
    let finished = frames
        .iter()
        .any(|f| f["choices"][0]["finish_reason"].is_string());
    let ending = match frames.last() {
        Some(Value::String(d)) if d == "[DONE]" && finished => Ending::Complete,
        Some(f) if f["error"]["message"].is_string() => Ending::Error(200),
        _ => Ending::Truncated,
    };
    (rid, ending)
}

/// Inject the chaos faults into every upstream model of the simulator.
pub async fn inject_faults(env: &TestEnv) {
    for m in CHAOS_UPSTREAMS {
        for (kind, rate, after) in FAULTS {
            env.inject(&json!({"model": m, "kind": kind, "rate": rate, "after_chunks": after}))
                .await;
        }
    }
}

pub async fn run(env: &TestEnv, opts: &ChaosOpts) -> ChaosReport {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(opts.concurrency)
        .build()
        .unwrap_or_default();
    let url = env.url("/v1/chat/completions");
    let mut rep = ChaosReport {
        requests: opts.requests,
        concurrency: opts.concurrency,
        rss_kib_start: rss_kib(),
        ..ChaosReport::default()
    };
    // Records are drained into tallies as they arrive, so this harness's own record store does
    // not grow with the run and pass for a gateway leak in the memory figures.
    let tally = Arc::new(parking_lot::Mutex::new(Tally::default()));
    let stop_drain = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let drainer = {
        let (tally, stop, records) = (tally.clone(), stop_drain.clone(), env.records.clone());
        tokio::spawn(async move {
            loop {
                let last = stop.load(std::sync::atomic::Ordering::Relaxed);
                let batch = records.take();
                tally.lock().add(&batch);
                if last {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let t0 = Instant::now();
    let half = opts.requests / 2;
    let mid_rss = Arc::new(parking_lot::Mutex::new(0u64));
    let ids = Arc::new(parking_lot::Mutex::new(Vec::with_capacity(opts.requests)));
    let endings = futures::stream::iter(0..opts.requests)
        .map(|i| {
            let (client, url, mid, ids) =
                (client.clone(), url.clone(), mid_rss.clone(), ids.clone());
            let limit = opts.client_timeout;
            async move {
                if i == half {
                    *mid.lock() = rss_kib();
                }
                let r = tokio::time::timeout(limit, one(&client, &url, i)).await;
                match r {
                    Ok((rid, e)) => {
                        if let Some(id) = rid.clone() {
                            ids.lock().push(id);
                        }
                        (rid.is_some(), Some(e))
                    }
                    Err(_) => (true, None),
                }
            }
        })
        .buffer_unordered(opts.concurrency)
        .collect::<Vec<_>>()
        .await;
    rep.elapsed_s = t0.elapsed().as_secs_f64();
    rep.rss_kib_mid = *mid_rss.lock();
    for (has_id, e) in endings {
        if !has_id {
            rep.missing_request_id += 1;
        }
        match e {
            None => rep.timeouts += 1,
            Some(Ending::Complete) => rep.complete += 1,
            Some(Ending::Error(s)) => {
                rep.explicit_errors += 1;
                *rep.errors_by_status.entry(s.to_string()).or_default() += 1;
            }
            Some(Ending::Truncated) => rep.silent_truncations += 1,
            Some(Ending::Malformed) => rep.malformed += 1,
        }
    }
    // Streams record when their body ends, which is before the client saw the end.
    for _ in 0..200 {
        if tally.lock().records + env.records.all().len() >= opts.requests {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    stop_drain.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = drainer.await;
    let tally = std::mem::take(&mut *tally.lock());
    rep.records = tally.records;
    rep.attempted_calls = tally.calls;
    rep.unreached_calls = tally.connect_failures;
    rep.failovers = tally.failovers;
    rep.attempt_outcomes = tally.outcomes;
    let per_id = tally.per_id;
    let ids = std::mem::take(&mut *ids.lock());
    rep.records_not_exactly_once = ids
        .iter()
        .filter(|id| per_id.get(id.as_str()) != Some(&1))
        .count()
        + per_id.values().filter(|&&n| n != 1).count();
    let stats = env.sim_stats().await;
    for m in CHAOS_UPSTREAMS {
        let s = &stats["models"][m];
        rep.sim_calls += s["requests"].as_u64().unwrap_or(0);
        if let Some(o) = s["outcomes"].as_object() {
            for (k, n) in o {
                *rep.sim_faults.entry(k.clone()).or_default() += n.as_u64().unwrap_or(0);
            }
        }
    }
    rep.sim_in_flight_after = stats["in_flight"].as_u64().unwrap_or(0);
    rep.rss_kib_end = rss_kib();
    rep
}
