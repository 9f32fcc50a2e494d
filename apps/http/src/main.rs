//! `roster`: parses the command line and runs it.

use clap::Parser as _;
use roster_http::cli::{Cli, run};
use roster_http::settings::LogFormat;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let format = cli.settings.log_format;
    roster_http::telemetry::init(format);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // Said once: as a log record where logs are JSON (read by machines), else as a line.
            match format {
                LogFormat::Json => tracing::error!(%error, "roster failed"),
                LogFormat::Text => eprintln!("error: {error}"),
            }
            std::process::ExitCode::FAILURE
        }
    }
}
