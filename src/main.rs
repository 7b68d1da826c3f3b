//! `trizone`: the command-line interface to the platform.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod client;
mod console;
#[cfg(feature = "local")]
mod demo;
mod keys;
mod session;
#[cfg(feature = "local")]
mod up;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    trizone_http::telemetry::init(args.log_format);
    match cli::run(args).await {
        Ok(code) => code,
        Err(error) => {
            // `{:#}` prints the whole cause chain on one line.
            eprintln!("trizone: {error:#}");
            ExitCode::from(2)
        }
    }
}
