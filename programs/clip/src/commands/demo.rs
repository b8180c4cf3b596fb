//! `clip demo`: the main job in one command. Builds the default product,
//! boots it with Secure Boot enforced, and prints the verified-boot report
//! the guest's clip-status wrote on its console, checked against what the
//! build produced (manifest.json).
//!
//! `clip demo --update` shows an update end to end (docs/update.md): v1 and
//! v2 of the product built with one key set, a repository with v2
//! published (`clip repo init`, `publish`), served on loopback, and v1
//! booted with `--update-server`: its clip-updated checks soon after boot,
//! installs v2 into slot b and reboots at once (the product's `[update]`
//! defaults), and v2 marks itself good. The report compares the two boots'
//! CLIP-STATUS lines and quotes clip-updated's console lines.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::IntegrityFailure;
use crate::commands::{boot, build};

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Product directory holding product.toml.
    #[arg(default_value = "products/clipos")]
    product: PathBuf,
    /// Where the image is built (replaced on every run: the demo's device
    /// state is not kept). Default: demo/ in the cache directory.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Directory holding the statically linked clip-init and clip-status.
    #[arg(long, value_name = "DIR")]
    programs: Option<PathBuf>,
    /// Download and root-tree cache. Default: $CLIP_CACHE, else ~/.cache/clip.
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Longest wait for the guest's report, in seconds.
    #[arg(long, default_value_t = 600, value_name = "SECONDS")]
    timeout: u64,
    /// Print one JSON object: the build manifest's summary and the report.
    #[arg(long)]
    json: bool,
    /// Show an update v1 → v2 instead: builds v1 (the product's version)
    /// and v2 (the next version) into OUT/v1 and OUT/v2 with one key set,
    /// publishes v2 in OUT/repo, serves it on loopback and boots v1 with
    /// --update-server until v2 runs and is marked good. Default OUT:
    /// demo-update/ in the cache directory.
    #[arg(long)]
    update: bool,
}

/// The console line clip-status writes (programs/clip-status).
const STATUS_MARKER: &str = "CLIP-STATUS ";

pub fn run(args: DemoArgs) -> Result<()> {
    if args.update {
        return update::run(&args);
    }
    let cache = build::cache_dir(args.cache.as_deref())?;
    let out = args.out.clone().unwrap_or_else(|| cache.join("demo"));
    eprintln!(
        "== clip build {} --out {}",
        args.product.display(),
        out.display()
    );
    build::run(build::BuildArgs::for_demo(
        args.product.clone(),
        out.clone(),
        args.programs.clone(),
        Some(cache),
    ))?;
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(out.join(build::MANIFEST_FILE)).context("cannot read the manifest")?,
    )
    .context("cannot parse the manifest")?;

    let image = out.join(build::IMAGE_FILE);
    let serial = out.join("serial.log");
    eprintln!(
        "== clip boot {} --secure-boot (QEMU, TCG: about a minute)",
        image.display()
    );
    let boot_args = boot::BootArgs {
        image: image.clone(),
        secure_boot: true,
        keys: Some(out.join(build::KEYS_DIR)),
        tpm: true,
        timeout: args.timeout,
        expect: vec![STATUS_MARKER.to_owned()],
        refuse: vec!["clip-init: FATAL".to_owned(), "Access Denied".to_owned()],
        answer: Vec::new(),
        serial_log: Some(serial.clone()),
        memory: 1024,
        snapshot: false,
        max_boots: boot::DEFAULT_MAX_BOOTS,
        no_reboot: false,
        update_server: None,
        json: false,
    };
    let (report, ending) = boot::execute(&boot_args)?;
    if let Some(e) = ending.error {
        return Err(e);
    }
    let console = std::fs::read_to_string(&serial)
        .with_context(|| format!("cannot read {}", serial.display()))?;
    let status = status_from_console(&console)?;
    let seconds = report
        .seen
        .first()
        .copied()
        .flatten()
        .map(|d| d.as_secs_f64());
    let checks = compare(&manifest, &status, "a");

    if args.json {
        let object = json!({
            "image": image.display().to_string(),
            "serial_log": serial.display().to_string(),
            "seconds_to_report": seconds,
            "manifest": {
                "product": manifest["product"],
                "root_hash": manifest["slots"]["a"]["verity"]["root_hash"],
                "disk_size": manifest["disk"]["size"],
                "build_seconds": manifest["total_seconds"],
            },
            "status": status,
            "checks": checks.iter().map(|(what, ok)| json!({"check": what, "ok": ok})).collect::<Vec<_>>(),
        });
        crate::output::line(object)?;
    } else {
        print_report(&manifest, &status, &checks, seconds)?;
    }
    let failed: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(w, _)| w.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(IntegrityFailure(format!(
            "verified boot not established: {}",
            failed.join("; ")
        )));
    }
    Ok(())
}

#[path = "demo_update.rs"]
mod update;

fn status_from_console(console: &str) -> Result<Value> {
    let line = console
        .lines()
        .find_map(|l| l.split_once(STATUS_MARKER).map(|(_, j)| j.trim()))
        .context("the console has no CLIP-STATUS line")?;
    serde_json::from_str(line).with_context(|| format!("bad CLIP-STATUS line: {line}"))
}

/// What the demo claims, each checked against the guest's own report of a
/// boot of `slot`. The root hash is the release's, which the manifest gives
/// under slot a (a disk's slot b is empty until an update writes it).
fn compare(manifest: &Value, s: &Value, slot: &str) -> Vec<(String, bool)> {
    let root_hash = &manifest["slots"]["a"]["verity"]["root_hash"];
    let mounts = s["state_mounts"].as_array().cloned().unwrap_or_default();
    let mut checks = vec![
        (
            "Secure Boot enforced by the firmware".into(),
            s["secure_boot"]["state"] == "enabled",
        ),
        (format!("booted slot {slot}"), s["slot"] == slot),
        (
            "/ is a dm-verity device the kernel reports verified".into(),
            s["root"]["verity"] == "verified",
        ),
        (
            "the kernel's verity table carries the built root hash".into(),
            &s["root"]["table_root_hash"] == root_hash && &s["root_hash"] == root_hash,
        ),
        (
            "writing to / fails (read-only)".into(),
            s["root"]["read_only"] == true,
        ),
        (
            format!(
                "{} state paths bind-mounted with their options",
                mounts.len()
            ),
            !mounts.is_empty()
                && mounts
                    .iter()
                    .all(|m| m["mounted"] == true && m["ok"] == true),
        ),
        (
            "the state is encrypted and authenticated (dm-crypt over dm-integrity)".into(),
            s["state_volume"]["ok"] == true,
        ),
    ];
    // A product that declares hardening (docs/kernel.md): what the kernel
    // reports after boot.
    let h = &s["hardening"];
    if !h.is_null() {
        let probes = h["probes"].as_array().cloned().unwrap_or_default();
        checks.push((
            format!(
                "kernel lockdown is {} as the product requires",
                h["lockdown_expected"].as_str().unwrap_or("-")
            ),
            h["lockdown_expected"].is_null() || h["lockdown"] == h["lockdown_expected"],
        ));
        checks.push((
            format!(
                "{} sysctls read back as the product sets them",
                h["sysctl_checked"]
            ),
            h["sysctl_ok"] == h["sysctl_checked"],
        ));
        checks.push((
            format!(
                "{} calls refused by the kernel (kexec, module loading, io_uring, /dev/mem, ptrace, …)",
                probes.len()
            ),
            !probes.is_empty()
                && probes
                    .iter()
                    .all(|p| p["outcome"].as_str().is_some_and(|o| o.starts_with("refused: "))),
        ));
    }
    checks.push(("clip-status found no problem".into(), s["verified"] == true));
    checks
}

fn print_report(
    manifest: &Value,
    s: &Value,
    checks: &[(String, bool)],
    seconds: Option<f64>,
) -> Result<()> {
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let mut lines = vec![
        (
            "Product",
            format!(
                "{} {}",
                text(&manifest["product"]["pretty_name"]),
                text(&manifest["product"]["version"])
            ),
        ),
        (
            "Secure Boot",
            format!(
                "{} (from {})",
                text(&s["secure_boot"]["state"]),
                text(&s["secure_boot"]["source"])
            ),
        ),
        ("Booted slot", text(&s["slot"])),
        (
            "Root (/)",
            format!(
                "{} {} ({}), dm-verity {}",
                text(&s["root"]["source"]),
                text(&s["root"]["fs_type"]),
                s["root"]["mount_options"]
                    .as_array()
                    .map(|o| o.iter().map(text).collect::<Vec<_>>().join(","))
                    .unwrap_or_default(),
                text(&s["root"]["verity"])
            ),
        ),
        ("Root hash", text(&s["root_hash"])),
        (
            "Write to /",
            format!("refused ({})", text(&s["root"]["write_probe"])),
        ),
    ];
    for m in s["state_mounts"].as_array().into_iter().flatten() {
        lines.push((
            "State mount",
            format!(
                "{:<16} {} {}{}",
                text(&m["path"]),
                text(&m["fs_type"]),
                m["options"]
                    .as_array()
                    .map(|o| o.iter().map(text).collect::<Vec<_>>().join(","))
                    .unwrap_or_default(),
                if m["ok"] == true {
                    ""
                } else {
                    "  (NOT as expected)"
                }
            ),
        ));
    }
    let v = &s["state_volume"];
    lines.push((
        "State volume",
        format!(
            "{} {} ({}-byte tags), key in the kernel keyring: {}",
            text(&v["dm_name"]),
            text(&v["cipher"]),
            text(&v["integrity_tag_size"]),
            text(&v["key_in_keyring"])
        ),
    ));
    lines.push(("Boot count", text(&s["boot_count"])));
    let h = &s["hardening"];
    if !h.is_null() {
        lines.push(("Lockdown", text(&h["lockdown"])));
        for p in h["probes"].as_array().into_iter().flatten() {
            lines.push((
                "Refused call",
                format!("{}: {}", text(&p["name"]), text(&p["outcome"])),
            ));
        }
    }
    if let Some(t) = seconds {
        lines.push(("QEMU start to report", format!("{t:.1} s")));
    }
    crate::output::line(
        "Verified-boot report (written by clip-status in the guest, read from its console):",
    )?;
    crate::output::labelled(lines.iter().map(|(l, v)| (*l, v.clone())))?;
    crate::output::line("")?;
    for (what, ok) in checks {
        crate::output::line(format!("  [{}] {what}", if *ok { " ok " } else { "FAIL" }))?;
    }
    Ok(())
}
