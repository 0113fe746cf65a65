//! `switchyard-sim [--config FILE] [--listen ADDR] [--replay DIR]`

use std::io::Write;
use std::path::PathBuf;

use clap::Parser;
use switchyard_sim::{ReplayConfig, SimConfig};

#[derive(Parser)]
#[command(
    name = "switchyard-sim",
    about = "Simulated LLM providers for Switchyard tests, benchmarks and the demo"
)]
struct Args {
    /// Sim config (TOML). Without it the built-in model set is served.
    #[arg(long)]
    config: Option<PathBuf>,
    #[arg(long, default_value = "127.0.0.1:4001")]
    listen: String,
    /// Replay recorded outcomes from this folder (prompts.jsonl + outcomes.jsonl).
    #[arg(long)]
    replay: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard-sim: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = match &args.config {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            SimConfig::from_toml_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => SimConfig::default_models(),
    };
    if let Some(dir) = args.replay {
        match &mut config.replay {
            Some(r) => r.dir = dir,
            None => {
                config.replay = Some(ReplayConfig {
                    dir,
                    ttft_ms: 0,
                    tokens_per_s: 0.0,
                    confidence: Default::default(),
                })
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let addr = listener.local_addr()?;
    let app = switchyard_sim::spawn_on(config, listener).await?;
    {
        // The one stdout line tests wait for; everything else goes to stderr.
        let mut out = std::io::stdout().lock();
        #[expect(
            clippy::print_stdout,
            reason = "the address line is the binary's contract"
        )]
        {
            println!("switchyard-sim listening on http://{addr}");
        }
        out.flush()?;
    }
    tokio::signal::ctrl_c().await?;
    drop(app);
    Ok(())
}
