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
//! - `testinit.reboots=always`: reboots at every boot, with no disk;
//! - `testinit.http=ADDR:PORT/PATH` and `testinit.tcp=ADDR:PORT` (each
//!   repeatable, in order): gives eth0 (needs virtio_net) the address
//!   10.0.2.15/24 (QEMU user networking's guest address) over rtnetlink,
//!   then makes an HTTP/1.0 GET (`CLIP-TESTINIT: http TARGET: <status line>
//!   body=<first body line>`) or only connects (`CLIP-TESTINIT: tcp TARGET:
//!   connected`), each bounded by 5 s (`...: failed: <error>`); without a
//!   network interface: `CLIP-TESTINIT: net: no eth0`.
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
    let probes: Vec<&str> = cmdline
        .split_ascii_whitespace()
        .filter(|w| w.starts_with("testinit.http=") || w.starts_with("testinit.tcp="))
        .collect();
    if !probes.is_empty() {
        network(&mut console, &probes);
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

/// QEMU user networking's guest address, and its prefix length.
const GUEST_ADDRESS: [u8; 4] = [10, 0, 2, 15];
const PREFIX: u8 = 24;
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Brings eth0 up and runs the probes (see the module header).
fn network(console: &mut Console, probes: &[&str]) {
    let mut index = None;
    for _ in 0..50 {
        index = std::fs::read_to_string("/sys/class/net/eth0/ifindex")
            .ok()
            .and_then(|i| i.trim().parse::<u32>().ok());
        if index.is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let Some(index) = index else {
        console.line("CLIP-TESTINIT: net: no eth0");
        return;
    };
    if let Err(e) = configure(index) {
        console.line(&format!("CLIP-TESTINIT: net: cannot configure eth0: {e}"));
        return;
    }
    console.line("CLIP-TESTINIT: net: eth0 10.0.2.15/24 up");
    for probe in probes {
        let (kind, target) = probe
            .strip_prefix("testinit.")
            .and_then(|p| p.split_once('='))
            .unwrap_or(("?", probe));
        let result = if kind == "http" {
            http_get(target)
        } else {
            connect(target).map(|_| "connected".to_owned())
        };
        match result {
            Ok(what) => console.line(&format!("CLIP-TESTINIT: {kind} {target}: {what}")),
            Err(e) => console.line(&format!("CLIP-TESTINIT: {kind} {target}: failed: {e}")),
        }
    }
}

fn connect(target: &str) -> std::io::Result<std::net::TcpStream> {
    let addr: std::net::SocketAddr = target
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let stream = std::net::TcpStream::connect_timeout(&addr, PROBE_TIMEOUT)?;
    stream.set_read_timeout(Some(PROBE_TIMEOUT))?;
    Ok(stream)
}

/// `ADDR:PORT/PATH`: the status line and the body's first line.
fn http_get(target: &str) -> std::io::Result<String> {
    let (addr, path) = target.split_once('/').unwrap_or((target, ""));
    let mut stream = connect(addr)?;
    stream.write_all(format!("GET /{path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())?;
    let mut response = Vec::new();
    stream.take(1 << 20).read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status = text.lines().next().unwrap_or("").trim_end();
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b.lines().next().unwrap_or(""));
    Ok(format!("{status} body={body}"))
}

/// Gives interface `index` the guest address and sets it up (rtnetlink:
/// RTM_NEWADDR, RTM_NEWLINK).
fn configure(index: u32) -> std::io::Result<()> {
    const RTM_NEWLINK: u16 = 16;
    const RTM_NEWADDR: u16 = 20;
    const NLM_F_CREATE: u16 = 0x400;
    const NLM_F_EXCL: u16 = 0x200;
    const AF_INET: u8 = 2;
    const IFA_ADDRESS: u16 = 1;
    const IFA_LOCAL: u16 = 2;
    const IFF_UP: u32 = 1;
    let mut addr = vec![AF_INET, PREFIX, 0, 0];
    addr.extend(index.to_ne_bytes());
    for kind in [IFA_LOCAL, IFA_ADDRESS] {
        addr.extend(8u16.to_ne_bytes());
        addr.extend(kind.to_ne_bytes());
        addr.extend(GUEST_ADDRESS);
    }
    rtnetlink(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &addr)?;
    let mut link = vec![0u8, 0, 0, 0];
    link.extend(index.to_ne_bytes());
    link.extend(IFF_UP.to_ne_bytes());
    link.extend(IFF_UP.to_ne_bytes());
    rtnetlink(RTM_NEWLINK, 0, &link)
}

/// Sends one rtnetlink request and waits for its acknowledgement.
fn rtnetlink(kind: u16, flags: u16, body: &[u8]) -> std::io::Result<()> {
    use rustix::net::{
        AddressFamily, RecvFlags, SendFlags, SocketType, netlink::SocketAddrNetlink, recv, sendto,
        socket,
    };
    const NLM_F_REQUEST: u16 = 1;
    const NLM_F_ACK: u16 = 4;
    const NLMSG_ERROR: u16 = 2;
    // NETLINK_ROUTE is protocol 0: None.
    let fd = socket(AddressFamily::NETLINK, SocketType::RAW, None)?;
    let len = u32::try_from(16 + body.len()).unwrap_or(u32::MAX);
    let mut msg = Vec::new();
    msg.extend(len.to_ne_bytes());
    msg.extend(kind.to_ne_bytes());
    msg.extend((flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
    msg.extend(1u32.to_ne_bytes());
    msg.extend(0u32.to_ne_bytes());
    msg.extend(body);
    sendto(&fd, &msg, SendFlags::empty(), &SocketAddrNetlink::new(0, 0))?;
    let mut buf = [0u8; 4096];
    let (n, _) = recv(&fd, &mut buf, RecvFlags::empty())?;
    let reply = &buf[..n];
    match (reply.get(4..6), reply.get(16..20)) {
        (Some(t), Some(e)) if u16::from_ne_bytes([t[0], t[1]]) == NLMSG_ERROR => {
            let errno = i32::from_ne_bytes([e[0], e[1], e[2], e[3]]);
            if errno == 0 {
                Ok(())
            } else {
                Err(std::io::Error::from_raw_os_error(errno.saturating_neg()))
            }
        }
        _ => Err(std::io::Error::other("no rtnetlink acknowledgement")),
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
