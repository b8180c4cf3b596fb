//! `clip`: build, sign and test CLIP OS images.
//!
//! Exit codes (docs/conventions.md): 0 success, 1 failure, 2 bad command line,
//! 3 integrity check failed.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod blockio;
mod commands;
mod output;

/// An integrity check failed: the checked object is not what it should be.
///
/// Returned (inside `anyhow::Error`) by commands that verify; `main` turns it
/// into exit code 3 so scripts can tell "corrupted" from "could not check".
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct IntegrityFailure(pub String);

#[derive(Debug, Parser)]
#[command(name = "clip", version, about = "Build, sign and test CLIP OS images")]
struct Cli {
    /// More log output on stderr (-v info, -vv debug); CLIP_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// dm-verity hash trees: format, verify, dump.
    #[command(subcommand)]
    Verity(commands::verity::VerityCommand),
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLIP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Verity(cmd) => commands::verity::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.downcast_ref::<IntegrityFailure>().is_some() {
                ExitCode::from(3)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
