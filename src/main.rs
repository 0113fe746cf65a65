//! `switchyard`: the command line. Each subcommand is a thin shell over a library call.

mod demo;
mod wiring;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "switchyard",
    version,
    about = "One OpenAI-compatible endpoint in front of every model provider"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        #[arg(long, default_value = "switchyard.toml")]
        config: PathBuf,
        /// Overrides [server] listen.
        #[arg(long)]
        listen: Option<String>,
    },
    /// Start the gateway with simulated providers, push a short workload, and keep serving.
    Demo {
        #[arg(long, default_value = "127.0.0.1:4000")]
        listen: String,
        #[arg(long, default_value = "127.0.0.1:4001")]
        sim_listen: String,
        /// Do not run the sample workload; just serve.
        #[arg(long)]
        no_workload: bool,
        /// Exit after the workload instead of serving until Ctrl-C.
        #[arg(long, hide = true)]
        exit_after_workload: bool,
    },
    /// Validate a config; print every error with its path; exit 1 on any.
    Check {
        #[arg(long, default_value = "switchyard.toml")]
        config: PathBuf,
    },
    /// Dry run: print the routing decision for a request body without calling a provider.
    Route {
        #[arg(long, default_value = "switchyard.toml")]
        config: PathBuf,
        request: PathBuf,
    },
    /// Run a labelled suite through models via Switchyard; write the quality table, model
    /// figures, the per-prompt index and calibrated cascade thresholds.
    Eval {
        #[arg(long)]
        suite: PathBuf,
        /// Comma-separated models (for cascade thresholds: cheap first, strongest last).
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// A running gateway, e.g. http://127.0.0.1:4000.
        #[arg(long)]
        gateway: Option<String>,
        /// Without --gateway: start one in process from this config.
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, env = "SWITCHYARD_API_KEY")]
        api_key: Option<String>,
        #[arg(long, default_value = "eval-out")]
        out: PathBuf,
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Cascade thresholds aim at this share of the strongest model's quality.
        #[arg(long, default_value_t = 0.95)]
        target: f64,
        /// Model for the `judge` scorer.
        #[arg(long)]
        judge: Option<String>,
        /// Re-run on this interval (e.g. 24h); a gateway picks up the new index, and the
        /// quality table and thresholds when its config `include`s them, by itself.
        #[arg(long)]
        every: Option<humantime::Duration>,
    },
    /// Price catalog tools.
    Prices {
        #[command(subcommand)]
        command: PricesCommand,
    },
    /// Spend, tokens, latency percentiles, cache hits and savings from the request log.
    Report {
        #[arg(long, default_value = "switchyard.toml")]
        config: PathBuf,
        #[arg(long, default_value = "24h")]
        since: String,
        #[arg(long, default_value = "model")]
        by: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PricesCommand {
    /// Convert a public pricing file into the catalog format (printed to stdout or --out).
    Import {
        #[arg(long = "from", value_parser = ["litellm", "openrouter"])]
        from: String,
        file: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Serve { config, listen } => wiring::serve(&config, listen).await,
            Command::Demo {
                listen,
                sim_listen,
                no_workload,
                exit_after_workload,
            } => demo::run(&listen, &sim_listen, no_workload, exit_after_workload).await,
            Command::Check { config } => wiring::check(&config),
            Command::Eval {
                suite,
                models,
                gateway,
                config,
                api_key,
                out,
                concurrency,
                target,
                judge,
                every,
            } => switchyard_eval::run_eval(&switchyard_eval::EvalArgs {
                suite,
                models,
                gateway,
                config,
                api_key,
                out,
                concurrency,
                target,
                judge,
                every: every.map(Into::into),
                progress: true,
            })
            .await
            .map_err(|e| e.to_string()),
            Command::Route { config, request } => wiring::route(&config, &request),
            Command::Prices {
                command: PricesCommand::Import { from, file, out },
            } => wiring::prices_import(&from, &file, out.as_deref()),
            Command::Report {
                config,
                since,
                by,
                json,
            } => wiring::report(&config, &since, &by, json).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
