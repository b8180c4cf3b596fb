//! A tiny `/init` for test initramfs images.
//!
//! Run as PID 1 by the kernel, it mounts proc, sysfs, securityfs and
//! devtmpfs, writes a few `CLIP-TESTINIT:` lines to /dev/console and powers
//! the machine off with reboot(2):
//!
//! ```text
//! CLIP-TESTINIT: booted
//! CLIP-TESTINIT: marker=<testinit.marker= from the kernel command line>
//! CLIP-TESTINIT: cmdline=<contents of /proc/cmdline>
//! CLIP-TESTINIT: secureboot=enabled|disabled|unknown
//! CLIP-TESTINIT: lockdown=<the selected mode in /sys/kernel/security/lockdown>
//! CLIP-TESTINIT: tpm=yes|no (a TPM device: /sys/class/tpm/tpm0 exists)
//! CLIP-TESTINIT: uptime=<seconds since the kernel started>
//! CLIP-TESTINIT: powering off
//! ```
//!
//! Optional, for the tests that follow a guest across reboots:
//!
//! - modules listed in `/modules/list` (paths under `/modules`, in load
//!   order, compressed as Debian ships them) are loaded first;
//! - `testinit.reboots=N`: a boot counter in the first sector of
//!   `/dev/vda2` (`CLIP-TESTINIT-BOOTS=<n>`, needs virtio_blk) is raised and
//!   printed (`CLIP-TESTINIT: boot=<n>`); while it is at most N, testinit
//!   prints `CLIP-TESTINIT: rebooting` and reboots instead of going on, so
//!   boot N+1 is the first to print the lines above and power off;
//! - `testinit.reboots=always`: reboots at every boot, with no disk.
//!
//! `secureboot=` repeats what the kernel logged at boot ("secureboot: Secure
//! boot enabled" / "... disabled", arch/x86/kernel/setup.c), read from
//! /dev/kmsg: Debian builds efivarfs as a module, which this initramfs lacks.
//! The first line's text can be changed at build time with the
//! `CLIP_TESTINIT_MARKER` environment variable.
//!
//! Static build: `RUSTFLAGS="-C target-feature=+crt-static" cargo build
//! --release -p testinit --target x86_64-unknown-linux-gnu`.

use std::fs::OpenOptions;
use std::io::{Read, Seek, Write};

use rustix::fs::{Mode, OFlags};
use rustix::mount::{MountFlags, mount};
use rustix::system::{RebootCommand, reboot};

const BOOTED: &str = match option_env!("CLIP_TESTINIT_MARKER") {
    Some(m) => m,
    None => "CLIP-TESTINIT: booted",
};

fn main() {
    let mut console = Console::open();
    console.line(BOOTED);

    let mounts = [
        ("proc", "/proc", "proc"),
        ("sysfs", "/sys", "sysfs"),
        ("securityfs", "/sys/kernel/security", "securityfs"),
        ("devtmpfs", "/dev", "devtmpfs"),
    ];
    for (source, target, fstype) in mounts {
        let _ = std::fs::create_dir_all(target);
        if let Err(e) = mount(source, target, fstype, MountFlags::empty(), None) {
            console.line(&format!(
                "CLIP-TESTINIT: cannot mount {fstype} on {target}: {e}"
            ));
        }
    }

    load_modules(&mut console);
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let cmdline = cmdline.trim();
    if let Some(reboots) = cmdline
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix("testinit.reboots="))
    {
        reboot_if_asked(&mut console, reboots);
    }
    if let Some(marker) = cmdline
        .split_ascii_whitespace()
        .find_map(|w| w.strip_prefix("testinit.marker="))
    {
        console.line(&format!("CLIP-TESTINIT: marker={marker}"));
    }
    console.line(&format!("CLIP-TESTINIT: cmdline={cmdline}"));
    console.line(&format!("CLIP-TESTINIT: secureboot={}", secure_boot()));
    let lockdown = std::fs::read_to_string("/sys/kernel/security/lockdown").unwrap_or_default();
    console.line(&format!("CLIP-TESTINIT: lockdown={}", selected(&lockdown)));
    let tpm = std::path::Path::new("/sys/class/tpm/tpm0").exists();
    console.line(&format!(
        "CLIP-TESTINIT: tpm={}",
        if tpm { "yes" } else { "no" }
    ));
    let uptime = std::fs::read_to_string("/proc/uptime").unwrap_or_default();
    let uptime = uptime.split_whitespace().next().unwrap_or("unknown");
    console.line(&format!("CLIP-TESTINIT: uptime={uptime}"));

    console.line("CLIP-TESTINIT: powering off");
    rustix::fs::sync();
    if let Err(e) = reboot(RebootCommand::PowerOff) {
        console.line(&format!("CLIP-TESTINIT: reboot(POWER_OFF) failed: {e}"));
    }
    // PID 1 must not exit (the kernel would panic); wait to be killed.
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// Loads the modules `/modules/list` names, in order.
fn load_modules(console: &mut Console) {
    let Ok(list) = std::fs::read_to_string("/modules/list") else {
        return;
    };
    for name in list.lines().filter(|l| !l.is_empty()) {
        let path = std::path::Path::new("/modules").join(name);
        if let Err(e) = sys::module::load(&path, "", sys::module::COMPRESSED_FILE) {
            console.line(&format!("CLIP-TESTINIT: cannot load {name}: {e}"));
        }
    }
}

/// Reboots when `testinit.reboots=` asks for it (see the module header).
fn reboot_if_asked(console: &mut Console, reboots: &str) {
    if reboots != "always" {
        let Ok(limit) = reboots.parse::<u32>() else {
            console.line(&format!("CLIP-TESTINIT: bad testinit.reboots={reboots}"));
            return;
        };
        match count_boot("/dev/vda2") {
            Ok(boot) => {
                console.line(&format!("CLIP-TESTINIT: boot={boot}"));
                if boot > limit {
                    return;
                }
            }
            Err(e) => {
                console.line(&format!("CLIP-TESTINIT: boot counter: {e}"));
                return;
            }
        }
    }
    console.line("CLIP-TESTINIT: rebooting");
    rustix::fs::sync();
    if let Err(e) = reboot(RebootCommand::Restart) {
        console.line(&format!("CLIP-TESTINIT: reboot(RESTART) failed: {e}"));
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

/// Raises the boot counter at the start of `device` (waiting up to 10 s
/// for the device to show up); the boot's number.
fn count_boot(device: &str) -> std::io::Result<u32> {
    const TAG: &str = "CLIP-TESTINIT-BOOTS=";
    let mut tries = 0;
    let mut file = loop {
        match OpenOptions::new().read(true).write(true).open(device) {
            Ok(f) => break f,
            Err(_) if tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            Err(e) => return Err(e),
        }
    };
    let mut sector = [0u8; 512];
    file.read_exact(&mut sector)?;
    let text = String::from_utf8_lossy(&sector);
    let before = text
        .strip_prefix(TAG)
        .and_then(|rest| rest.split('\n').next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or(0);
    let boot = before.saturating_add(1);
    let mut new = [0u8; 512];
    let line = format!("{TAG}{boot}\n");
    new[..line.len()].copy_from_slice(line.as_bytes());
    file.rewind()?;
    file.write_all(&new)?;
    file.sync_all()?;
    Ok(boot)
}

/// Where the lines go: /dev/console if it opens, else stdout.
struct Console(Option<std::fs::File>);

impl Console {
    fn open() -> Self {
        Console(OpenOptions::new().write(true).open("/dev/console").ok())
    }

    fn line(&mut self, text: &str) {
        let line = format!("{text}\n");
        let written = match &mut self.0 {
            Some(f) => f.write_all(line.as_bytes()).is_ok(),
            None => false,
        };
        if !written {
            let _ = std::io::stdout().write_all(line.as_bytes());
        }
    }
}

/// What the kernel logged about Secure Boot, from /dev/kmsg.
fn secure_boot() -> &'static str {
    let Ok(fd) = rustix::fs::open(
        "/dev/kmsg",
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return "unknown";
    };
    // One record per read; EAGAIN once the buffer is drained.
    let mut buf = vec![0u8; 8192];
    loop {
        match rustix::io::read(&fd, &mut buf) {
            Ok(0) => return "unknown",
            Ok(n) => {
                let record = String::from_utf8_lossy(&buf[..n]);
                let message = record.split_once(';').map_or(&*record, |(_, m)| m);
                if message.contains("Secure boot enabled") {
                    return "enabled";
                }
                if message.contains("Secure boot disabled") {
                    return "disabled";
                }
            }
            // EPIPE: a record was overwritten before we read it; go on.
            Err(rustix::io::Errno::PIPE) => {}
            Err(_) => return "unknown",
        }
    }
}

/// "none [integrity] confidentiality" → "integrity".
fn selected(lockdown: &str) -> &str {
    lockdown
        .split_whitespace()
        .find_map(|w| w.strip_prefix('[')?.strip_suffix(']'))
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockdown_mode_is_the_bracketed_word() {
        assert_eq!(selected("none [integrity] confidentiality\n"), "integrity");
        assert_eq!(selected("[none] integrity confidentiality"), "none");
        assert_eq!(selected(""), "unknown");
    }
}
