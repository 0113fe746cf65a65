//! The `switchyard eval` command: suite -> gateway -> scores -> files routing reads.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use switchyard_embed::Embedder;

use crate::EvalError;
use crate::calibrate::{Outcome, build_index, cascade_threshold, figures, quality_toml};
use crate::client::Client;
use crate::score::{Scorer, SuiteItem, score_local};

#[derive(Debug, Clone)]
pub struct EvalArgs {
    pub suite: PathBuf,
    pub models: Vec<String>,
    /// A running gateway (`http://127.0.0.1:4000`); else `config` starts one in process.
    pub gateway: Option<String>,
    pub config: Option<PathBuf>,
    pub api_key: Option<String>,
    pub out: PathBuf,
    pub concurrency: usize,
    /// Cascade thresholds aim at this share of the strongest model's quality.
    pub target: f64,
    /// Model asked by the `judge` scorer.
    pub judge: Option<String>,
    pub every: Option<Duration>,
    pub progress: bool,
}

pub fn load_suite(path: &Path) -> Result<Vec<SuiteItem>, EvalError> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| EvalError::Suite {
                line: i + 1,
                msg: e.to_string(),
            })
        })
        .collect()
}

/// Run once, or forever every `args.every`, rewriting the outputs atomically each time.
pub async fn run_eval(args: &EvalArgs) -> Result<(), EvalError> {
    // Keep an in-process gateway alive for all runs.
    let (base, _guard) = match (&args.gateway, &args.config) {
        (Some(g), _) => (g.clone(), None),
        (None, Some(c)) => {
            let (base, stop) = in_process_gateway(c).await?;
            (base, Some(stop))
        }
        (None, None) => {
            return Err(EvalError::Other(
                "give --gateway URL or --config FILE".into(),
            ));
        }
    };
    loop {
        let report = run_once(args, &base).await?;
        eprintln!("{report}");
        let Some(every) = args.every else {
            return Ok(());
        };
        tokio::time::sleep(every).await;
    }
}

async fn in_process_gateway(
    config: &Path,
) -> Result<(String, tokio::sync::oneshot::Sender<()>), EvalError> {
    let cfg = switchyard_engine::config::load_file(config).map_err(|es| {
        EvalError::Other(
            es.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    })?;
    serve_in_process(cfg, Some(config.to_path_buf())).await
}

/// A gateway on an ephemeral loopback port, in this process, with no request log; runs until
/// the returned sender is dropped or fired. Returns its base URL.
pub(crate) async fn serve_in_process(
    cfg: switchyard_engine::config::Config,
    path: Option<std::path::PathBuf>,
) -> Result<(String, tokio::sync::oneshot::Sender<()>), EvalError> {
    let gw = switchyard_server::Gateway::new(
        cfg,
        path,
        switchyard_server::GatewayOptions {
            sink: Arc::new(switchyard_engine::runtime::NullSink),
            metrics: None,
            extra: None,
            prepare: None,
        },
    )
    .map_err(|es| EvalError::Other(format!("{es:?}")))?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(gw.serve(listener, async move {
        let _ = rx.await;
    }));
    Ok((format!("http://{addr}"), tx))
}

async fn run_once(args: &EvalArgs, base: &str) -> Result<String, EvalError> {
    let items = load_suite(&args.suite)?;
    let client = Arc::new(Client::new(base, args.api_key.clone()));
    let jobs: Vec<(usize, String)> = (0..items.len())
        .flat_map(|i| args.models.iter().map(move |m| (i, m.clone())))
        .collect();
    let bar = if args.progress {
        indicatif::ProgressBar::new(jobs.len() as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let items = Arc::new(items);
    let outs: Vec<Result<Outcome, EvalError>> = futures::stream::iter(jobs)
        .map(|(i, m)| {
            let (client, items, judge, bar) = (
                client.clone(),
                items.clone(),
                args.judge.clone(),
                bar.clone(),
            );
            async move {
                let it = &items[i];
                let headers = [("x-switchyard-task", it.task.as_str())];
                // Ask for logprobs (the cascade calibration needs them); a model without
                // them is rejected by routing with a 400, so ask again without.
                let a = match client.ask(&m, &it.prompt, true, &headers).await {
                    Ok(a) => a,
                    Err(_) => client.ask(&m, &it.prompt, false, &headers).await?,
                };
                let score = match it.scorer {
                    Scorer::Judge => judge_score(&client, judge.as_deref(), it, &a.text).await?,
                    _ => score_local(it, &a.text).unwrap_or(0.0),
                };
                bar.inc(1);
                Ok(Outcome {
                    prompt: i,
                    model: m,
                    score,
                    cost: a.cost,
                    latency_ms: a.latency_ms,
                    confidence: a.confidence,
                })
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    bar.finish_and_clear();
    let mut ok = Vec::new();
    let mut failed = 0usize;
    for o in outs {
        match o {
            Ok(o) => ok.push(o),
            Err(e) => {
                failed += 1;
                tracing::warn!(error = %e, "eval request failed");
            }
        }
    }
    write_outputs(args, &items, &ok)?;
    Ok(format!(
        "eval: {} results ({failed} failed) written to {}",
        ok.len(),
        args.out.display()
    ))
}

async fn judge_score(
    client: &Client,
    judge: Option<&str>,
    it: &SuiteItem,
    answer: &str,
) -> Result<f64, EvalError> {
    let judge =
        judge.ok_or_else(|| EvalError::Other("a judge scorer needs --judge MODEL".into()))?;
    let rubric = it.reference.as_str().unwrap_or("Is the answer correct?");
    let prompt = format!(
        "Grade the answer. {rubric}\nReply with one integer from 1 to 10.\n\nQuestion:\n{}\n\nAnswer:\n{answer}",
        it.prompt
    );
    let a = client.ask(judge, &prompt, false, &[]).await?;
    Ok(crate::score::last_number(&a.text).map_or(0.0, |s| ((s - 1.0) / 9.0).clamp(0.0, 1.0)))
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<(), EvalError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn write_outputs(args: &EvalArgs, items: &[SuiteItem], outs: &[Outcome]) -> Result<(), EvalError> {
    std::fs::create_dir_all(&args.out)?;
    let tasks: Vec<String> = items.iter().map(|i| i.task.clone()).collect();
    let figs = figures(&tasks, outs);
    write_atomic(
        &args.out.join("quality.toml"),
        quality_toml(&figs).as_bytes(),
    )?;
    let json = serde_json::to_vec_pretty(&figs).map_err(|e| EvalError::Other(e.to_string()))?;
    write_atomic(&args.out.join("models.json"), &json)?;
    let emb = switchyard_embed::static_embedder();
    let embeddings = items.iter().map(|i| emb.embed(&i.prompt)).collect();
    let idx = build_index(embeddings, &args.models, &tasks, outs);
    idx.write(&args.out.join("index.bin"))
        .map_err(|e| EvalError::Other(e.to_string()))?;
    write_atomic(
        &args.out.join("gates.toml"),
        gates_toml(args, &figs, outs).as_bytes(),
    )?;
    Ok(())
}

/// For a cascade over `--models` in order (cheap first, strongest last): per non-last tier,
/// the lowest confidence threshold that keeps the cascade at `target` x the strongest
/// model's quality on this suite.
fn gates_toml(
    args: &EvalArgs,
    figs: &std::collections::BTreeMap<String, crate::calibrate::ModelFigures>,
    outs: &[Outcome],
) -> String {
    let mut s = String::from(
        "# Written by `switchyard eval`: cascade thresholds for the tiers in --models order.\n[gates.min_confidence_by_tier]\n",
    );
    let Some(strong) = args.models.last() else {
        return s;
    };
    let target = args.target * figs.get(strong).map_or(0.0, |f| f.quality);
    let score_of = |p: usize, m: &str| outs.iter().find(|o| o.prompt == p && o.model == m);
    for m in &args.models[..args.models.len() - 1] {
        let rows: Vec<(Option<f64>, f64, f64)> = outs
            .iter()
            .filter(|o| o.model == *m)
            .filter_map(|o| score_of(o.prompt, strong).map(|st| (o.confidence, o.score, st.score)))
            .collect();
        match cascade_threshold(&rows, target) {
            Some(t) => s.push_str(&format!("\"{m}\" = {:.4}\n", t.min(1.0))),
            None => s.push_str(&format!("# \"{m}\": no threshold reaches {target:.3}\n")),
        }
    }
    s
}
