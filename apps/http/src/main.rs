//! `roster`: parses the command line and runs it.

use clap::Parser as _;
use roster_http::cli::{Cli, run};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    roster_http::telemetry::init(cli.settings.log_format);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "roster failed");
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
