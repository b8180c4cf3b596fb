//! Lines on the console, and the one way out when something fails.
//!
//! The kernel starts `/init` with stdin, stdout and stderr on `/dev/console`
//! (the initramfs has the node); every line goes there, prefixed
//! `clip-init: `. Lines are also recorded in the kernel log (`/dev/kmsg`,
//! kernel `Documentation/ABI/testing/dev-kmsg`) at debug level, so that the
//! console does not show them twice; a fatal error is logged at `crit` so
//! every console shows it.
//!
//! PID 1 must never exit (the kernel would panic) and CLIP OS must never
//! fall back to a shell or an unverified root: [`fatal`] prints the reason,
//! waits 3 s so it can be read, and reboots the machine. The panic hook
//! does the same.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use rustix::system::{RebootCommand, reboot};

const PREFIX: &str = "clip-init: ";
/// How long a fatal message stays on screen before the reboot.
const FATAL_DELAY: Duration = Duration::from_secs(3);

static KMSG: OnceLock<Mutex<Option<File>>> = OnceLock::new();

/// Opens `/dev/kmsg` (once devtmpfs is mounted); lines before that only go
/// to the console.
pub fn open_kmsg() {
    let file = OpenOptions::new().write(true).open("/dev/kmsg").ok();
    let _ = KMSG.set(Mutex::new(file));
}

fn emit(level: u8, text: &str) {
    for line in text.lines() {
        let line = format!("{PREFIX}{line}\n");
        // A console that cannot be written to cannot be reported to either.
        let _ = std::io::stderr().write_all(line.as_bytes());
        if let Some(kmsg) = KMSG.get() {
            let mut kmsg = kmsg.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(f) = kmsg.as_mut() {
                let _ = f.write_all(format!("<{level}>{line}").as_bytes());
            }
        }
    }
}

/// One `clip-init: <text>` line.
pub fn say(text: &str) {
    emit(7, text);
}

/// `clip-init: FATAL: <message>`, then a reboot. Never returns.
///
/// A reboot, not a power-off: the boot loader then gets to try again,
/// which its boot counting turns into a fallback to the other slot when
/// this one keeps failing.
pub fn fatal(message: &str) -> ! {
    emit(2, &format!("FATAL: {message}"));
    emit(2, "rebooting in 3 s");
    rustix::fs::sync();
    std::thread::sleep(FATAL_DELAY);
    if let Err(e) = reboot(RebootCommand::Restart) {
        emit(2, &format!("reboot(RESTART) failed: {e}; halting here"));
    }
    // PID 1 must not exit: wait for the reset.
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// A panic is a fatal error like any other (a panicking PID 1 would
/// otherwise take the kernel down with it, or unwind into an exit).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        fatal(&format!("internal error: {info}"));
    }));
}

/// Shows a secret (the recovery key) on the console only: never in the
/// kernel log, which the running system keeps in its journal.
pub fn show_secret(label: &str, secret: &str) {
    let text = format!("{PREFIX}{label}\n{PREFIX}\n{PREFIX}    {secret}\n{PREFIX}\n");
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// Asks for a secret on the console: prints `prompt`, reads one line with
/// echo off, for at most `timeout`. `None` when nothing (or an empty line)
/// came in time, or the console cannot be read.
pub fn ask_secret(prompt: &str, timeout: Duration) -> Option<zeroize::Zeroizing<String>> {
    use rustix::event::{PollFd, PollFlags, poll};
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};

    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).ok();
    if let Some(t) = &saved {
        let mut quiet = t.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        quiet.local_modes.insert(LocalModes::ICANON);
        let _ = tcsetattr(&stdin, OptionalActions::Flush, &quiet);
    }
    let _ = std::io::stderr().write_all(format!("{PREFIX}{prompt}").as_bytes());
    let deadline = std::time::Instant::now() + timeout;
    let mut line = zeroize::Zeroizing::new(Vec::new());
    let mut byte = [0u8; 1];
    let got = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            break false;
        }
        let ts = rustix::event::Timespec::try_from(left).ok();
        let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
        match poll(&mut fds, ts.as_ref()) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break false,
        }
        match rustix::io::read(&stdin, &mut byte) {
            Ok(0) | Err(_) => break false,
            Ok(_) if byte[0] == b'\n' || byte[0] == b'\r' => break true,
            Ok(_) => line.push(byte[0]),
        }
    };
    if let Some(t) = &saved {
        let _ = tcsetattr(&stdin, OptionalActions::Flush, t);
    }
    let _ = std::io::stderr().write_all(b"\n");
    if !got || line.is_empty() {
        return None;
    }
    String::from_utf8(std::mem::take(&mut *line))
        .ok()
        .map(zeroize::Zeroizing::new)
}
