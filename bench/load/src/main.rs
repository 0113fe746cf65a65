//! Load generator for the proxy benchmark (scripts/bench.sh drives it).
//!
//! `bench-load run`: N workers, each on its own keep-alive HTTP/1.1 connection, send chat
//! completions back to back for `--warmup-s` then `--duration-s`; only requests that complete
//! inside the measured window count. Every latency is kept, so p50/p99 are exact (nearest rank),
//! and any non-2xx, transport error or truncated body is an error, never a sample. With `--pid`
//! it also reads the process under test: CPU time (utime+stime) at the window's edges divided by
//! the requests completed in it, VmRSS sampled through the run and VmHWM (peak RSS) at the end.
//! Prints one JSON object on stdout.
//!
//! `bench-load ready`: polls `GET /ready` every millisecond and prints the milliseconds since
//! `--start-ns` (the wall clock, as `date +%s%N`, taken just before the server was spawned).

mod procfs;
mod stats;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use clap::{Parser, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::stats::{Sample, Summary};

#[derive(Parser)]
#[command(name = "bench-load")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Closed-loop load on POST /v1/chat/completions.
    Run(RunArgs),
    /// Time from spawn to the first 200 on a readiness path.
    Ready {
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value = "/ready")]
        path: String,
        /// Wall clock in ns (`date +%s%N`) just before the server process was started.
        #[arg(long)]
        start_ns: u128,
        #[arg(long, default_value_t = 10_000)]
        timeout_ms: u64,
    },
}

#[derive(Parser, Clone)]
pub struct RunArgs {
    #[arg(long)]
    addr: SocketAddr,
    /// A label echoed in the output (direct, proxy, switchyard, ...).
    #[arg(long, default_value = "")]
    label: String,
    #[arg(long)]
    model: String,
    #[arg(long)]
    stream: bool,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    #[arg(long, default_value_t = 1.0)]
    warmup_s: f64,
    #[arg(long, default_value_t = 5.0)]
    duration_s: f64,
    /// Process under test (the proxy); without it CPU and RSS are not reported.
    #[arg(long)]
    pid: Option<u32>,
    /// Another process whose CPU share is reported (the simulator, which shares this tool's
    /// core): tells whether that core, rather than the proxy's, was the limit.
    #[arg(long)]
    aux_pid: Option<u32>,
    /// `getconf CLK_TCK`, the unit of utime/stime in /proc/PID/stat.
    #[arg(long, default_value_t = 100)]
    clk_tck: u64,
    /// Sample VmRSS every this many ms (0: only at the end).
    #[arg(long, default_value_t = 0)]
    rss_sample_ms: u64,
    /// After the load stops, wait this long and sample VmRSS once more.
    #[arg(long, default_value_t = 0.0)]
    after_s: f64,
    /// Put `temperature` in the body (0 makes the request deterministic, hence cacheable).
    #[arg(long)]
    temperature: Option<f64>,
    /// Paced instead of closed loop: each connection starts a request every 1/RATE s on a
    /// fixed schedule, and latency is measured from the scheduled start, so a late answer
    /// also charges the requests queued behind it (no coordinated omission).
    #[arg(long)]
    rate: Option<f64>,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // One thread: the generator shares its core with the simulator, and per-worker connections
    // need no cross-thread work.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-load: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::Ready {
                addr,
                path,
                start_ns,
                timeout_ms,
            } => ready(addr, &path, start_ns, timeout_ms).await,
        }
    });
    match result {
        Ok(json) => {
            #[expect(clippy::print_stdout, reason = "the JSON result is the tool's output")]
            {
                println!("{json}");
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("bench-load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn ready(
    addr: SocketAddr,
    path: &str,
    start_ns: u128,
    timeout_ms: u64,
) -> Result<serde_json::Value, String> {
    let deadline = Instant::now() + Duration::from_millis(timeout_ms);
    let mut polls = 0u64;
    loop {
        polls += 1;
        if probe(addr, path).await {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_err(|e| e.to_string())?
                .as_nanos();
            let ms = now.saturating_sub(start_ns) as f64 / 1e6;
            return Ok(serde_json::json!({"ready_ms": (ms * 10.0).round() / 10.0, "polls": polls}));
        }
        if Instant::now() > deadline {
            return Err(format!("{addr}{path} not ready after {timeout_ms} ms"));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// One `GET path` on a fresh connection; true on a 200.
async fn probe(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return false;
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    let mut n = 0;
    while n < 12 {
        match s.read(&mut buf[n..]).await {
            Ok(0) | Err(_) => return false,
            Ok(k) => n += k,
        }
    }
    buf.starts_with(b"HTTP/1.1 200")
}

async fn run(args: RunArgs) -> Result<serde_json::Value, String> {
    let mut body = serde_json::json!({
        "model": args.model,
        "stream": args.stream,
        "messages": [{"role": "user", "content": "Say something short about proxies and latency."}],
    });
    if let Some(t) = args.temperature {
        body["temperature"] = t.into();
    }
    let period = args
        .rate
        .filter(|r| *r > 0.0)
        .map(|r| Duration::from_secs_f64(1.0 / r));
    let body = Bytes::from(serde_json::to_vec(&body).map_err(|e| e.to_string())?);
    let start = Instant::now();
    let t0 = start + Duration::from_secs_f64(args.warmup_s);
    let t1 = t0 + Duration::from_secs_f64(args.duration_s);
    let workers: Vec<_> = (0..args.concurrency)
        .enumerate()
        .map(|(i, _)| {
            // Paced connections start spread over one period, not all at once.
            let phase = period.map(|p| p.mul_f64(i as f64 / args.concurrency as f64));
            let pace = period.zip(phase);
            tokio::spawn(worker(args.addr, args.stream, body.clone(), t0, t1, pace))
        })
        .collect();
    let rss_sampler = args.pid.filter(|_| args.rss_sample_ms > 0).map(|pid| {
        let every = Duration::from_millis(args.rss_sample_ms);
        tokio::spawn(sample_rss(pid, start, t1, every))
    });
    // CPU at the window's edges, read from this task while the workers run.
    tokio::time::sleep_until(t0.into()).await;
    let me = std::process::id();
    let cpu0 = args.pid.and_then(|p| procfs::cpu_time(p, args.clk_tck));
    let aux0 = args.aux_pid.and_then(|p| procfs::cpu_time(p, args.clk_tck));
    let self0 = procfs::cpu_time(me, args.clk_tck);
    tokio::time::sleep_until(t1.into()).await;
    let cpu1 = args.pid.and_then(|p| procfs::cpu_time(p, args.clk_tck));
    let aux1 = args.aux_pid.and_then(|p| procfs::cpu_time(p, args.clk_tck));
    let self1 = procfs::cpu_time(me, args.clk_tck);
    let mut samples = Vec::new();
    let mut errors = 0u64;
    let mut first_error = None;
    for w in workers {
        let out = w.await.map_err(|e| e.to_string())?;
        samples.extend(out.samples);
        errors += out.errors;
        if first_error.is_none() {
            first_error = out.first_error;
        }
    }
    let rss_series = match rss_sampler {
        Some(h) => h.await.map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let mut rss_after = None;
    if let Some(pid) = args.pid.filter(|_| args.after_s > 0.0) {
        tokio::time::sleep(Duration::from_secs_f64(args.after_s)).await;
        rss_after = procfs::status_kb(pid, "VmRSS");
    }
    let summary = Summary::new(samples, errors, args.duration_s);
    let mut out = summary.to_json(&args.label, args.stream, args.concurrency);
    if let Some(r) = args.rate {
        out["rate_per_connection"] = r.into();
    }
    if let Some(e) = first_error {
        out["first_error"] = e.into();
    }
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        let cpu = b.saturating_sub(a);
        out["cpu_ms"] = (cpu.as_micros() as f64 / 1e3).into();
        // Share of one core the process used during the window (1.0 = its core is saturated).
        out["cpu_util"] = (round3(cpu.as_secs_f64() / args.duration_s)).into();
        if summary.requests > 0 {
            let per = cpu.as_micros() as f64 / summary.requests as f64;
            out["cpu_us_per_req"] = round1(per).into();
        }
    }
    // The other core's load: the simulator and this generator.
    if let (Some(a), Some(b)) = (aux0, aux1) {
        out["aux_cpu_util"] = round3(b.saturating_sub(a).as_secs_f64() / args.duration_s).into();
    }
    if let (Some(a), Some(b)) = (self0, self1) {
        out["load_cpu_util"] = round3(b.saturating_sub(a).as_secs_f64() / args.duration_s).into();
    }
    if let Some(pid) = args.pid {
        out["vm_hwm_kb"] = procfs::status_kb(pid, "VmHWM").into();
        out["vm_rss_kb"] = procfs::status_kb(pid, "VmRSS").into();
    }
    if !rss_series.is_empty() {
        out["rss"] = stats::rss_json(&rss_series, args.warmup_s, rss_after);
    }
    Ok(out)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

async fn sample_rss(pid: u32, start: Instant, until: Instant, every: Duration) -> Vec<(f64, u64)> {
    let mut out = Vec::new();
    let mut tick = tokio::time::interval(every);
    while Instant::now() < until {
        tick.tick().await;
        if let Some(kb) = procfs::status_kb(pid, "VmRSS") {
            out.push((start.elapsed().as_secs_f64(), kb));
        }
    }
    out
}

struct WorkerOut {
    samples: Vec<Sample>,
    errors: u64,
    first_error: Option<String>,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn worker(
    addr: SocketAddr,
    stream: bool,
    body: Bytes,
    t0: Instant,
    t1: Instant,
    pace: Option<(Duration, Duration)>,
) -> WorkerOut {
    let mut out = WorkerOut {
        samples: Vec::new(),
        errors: 0,
        first_error: None,
    };
    let mut sender: Option<Sender> = None;
    let mut next = pace.map(|(_, phase)| Instant::now() + phase);
    let mut last_done = Instant::now();
    while Instant::now() < t1 {
        // Paced: when the previous answer came after this request's scheduled start, the
        // server made it late, so latency counts from the schedule; otherwise from the send
        // (the timer wakes up to a millisecond late, which is the generator's, not the
        // server's). Closed loop: from the send.
        let began = match (&mut next, pace) {
            (Some(at), Some((period, _))) => {
                let scheduled = *at;
                *at += period;
                if last_done > scheduled {
                    scheduled
                } else {
                    tokio::time::sleep_until(scheduled.into()).await;
                    Instant::now()
                }
            }
            _ => Instant::now(),
        };
        let result = one_request(&mut sender, addr, stream, body.clone()).await;
        let done = Instant::now();
        last_done = done;
        let in_window = done >= t0 && done <= t1;
        match result {
            Ok(ttfb) => {
                if in_window {
                    out.samples.push(Sample {
                        total_us: micros(done - began),
                        ttfb_us: micros(ttfb - began),
                    });
                }
            }
            Err(e) => {
                // A failed connection is not reused.
                sender = None;
                if in_window {
                    out.errors += 1;
                    if out.first_error.is_none() {
                        out.first_error = Some(e);
                    }
                }
                // Do not spin on a refused connection.
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    }
    out
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

/// Sends one chat request and reads the whole body; returns when the first body bytes arrived.
async fn one_request(
    sender: &mut Option<Sender>,
    addr: SocketAddr,
    stream: bool,
    body: Bytes,
) -> Result<Instant, String> {
    let s = match sender {
        Some(s) if !s.is_closed() => s,
        _ => sender.insert(connect(addr).await?),
    };
    s.ready().await.map_err(|e| format!("connection: {e}"))?;
    let req = http::Request::post("/v1/chat/completions")
        .header(http::header::HOST, addr.to_string())
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(http::header::AUTHORIZATION, "Bearer bench-key")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let resp = s
        .send_request(req)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = resp.status();
    let mut body = resp.into_body();
    let mut first = None;
    let mut ok_marker = false;
    // A complete answer: the `[DONE]` sentinel for a stream, the choices array for JSON.
    let marker: &[u8] = if stream { b"[DONE]" } else { b"\"choices\"" };
    let mut tail: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("body: {e}"))?;
        if let Some(data) = frame.data_ref() {
            first.get_or_insert_with(Instant::now);
            // Keep a short tail so a marker split across frames is still found.
            tail.extend_from_slice(data);
            if !ok_marker && tail.windows(marker.len()).any(|w| w == marker) {
                ok_marker = true;
            }
            let keep = tail.len().saturating_sub(marker.len());
            tail.drain(..keep);
        }
    }
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    if !ok_marker {
        return Err("incomplete body (no completion marker)".into());
    }
    Ok(first.unwrap_or_else(Instant::now))
}
