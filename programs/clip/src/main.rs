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
    /// Secure Boot keys (PK, KEK, db) and the update-signing key: generate, show.
    #[command(subcommand)]
    Keys(commands::keys::KeysCommand),
    /// Unified kernel images: build, inspect.
    #[command(subcommand)]
    Uki(commands::uki::UkiCommand),
    /// LUKS2 headers: format, dump, add-key, remove-key, test-key.
    #[command(subcommand)]
    Luks(commands::luks::LuksCommand),
    /// Sign a PE/EFI image (Authenticode, for UEFI Secure Boot).
    Sign(commands::sign::SignArgs),
    /// Check a PE/EFI image's Authenticode signature against a certificate.
    VerifySignature(commands::sign::VerifyArgs),
    /// Boot a disk image under QEMU + OVMF (Secure Boot, TPM) and watch its console.
    Boot(commands::boot::BootArgs),
    /// Build a product's signed, verified disk image (GPT: ESP, A/B root + verity, state).
    Build(commands::build::BuildArgs),
    /// Build (or take from the cache) a product's kernel from Debian's source and check it against the product's policy.
    Kernel(commands::build::KernelArgs),
    /// Build the default product, boot it with Secure Boot, print its verified-boot report.
    Demo(commands::demo::DemoArgs),
    /// Update repositories of static files: serve.
    #[command(subcommand)]
    Repo(commands::repo::RepoCommand),
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLIP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only for a person at a terminal: logs and pipes get plain text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Verity(cmd) => commands::verity::run(cmd),
        Command::Keys(cmd) => commands::keys::run(cmd),
        Command::Uki(cmd) => commands::uki::run(cmd),
        Command::Luks(cmd) => commands::luks::run(cmd),
        Command::Sign(args) => commands::sign::sign(args),
        Command::VerifySignature(args) => commands::sign::verify(args),
        Command::Boot(args) => commands::boot::run(args),
        Command::Build(args) => commands::build::run(args),
        Command::Kernel(args) => commands::build::kernel_only(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Repo(cmd) => commands::repo::run(cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`clip ... | head`): no message, but not
        // success either, since not everything was delivered.
        Err(err) if is_broken_pipe(&err) => ExitCode::FAILURE,
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
