//! Runs one batch: validate its input file, send every line not yet answered through the
//! engine (a few at a time, inside the configured window), append each answer to the output
//! file (2xx) or the error file as soon as it arrives, then finalize. Because answers are
//! appended as they come, a gateway restarted mid-batch skips the lines already answered.
//! When shutdown begins (`BatchService::drain`), the runner takes no further line, lets the
//! lines already sent upstream finish and writes them (they are billed), and ends without
//! finalizing: the batch stays `in_progress` and the next process runs the rest.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use http::HeaderMap;
use serde_json::Value;
use switchyard_core::{ChatRequest, EmbedRequest, Usd};
use switchyard_engine::{ChatServed, Controls, GatewayError};
use tokio::io::AsyncWriteExt;

use super::config::Window;
use super::input::{line_error, parse_input};
use super::types::{Counts, InputLine, LineError, LineFailure, LineResponse, OutputLine, Status};
use super::{BatchService, new_id, now_s};
use crate::envelope::error_body;
use crate::handlers::{ctx, record_rejected};
use crate::state::AppState;

/// Starts the batch's runner unless one is already running in this process or shutdown has
/// begun (then the next process runs the batch).
pub fn spawn(state: Arc<AppState>, id: String) {
    tokio::spawn(async move {
        let svc = state.batches.clone();
        // Held until the runner ends, so that the shutdown drain waits for it.
        let Some(_claim) = svc.runners.claim(&id) else {
            return;
        };
        run(&state, &svc, &id).await;
    });
}

async fn run(state: &AppState, svc: &BatchService, id: &str) {
    let Some(stored) = svc.stored(id) else {
        return;
    };
    if stored.batch.status.is_terminal() {
        return;
    }
    let input = match tokio::fs::read(svc.content_path(&stored.batch.input_file_id)).await {
        Ok(b) => b,
        Err(e) => {
            let msg = format!("The input file could not be read: {e}");
            return fail(svc, id, vec![line_error("file_unreadable", msg, None)]).await;
        }
    };
    let lines = match parse_input(&input, &stored.batch.endpoint, svc.cfg.max_lines) {
        Ok(l) => l,
        Err(errors) => return fail(svc, id, errors).await,
    };
    let out_path = svc.content_path(&stored.output_id);
    let err_path = svc.content_path(&stored.error_id);
    let (done_ok, done_err) = (answered(&out_path).await, answered(&err_path).await);
    let counts = Counts {
        total: lines.len() as u64,
        completed: done_ok.len() as u64,
        failed: done_err.len() as u64,
    };
    svc.update(id, |b| {
        b.batch.request_counts = counts;
        if b.batch.status == Status::Validating {
            b.batch.status = Status::InProgress;
            b.batch.in_progress_at = Some(now_s());
        }
    })
    .await;
    let (mut out, mut err) = match (append(&out_path).await, append(&err_path).await) {
        (Ok(o), Ok(e)) => (o, e),
        (Err(e), _) | (_, Err(e)) => {
            let msg = format!("The gateway could not write the batch's output: {e}");
            return fail(svc, id, vec![line_error("storage_error", msg, None)]).await;
        }
    };
    let job = Job {
        state,
        svc,
        id,
        tenant: &stored.tenant,
        endpoint: &stored.batch.endpoint,
        window: svc.cfg.window(),
        expires_at: stored.batch.expires_at,
    };
    let pending: Vec<InputLine> = lines
        .into_iter()
        .filter(|l| !done_ok.contains(&l.custom_id) && !done_err.contains(&l.custom_id))
        .collect();
    let left = pending.len();
    let runners = &svc.runners;
    let mut answers = futures::stream::iter(pending)
        // Checked as each line is taken: once shutdown begins no further line starts, and
        // `buffer_unordered` ends after the lines already in flight.
        .take_while(|_| std::future::ready(!runners.stopping()))
        .map(|line| job.exec(line))
        .buffer_unordered(svc.cfg.concurrency.max(1));
    let mut written = 0;
    while let Some(answer) = answers.next().await {
        // `None`: the line had not started when shutdown began; the next process runs it.
        let Some((line, cost)) = answer else {
            continue;
        };
        let ok = line
            .response
            .as_ref()
            .is_some_and(|r| (200..300).contains(&r.status_code));
        let file = if ok { &mut out } else { &mut err };
        if let Err(e) = write_line(file, &line).await {
            tracing::error!(batch = id, custom_id = %line.custom_id, error = %e, "batch answer not written");
        }
        svc.update(id, |b| {
            let c = &mut b.batch.request_counts;
            if ok {
                c.completed += 1
            } else {
                c.failed += 1
            }
            b.batch.switchyard.cost += cost;
            if let (true, Some(r)) = (ok, &line.response) {
                b.batch.usage.add_answer(&r.body);
            }
        })
        .await;
        written += 1;
        if runners.stopping() {
            runners.drained_one();
        }
    }
    drop(answers);
    // Every line gets an answer unless shutdown stopped the runner: then the batch is not
    // finished, and stays in progress for the next process.
    if written < left {
        tracing::info!(
            batch = id,
            unstarted = left - written,
            "batch runner stopped for shutdown; the next start runs the remaining lines"
        );
        return;
    }
    finalize(svc, id).await;
}

/// What every line of one batch shares.
struct Job<'a> {
    state: &'a AppState,
    svc: &'a BatchService,
    id: &'a str,
    tenant: &'a str,
    endpoint: &'a str,
    window: Option<Window>,
    expires_at: Option<i64>,
}

impl Job<'_> {
    /// One line's answer and what it cost upstream. Waits for the window first; a line that
    /// cannot start (batch cancelled, window closed past the deadline) is answered with why.
    /// `None` when shutdown began before the line was sent upstream: it is left unanswered,
    /// not an error, so that the next process runs it.
    async fn exec(&self, line: InputLine) -> Option<(OutputLine, Usd)> {
        let skipped = |code: &str, message: &str| OutputLine {
            id: new_id("batch_req_"),
            custom_id: line.custom_id.clone(),
            response: None,
            error: Some(LineFailure {
                code: code.into(),
                message: message.into(),
            }),
        };
        let runners = &self.svc.runners;
        loop {
            // Checked last before the upstream call (no await in between): a line that passed
            // it is in flight, and the shutdown drain waits for it.
            if runners.stopping() {
                return None;
            }
            if self.svc.status(self.id) == Some(Status::Cancelling) {
                let msg = "The batch was cancelled before this request ran.";
                return Some((skipped("batch_cancelled", msg), Usd::ZERO));
            }
            if self.expires_at.is_some_and(|e| now_s() >= e) {
                let msg =
                    "This request could not be executed before the completion window expired.";
                return Some((skipped("batch_expired", msg), Usd::ZERO));
            }
            let wait = self
                .window
                .map_or(Duration::ZERO, |w| w.wait_from(chrono::Utc::now()));
            if wait.is_zero() {
                break;
            }
            // Short naps, so that a cancel or the deadline is noticed while waiting; a line
            // waiting for the window has not started, so shutdown stops it at once.
            tokio::select! {
                () = tokio::time::sleep(wait.min(Duration::from_secs(1))) => {}
                () = runners.stopped() => return None,
            }
        }
        let request_id = self.state.request_id();
        let result = if self.endpoint == "/v1/embeddings" {
            self.embed(&request_id, line.body).await
        } else {
            self.chat(&request_id, line.body).await
        };
        let (status_code, body, cost) = match result {
            Ok((body, cost)) => (200, body, cost),
            Err(e) => (e.status, error_body(&e), Usd::ZERO),
        };
        let answer = OutputLine {
            id: new_id("batch_req_"),
            custom_id: line.custom_id,
            response: Some(LineResponse {
                status_code,
                request_id,
                body,
            }),
            error: None,
        };
        Some((answer, cost))
    }

    async fn chat(&self, request_id: &str, body: Value) -> Result<(Value, Usd), GatewayError> {
        let engine = self.state.engine.load_full();
        let started = Instant::now();
        let prepared = (|| {
            let req: ChatRequest = from_body(body)?;
            if req.stream {
                return Err(GatewayError::bad_request(
                    "`stream` cannot be true in a batch: every line gets one JSON answer.",
                )
                .with_param("stream"));
            }
            crate::handlers::validate::validate(&req)?;
            let controls = Controls::parse(
                &HeaderMap::new(),
                req.switchyard.as_ref(),
                req.provider.as_ref(),
            )?;
            Ok((req, controls))
        })();
        let (req, controls) = prepared.inspect_err(|e| {
            record_rejected(&engine, request_id, started, "chat", e);
        })?;
        let rctx = ctx(
            request_id.to_owned(),
            self.tenant.to_owned(),
            started,
            controls,
        );
        match Box::pin(engine.chat(req, rctx)).await? {
            ChatServed::Json(resp, meta) => Ok((to_value(&*resp)?, meta.cost.unwrap_or_default())),
            ChatServed::Stream(..) => Err(GatewayError::new(
                500,
                "server_error",
                "internal",
                "The engine streamed an answer that was asked for as JSON.",
            )),
        }
    }

    async fn embed(&self, request_id: &str, body: Value) -> Result<(Value, Usd), GatewayError> {
        let engine = self.state.engine.load_full();
        let started = Instant::now();
        let req: EmbedRequest = from_body(body).inspect_err(|e| {
            record_rejected(&engine, request_id, started, "embeddings", e);
        })?;
        let controls = Controls::parse(&HeaderMap::new(), None, None)?;
        let rctx = ctx(
            request_id.to_owned(),
            self.tenant.to_owned(),
            started,
            controls,
        );
        let served = engine.embed(req, rctx).await?;
        Ok((
            to_value(&served.body)?,
            served.meta.cost.unwrap_or_default(),
        ))
    }
}

fn from_body<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, GatewayError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let path = e.path().to_string();
        GatewayError::bad_request(format!(
            "Invalid value for `body.{path}`: {}",
            e.into_inner()
        ))
        .with_param(format!("body.{path}"))
    })
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, GatewayError> {
    serde_json::to_value(v).map_err(|e| {
        GatewayError::new(
            500,
            "server_error",
            "internal",
            format!("answer not serializable: {e}"),
        )
    })
}

/// `custom_id`s already answered in this file (by an earlier run of the same batch).
async fn answered(path: &Path) -> HashSet<String> {
    let Ok(bytes) = tokio::fs::read(path).await else {
        return HashSet::new();
    };
    bytes
        .split(|&b| b == b'\n')
        .filter_map(|l| serde_json::from_slice::<OutputLine>(l).ok())
        .map(|l| l.custom_id)
        .collect()
}

async fn append(path: &Path) -> std::io::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await
}

async fn write_line(file: &mut tokio::fs::File, line: &OutputLine) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(line).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    file.write_all(&bytes).await?;
    file.flush().await
}

async fn fail(svc: &BatchService, id: &str, errors: Vec<LineError>) {
    svc.update(id, |b| {
        b.batch.status = Status::Failed;
        b.batch.failed_at = Some(now_s());
        b.batch.errors = Some(super::types::BatchErrors {
            object: "list".into(),
            data: errors,
        });
    })
    .await;
}

/// Publishes the output and error files (each only if it holds a line) and the end state.
async fn finalize(svc: &BatchService, id: &str) {
    let Some(stored) = svc
        .update(id, |b| {
            if b.batch.status != Status::Cancelling {
                b.batch.status = Status::Finalizing;
            }
            b.batch.finalizing_at = Some(now_s());
        })
        .await
    else {
        return;
    };
    let c = stored.batch.request_counts;
    let output = if c.completed > 0 {
        svc.add_output_file(
            &stored.tenant,
            &stored.output_id,
            &format!("{id}_output.jsonl"),
        )
        .await
    } else {
        None
    };
    let errors = if c.failed > 0 {
        svc.add_output_file(
            &stored.tenant,
            &stored.error_id,
            &format!("{id}_error.jsonl"),
        )
        .await
    } else {
        None
    };
    svc.update(id, |b| {
        b.batch.output_file_id = output;
        b.batch.error_file_id = errors;
        let now = Some(now_s());
        // Lines that could not start before the deadline were answered `batch_expired`.
        let expired = b.batch.expires_at.is_some_and(|e| now_s() >= e);
        if b.batch.status == Status::Cancelling {
            b.batch.status = Status::Cancelled;
            b.batch.cancelled_at = now;
        } else if expired {
            b.batch.status = Status::Expired;
            b.batch.expired_at = now;
        } else {
            b.batch.status = Status::Completed;
            b.batch.completed_at = now;
        }
    })
    .await;
}
