//! `clip-status`: the verified-boot report of a running CLIP OS device.
//!
//! Implements the "Device-side report" of the issue 4 contract: Secure Boot
//! state (efivarfs `SecureBoot`/`SetupMode`), the device backing / and its
//! dm-verity status (device-mapper `TABLE_STATUS`), the slot and root hash of
//! the signed kernel command line, whether / is read-only (creating a file
//! must fail with EROFS), the state mounts and their options, and the boot
//! counter.
//!
//! ```text
//! clip-status [--json] [--console] [--count-boot]
//! ```
//!
//! - `--json`: one JSON object on stdout instead of `Label: value` lines;
//! - `--console`: also write `CLIP-STATUS <json>` as one line to
//!   /dev/console (the serial console: tests and `clip demo` read it);
//! - `--count-boot`: add one to /var/lib/clip/boot-count, once per boot
//!   (clip-status.service does this).
//!
//! Exit codes (docs/conventions.md): 0 verified, 3 a verified-boot property
//! does not hold (`problems`), 1 something could not be checked (`errors`)
//! or the output could not be written, 2 bad command line.

mod atomic;
mod hardening;
mod parse;
mod report;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use report::{Paths, Status};

const USAGE: &str = "usage: clip-status [--json] [--console] [--count-boot]

Prints the verified-boot report of this device: Secure Boot, the dm-verity
root and its status, running version (os-release VERSION_ID), slot, read-only root,
state mounts, boot count.
  --json        one JSON object on stdout
  --console     also write 'CLIP-STATUS <json>' to /dev/console
  --count-boot  count this boot in /var/lib/clip/boot-count (once per boot)
Exit: 0 verified, 3 a check failed, 1 something could not be checked.";

#[derive(Debug, Default)]
struct Options {
    json: bool,
    console: bool,
    count_boot: bool,
    /// Read everything below this directory instead of / (tests).
    root: Option<PathBuf>,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> anyhow::Result<Option<Options>> {
    let mut o = Options::default();
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => o.json = true,
            "--console" => o.console = true,
            "--count-boot" => o.count_boot = true,
            "--root" => {
                let dir = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--root needs a directory"))?;
                o.root = Some(dir.into());
            }
            "-h" | "--help" => return Ok(None),
            other => anyhow::bail!("unknown argument {other:?}"),
        }
    }
    Ok(Some(o))
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(o)) => o,
        Ok(None) => {
            let _ = writeln!(std::io::stdout(), "{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("clip-status: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let paths = options
        .root
        .as_deref()
        .map_or_else(Paths::system, Paths::under);
    let status = report::gather(&paths, options.count_boot);
    let json = match serde_json::to_string(&status) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("clip-status: cannot encode the report: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    if options.console {
        let console = paths.at("/dev/console");
        if let Err(e) = write_console(&console, &json) {
            eprintln!("clip-status: cannot write to {}: {e}", console.display());
            failed = true;
        }
    }
    let printed = if options.json {
        writeln!(std::io::stdout().lock(), "{json}")
    } else {
        print_human(&status)
    };
    if printed.is_err() {
        failed = true;
    }
    for e in &status.errors {
        eprintln!("clip-status: {e}");
    }
    if !status.problems.is_empty() {
        ExitCode::from(3)
    } else if failed || !status.errors.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// One write of one line, so that it is not interleaved with other output.
fn write_console(path: &std::path::Path, json: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let noctty = rustix::fs::OFlags::NOCTTY.bits().try_into().unwrap_or(0);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(noctty)
        .open(path)?;
    f.write_all(format!("CLIP-STATUS {json}\n").as_bytes())
}

fn print_human(s: &Status) -> std::io::Result<()> {
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut add = |label: &str, value: String| lines.push((label.to_owned(), value));
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let yes_no = |b: Option<bool>| match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    };
    add(
        "Secure Boot",
        format!(
            "{} (setup mode: {}{})",
            s.secure_boot.state,
            yes_no(s.secure_boot.setup_mode),
            s.secure_boot
                .source
                .map(|src| format!(", from {src}"))
                .unwrap_or_default()
        ),
    );
    add("Version", opt(&s.version));
    add("Slot", opt(&s.slot));
    add("Root hash", opt(&s.root_hash));
    add(
        "Root device",
        format!(
            "{} {} ({}, {})",
            opt(&s.root.device),
            opt(&s.root.source),
            opt(&s.root.fs_type),
            s.root.mount_options.join(",")
        ),
    );
    add(
        "Device-mapper",
        format!("{} (uuid {})", opt(&s.root.dm_name), opt(&s.root.dm_uuid)),
    );
    add("Verity", s.root.verity.to_owned());
    add("Table root hash", opt(&s.root.table_root_hash));
    add(
        "Root read-only",
        format!(
            "{} (write probe: {})",
            yes_no(s.root.read_only),
            opt(&s.root.write_probe)
        ),
    );
    for m in &s.state_mounts {
        let what = if m.mounted {
            format!(
                "{} {} {} {}",
                if m.ok { "ok" } else { "NOT OK" },
                opt(&m.fs_type),
                opt(&m.source),
                m.options.join(",")
            )
        } else {
            "NOT MOUNTED".into()
        };
        add(&format!("State {}", m.path), what);
    }
    let v = &s.state_volume;
    add(
        "State volume",
        format!(
            "{} {} {}, {}-byte integrity tags, key {}",
            if v.ok { "ok" } else { "NOT OK" },
            opt(&v.dm_name),
            opt(&v.cipher),
            v.integrity_tag_size
                .map_or_else(|| "no".into(), |n| n.to_string()),
            match v.key_in_keyring {
                Some(true) => "in the kernel keyring",
                Some(false) => "in the table",
                None => "-",
            }
        ),
    );
    add(
        "Boot count",
        s.boot_count.map_or_else(|| "-".into(), |n| n.to_string()),
    );
    if let Some(h) = &s.hardening {
        add(
            "Lockdown",
            format!(
                "{} (required: {})",
                opt(&h.lockdown),
                opt(&h.lockdown_expected)
            ),
        );
        add(
            "Sysctls",
            format!(
                "{} of {} as the product sets them",
                h.sysctl_ok, h.sysctl_checked
            ),
        );
        for p in &h.probes {
            add(&format!("Probe {}", p.name), p.outcome.clone());
        }
    }
    add(
        "Verdict",
        if s.verified {
            "verified boot".into()
        } else {
            format!(
                "NOT verified: {}",
                s.problems
                    .iter()
                    .chain(&s.errors)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        },
    );
    let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 1;
    let mut out = std::io::stdout().lock();
    for (label, value) in lines {
        writeln!(out, "{:<width$} {value}", format!("{label}:"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> anyhow::Result<Option<Options>> {
        parse_args(a.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn arguments() {
        let o = args(&["--json", "--count-boot", "--console"])
            .unwrap()
            .unwrap();
        assert!(o.json && o.count_boot && o.console && o.root.is_none());
        assert!(args(&["--help"]).unwrap().is_none());
        assert_eq!(
            args(&["--bogus"]).unwrap_err().to_string(),
            "unknown argument \"--bogus\""
        );
        assert_eq!(
            args(&["--root"]).unwrap_err().to_string(),
            "--root needs a directory"
        );
    }
}
