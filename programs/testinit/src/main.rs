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
//! `secureboot=` repeats what the kernel logged at boot ("secureboot: Secure
//! boot enabled" / "... disabled", arch/x86/kernel/setup.c), read from
//! /dev/kmsg: Debian builds efivarfs as a module, which this initramfs lacks.
//! The first line's text can be changed at build time with the
//! `CLIP_TESTINIT_MARKER` environment variable.
//!
//! Static build: `RUSTFLAGS="-C target-feature=+crt-static" cargo build
//! --release -p testinit --target x86_64-unknown-linux-gnu`.

use std::fs::OpenOptions;
use std::io::Write;

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

    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let cmdline = cmdline.trim();
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
