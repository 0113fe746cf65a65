//! `switchyard eval`: run a labelled prompt suite through candidate models via a running
//! Switchyard (or one started in process from a config), score the answers, and write what
//! routing reads:
//!
//! - `quality.toml`: the task-to-model table as `[models."X".quality]`;
//! - `models.json`: per model and task: mean score, n, mean latency, mean cost;
//! - `index.bin`: the per-prompt index read by `[routes.X.router]` (hot-swapped on change);
//! - `gates.toml`: cascade thresholds (`min_confidence_by_tier`) calibrated to a target quality.
//!
//! `--every 24h` re-runs the suite and rewrites the files atomically. A running gateway takes
//! every new result without a restart: a route whose `router.index` points at `index.bin`
//! swaps the index in (it watches the file), and a config that includes the two TOML files
//!
//! ```toml
//! include = ["eval-out/quality.toml", { file = "eval-out/gates.toml", at = "routes.smart" }]
//! ```
//!
//! reloads itself when either changes (checked every `[server] watch_includes`, default 10 s;
//! a file that fails to load keeps the running config and the error is logged).
//!
//! [`bench`] is the routing benchmark on recorded outcomes (see `examples/routing_bench.rs`).

pub mod bench;
pub mod calibrate;
pub mod client;
pub mod plot;
pub mod run;
pub mod score;

pub use run::{EvalArgs, run_eval};
pub use score::{Scorer, SuiteItem};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("suite line {line}: {msg}")]
    Suite { line: usize, msg: String },
    #[error("gateway: {0}")]
    Gateway(String),
    #[error("{0}")]
    Other(String),
}
