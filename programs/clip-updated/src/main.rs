//! clip-updated: see the library's documentation. Exit codes: 0 success,
//! 1 failure (a refused update, a failed health check), 2 bad command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use clip_updated::config::Paths;

#[derive(Debug, Parser)]
#[command(name = "clip-updated", about = "CLIP OS A/B update daemon")]
struct Cli {
    /// The running system's root (os-release, trust root, update.json).
    #[arg(
        long,
        global = true,
        env = "CLIP_UPDATED_ROOT_DIR",
        default_value = "/"
    )]
    root_dir: PathBuf,
    /// update.json (default: ROOT/usr/lib/clip/update.json).
    #[arg(long, global = true, env = "CLIP_UPDATED_CONFIG")]
    config: Option<PathBuf>,
    /// The TUF trust root (default: ROOT/usr/lib/clip/update/root.json).
    #[arg(long, global = true, env = "CLIP_UPDATED_TRUST_ROOT")]
    trust_root: Option<PathBuf>,
    /// Trusted metadata, cache and status.json.
    #[arg(
        long,
        global = true,
        env = "CLIP_UPDATED_STATE_DIR",
        default_value = "/var/lib/clip-updated"
    )]
    state_dir: PathBuf,
    /// The kernel command line (the running slot and root hash).
    #[arg(
        long,
        global = true,
        env = "CLIP_UPDATED_CMDLINE",
        default_value = "/proc/cmdline"
    )]
    cmdline_file: PathBuf,
    /// The disk with the ESP and both slots (default: the disk under /).
    #[arg(long, global = true, env = "CLIP_UPDATED_DISK")]
    disk: Option<PathBuf>,
    /// Never reboot after apply, whatever update.json says.
    #[arg(long, global = true)]
    no_reboot: bool,
    /// More logging (-v info, -vv debug); CLIP_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Running version and slot, the other slot, pending update, last check and error.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Refreshes the signed metadata; says whether a newer version exists.
    Check {
        #[arg(long)]
        json: bool,
    },
    /// Check, download, verify, install into the inactive slot, reboot per policy.
    Apply {
        #[arg(long)]
        json: bool,
    },
    /// Runs update.json's health checks; exits 1 on the first failure.
    Health,
    /// Marks the running slot good (its entry loses its boot counter).
    MarkGood,
}

fn out(text: &str) -> Result<()> {
    let mut o = std::io::stdout().lock();
    writeln!(o, "{text}")
        .and_then(|()| o.flush())
        .context("cannot write to stdout")
}

/// VmHWM of /proc/self/status ("12345 kB"), or why it is unknown.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .map(|v| format!("{} (VmHWM)", v.trim()))
        })
        .unwrap_or_else(|| "unknown (no VmHWM in /proc/self/status)".into())
}

fn run(cli: Cli) -> Result<()> {
    let mut paths = Paths::new(cli.root_dir.clone());
    if let Some(c) = cli.config {
        paths.config = c;
    }
    if let Some(t) = cli.trust_root {
        paths.trust_root = t;
    }
    paths.state_dir = cli.state_dir;
    paths.cmdline = cli.cmdline_file;
    paths.disk = cli.disk;
    paths.no_reboot = cli.no_reboot;
    match cli.command {
        Command::Status { json } => {
            let s = clip_updated::status(&paths)?;
            if json {
                out(&serde_json::to_string(&s)?)?;
            } else {
                out(&format!(
                    "Running: {} (slot {})",
                    s.running_version, s.running_slot
                ))?;
                out(&format!(
                    "Slot {}: {}{}",
                    s.other_slot,
                    s.other_state,
                    s.other_version
                        .as_deref()
                        .map(|v| format!(" ({v})"))
                        .unwrap_or_default()
                ))?;
                if let Some(p) = &s.pending {
                    out(&format!("Pending: {} in slot {}", p.version, p.slot))?;
                }
                out(&format!(
                    "Last check: {}",
                    s.last_check
                        .map_or("never".into(), |t| format!("{t} (unix time)"))
                ))?;
                out(&format!(
                    "Last error: {}",
                    s.last_error.as_deref().unwrap_or("none")
                ))?;
                out(&format!(
                    "Minimum version: {}",
                    s.min_version.as_deref().unwrap_or("none")
                ))?;
                if let Some(n) = &s.note {
                    out(n)?;
                }
            }
        }
        Command::Check { json } => {
            let (r, _) = clip_updated::check(&paths)?;
            if json {
                out(&serde_json::to_string(&r)?)?;
            } else {
                out(&format!("Running: {}", r.running))?;
                out(&format!(
                    "Newest: {}",
                    r.newest.as_deref().unwrap_or("none")
                ))?;
                match &r.update {
                    Some(v) => out(&format!("Update: {v}"))?,
                    None => out("Update: none (no version newer than the running one)")?,
                }
            }
        }
        Command::Apply { json } => {
            let started = std::time::Instant::now();
            let report = clip_updated::apply(&paths)?;
            let took = started.elapsed();
            match report {
                Some(r) => {
                    if json {
                        out(&serde_json::to_string(&r)?)?;
                    } else {
                        out(&format!("Installed: {} in slot {}", r.installed, r.slot))?;
                        out(&format!("Entry: {}", r.entry))?;
                        out(&format!("Downloaded: {} bytes", r.downloaded_bytes))?;
                        out(&format!("Written: {} bytes", r.written_bytes))?;
                        // The figures of docs/update.md ("Figures"): the
                        // whole apply (download, checks, write, read-back,
                        // GPT, ESP) against the bytes written, and this
                        // process's peak RSS.
                        let ms = took.as_millis().max(1);
                        let tenths = u128::from(r.written_bytes) * 10_000 / ms / (1 << 20);
                        out(&format!(
                            "Apply time: {ms} ms for {} bytes written ({}.{} MiB/s)",
                            r.written_bytes,
                            tenths / 10,
                            tenths % 10
                        ))?;
                        out(&format!("Peak RSS: {}", peak_rss()))?;
                    }
                    if r.reboot {
                        let status = std::process::Command::new("systemctl")
                            .arg("reboot")
                            .status()
                            .context("cannot run systemctl reboot")?;
                        anyhow::ensure!(status.success(), "systemctl reboot exited with {status}");
                    }
                }
                None => out("Installed: nothing (the newest version is installed already)")?,
            }
        }
        Command::Health => {
            let n = clip_updated::health(&paths)?;
            out(&format!("Health: {n} checks passed"))?;
        }
        Command::MarkGood => {
            let m = clip_updated::mark_good(&paths)?;
            out(&format!("Marked good: {m}"))?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CLIP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // The journal and the console take plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(1)
        }
    }
}
