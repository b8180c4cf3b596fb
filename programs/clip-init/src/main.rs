//! `clip-init`: the `/init` of the CLIP OS initramfs (issue 4 contract,
//! "clip-init behaviour").
//!
//! 1. mount /proc, /sys, /dev; console and kernel log; panic = reboot;
//! 2. read the signed kernel command line ([`contract::BootParams`]);
//! 3. load the initramfs' kernel modules ([`modules`]);
//! 4. find the disk by the root hash's partition UUIDs ([`disk`]);
//! 5. map the root through dm-verity and check it reports `V` ([`verity`]);
//! 6. mount it read-only (EROFS) at /sysroot;
//! 7. open the encrypted state partition (LUKS2, dm-integrity, dm-crypt;
//!    created on first boot; the TPM or the recovery key unlocks it:
//!    [`statecrypt`]) and mount its ext4 ([`statefs`]);
//! 8. create/seed/keep and bind-mount each state path ([`state`]);
//! 9. detach the state mount (the bind mounts keep it);
//! 10. switch_root and exec systemd ([`switch`]).
//!
//! Any failure prints `clip-init: FATAL: <message>` and reboots after
//! 3 s: there is no shell and no way to boot an unverified root.

mod antirollback;
mod console;
mod disk;
mod mapper;
mod modules;
mod seed;
mod state;
mod statecrypt;
mod statefs;
mod switch;
mod tpmkey;
mod tpmtoken;
mod verity;

use std::convert::Infallible;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use contract::BootParams;
use contract::state::{STATE_JSON, StateConfig};
use rustix::mount::{MountFlags, UnmountFlags, mount, unmount};

use console::say;

const SYSROOT: &str = "/sysroot";
/// How long to wait for the disk (contract: 20 s).
const DISK_TIMEOUT: Duration = Duration::from_secs(20);

fn main() -> ExitCode {
    // Everything below (mounts, reboot) is only right for the kernel's
    // first process.
    if rustix::process::getpid() != rustix::process::Pid::INIT {
        eprintln!("clip-init: must run as PID 1 (the /init of the initramfs); doing nothing");
        return ExitCode::from(1);
    }
    console::install_panic_hook();
    match run() {
        Ok(never) => match never {},
        Err(e) => console::fatal(&format!("{e:#}")),
    }
}

fn mount_api_filesystems() -> Result<()> {
    let locked = MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    for (fstype, target, flags, data) in [
        ("proc", "/proc", locked, None),
        ("sysfs", "/sys", locked, None),
        ("devtmpfs", "/dev", MountFlags::NOSUID, Some(c"mode=0755")),
    ] {
        let _ = std::fs::create_dir_all(target);
        mount(fstype, target, fstype, flags, data)
            .with_context(|| format!("cannot mount {fstype} on {target}"))?;
    }
    Ok(())
}

fn run() -> Result<Infallible> {
    let start = Instant::now();
    mount_api_filesystems()?;
    console::open_kmsg();
    say("starting");

    let text = std::fs::read_to_string("/proc/cmdline").context("cannot read /proc/cmdline")?;
    let params = BootParams::parse(&text)?;
    say(&format!(
        "slot {} root hash {} ({} data blocks)",
        params.slot.as_str(),
        params.root_hash_hex(),
        params.data_blocks
    ));

    modules::load_all()?;

    // The TPM first: PCR 11 gets enter-initrd before anything else runs.
    let mut tpm = tpmkey::TpmKey::open();

    let found = disk::wait(&params.root_hash, DISK_TIMEOUT)?;
    let root_dev = verity::open(&params, &found.root, &found.verity)?;

    let sysroot = Path::new(SYSROOT);
    let _ = std::fs::create_dir_all(sysroot);
    mount(
        &root_dev,
        sysroot,
        "erofs",
        MountFlags::RDONLY | MountFlags::NOSUID,
        None,
    )
    .with_context(|| {
        format!(
            "cannot mount the verified root {} (erofs, read-only) on {SYSROOT}",
            root_dev.display()
        )
    })?;
    say(&format!(
        "root {} mounted read-only on {SYSROOT}",
        root_dev.display()
    ));

    let config_path = sysroot.join(STATE_JSON);
    let config_text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("cannot read {}", config_path.display()))?;
    let config = StateConfig::parse(&config_text)
        .with_context(|| format!("invalid {}", config_path.display()))?
        .in_mount_order();
    let state_part = found.state.as_ref().with_context(|| {
        format!(
            "disk /dev/{} has no partition of type var named \"state\"",
            found.disk
        )
    })?;
    // Anti-rollback: the TPM's minimum before anything is unsealed.
    let release = antirollback::release(sysroot)?;
    tpm.rollback_check(&release)?;
    tpm.set_release(release.clone());
    let opened = statecrypt::open(&state_part.dev, &config, sysroot, &mut tpm)?;
    let state_dir = statefs::mount_state(sysroot, &opened.node, opened.fresh)?;
    state::apply(sysroot, &state_dir, &config)?;
    // The state's minimum (raised by clip-updated mark-good), then the
    // TPM's raised to it while PCR 11 still has the signed value.
    if let Some(minimum) = antirollback::check_record(sysroot, &release)? {
        tpm.rollback_raise(&minimum);
    }
    // The key is in dm-crypt: lock PCR 11 so the running system cannot
    // unseal it again.
    tpm.leave_initrd()?;
    unmount(&state_dir, UnmountFlags::DETACH)
        .with_context(|| format!("cannot detach {}", state_dir.display()))?;
    rustix::fs::sync();

    say(&format!("ready after {} ms", start.elapsed().as_millis()));
    switch::switch_root(sysroot)
}
