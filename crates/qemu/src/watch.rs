//! Running a [`Vm`] and watching its serial console.
//!
//! QEMU writes the console to the serial log (a `file` chardev, or the
//! `logfile=` of the terminal's `stdio` chardev in interactive mode); the
//! watcher tails that file every [`POLL`], matching each line (and the
//! unfinished last one, e.g. a prompt) by substring. It returns as soon as a
//! refused string appears, all expected strings appeared, QEMU exited, the
//! guest rebooted at the end of the last boot allowed, or the timeout
//! passed.
//!
//! Boots are told apart by QEMU's QMP events ([`crate::qmp`]), not by the
//! console: each `RESET` from the guest ends a boot with a reboot and starts
//! the next (the expectations carry over: text seen in an earlier boot
//! stays seen); once the last allowed boot has begun, `set-action
//! reboot=shutdown` makes its reboot end QEMU (`SHUTDOWN`, reason
//! `guest-reset`), while a power-off is `SHUTDOWN` with reason
//! `guest-shutdown`. Console lines are dated when read, to within [`POLL`].
//!
//! QEMU runs under coreutils `timeout --signal=KILL` as a backstop
//! (timeout + grace + 30 s), so it ends even if this process is killed. In
//! the normal mode both run in their own process group, stopped together;
//! in interactive mode they stay in the terminal's foreground process group
//! (a background group reading the terminal would be stopped by SIGTTIN),
//! `timeout --foreground` forwards our SIGTERM to QEMU, and the terminal
//! settings are restored afterwards. Stopping is SIGTERM (QEMU exits
//! cleanly, flushing its disks), then SIGKILL after [`STOP_GRACE`]. QEMU is
//! not running any more when a run returns, also on error or panic.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use crate::qmp::{Event, Qmp};
use crate::vm::drive_arg;
use crate::{Boot, BootEnd, Outcome, QemuError, RunReport, Vm, io_err, which};

/// Extra time the `timeout` backstop gives QEMU beyond the run's timeout.
const BACKSTOP_MARGIN: Duration = Duration::from_secs(30);
/// How much of QEMU's stderr is kept for reports.
const STDERR_LIMIT: usize = 64 << 10;
/// How often the serial log and QEMU are looked at.
const POLL: Duration = Duration::from_millis(50);
/// How long a matching but unfinished console line may take to end.
const LINE_GRACE: Duration = Duration::from_secs(2);
/// How long QEMU gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Longest unfinished line kept for matching (a guest writing without
/// newlines must not grow memory without bound).
const MAX_PENDING: usize = 64 << 10;
/// How long QEMU may take to create its QMP socket.
const QMP_CONNECT: Duration = Duration::from_secs(30);
/// How long the last QMP events may take to arrive once QEMU exited.
const QMP_DRAIN: Duration = Duration::from_secs(2);

impl Vm {
    /// Boots the VM and watches the console: returns [`Outcome::Refused`] as
    /// soon as a line contains one of `refuse`, [`Outcome::Matched`] once
    /// every string of `expect` was seen (then gives QEMU the
    /// [`crate::VmBuilder::after_match`] time to exit by itself), and
    /// otherwise how QEMU ended or [`Outcome::TimedOut`] after `timeout`.
    /// QEMU is not running any more when this returns.
    pub fn run(
        &self,
        expect: &[&str],
        refuse: &[&str],
        timeout: Duration,
    ) -> Result<RunReport, QemuError> {
        self.run_watched(expect, refuse, timeout, &mut |_| {})
    }

    /// [`Vm::run`], calling `on_line` with every console line (without its
    /// line end) as it arrives, e.g. to show progress.
    pub fn run_watched(
        &self,
        expect: &[&str],
        refuse: &[&str],
        timeout: Duration,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<RunReport, QemuError> {
        let qemu = self.preflight()?;
        let log_path = self.serial_log();
        // Created (emptied) before QEMU starts, so that the watcher never
        // reads a previous run's log.
        File::create(&log_path).map_err(io_err("create", &log_path))?;
        let mut log = File::open(&log_path).map_err(io_err("open", &log_path))?;
        // A private directory: the socket path must stay under 108 bytes.
        let qmp_dir = tempfile::Builder::new()
            .prefix("clip-qmp-")
            .tempdir()
            .map_err(io_err(
                "create a temporary directory in",
                std::env::temp_dir(),
            ))?;
        let qmp_socket = qmp_dir.path().join("qmp.sock");

        let backstop = timeout + self.after_match + BACKSTOP_MARGIN;
        let mut cmd = Command::new("timeout");
        cmd.arg("--signal=KILL");
        if self.interactive {
            cmd.arg("--foreground");
        }
        cmd.arg(format!("{}s", backstop.as_secs().max(1)))
            .arg(&qemu)
            .args(self.args())
            // QEMU waits for the QMP client before starting the guest.
            .arg("-chardev")
            .arg(drive_arg(
                "socket,id=qmp,server=on,wait=on,path=",
                &qmp_socket,
            ))
            .args(["-mon", "chardev=qmp,mode=control"]);
        if self.interactive {
            cmd.stdin(Stdio::inherit())
                .stdout(Stdio::inherit())
                .stderr(Stdio::inherit());
        } else {
            let stdin = if self.answers.is_empty() {
                Stdio::null()
            } else {
                Stdio::piped()
            };
            cmd.stdin(stdin)
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        }
        tracing::info!(command = ?cmd, "starting QEMU");
        let terminal = self.interactive.then(TerminalState::save).flatten();
        let start = Instant::now();
        let child = cmd.spawn().map_err(|error| QemuError::Spawn {
            program: format!("timeout {}", qemu.display()),
            error,
        })?;
        let mut guard = Running {
            child,
            own_group: !self.interactive,
            terminal,
        };
        let err_thread = guard.child.stderr.take().map(|stderr| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = stderr
                    .take(u64::try_from(STDERR_LIMIT).unwrap_or(u64::MAX))
                    .read_to_end(&mut buf);
                String::from_utf8_lossy(&buf).into_owned()
            })
        });

        let mut qmp = match Qmp::connect(&qmp_socket, QMP_CONNECT, &mut || {
            matches!(guard.child.try_wait(), Ok(None))
        }) {
            Ok(q) => Some(q),
            // QEMU ended at once (a bad option): reported as its exit.
            Err(_) if !matches!(guard.child.try_wait(), Ok(None)) => None,
            Err(e) => return Err(e),
        };
        let mut boots = Boots::new(start, self.max_boots);

        let mut typist = Typist::new(&self.answers, guard.child.stdin.take());
        let mut matcher = Matcher::new(expect, refuse);
        let mut tail = Tail::default();
        let deadline = start + timeout;
        let mut exit_status = None;
        let mut partial_match: Option<Instant> = None;
        let outcome = loop {
            let exited = guard.child.try_wait().ok().flatten();
            // Read after checking for exit: what QEMU wrote before exiting
            // is in the file by now.
            let chunk = tail.read(&mut log);
            let events = match (&mut qmp, exited) {
                (Some(q), Some(_)) => q.last_events(QMP_DRAIN),
                (Some(q), None) => q.events(),
                (None, _) => Vec::new(),
            };
            let mut over_limit = false;
            for event in &events {
                match boots.event(event) {
                    Some(Next::LastBoot) => {
                        // Its reboot ends QEMU (as -no-reboot would).
                        if let Some(q) = qmp.as_mut() {
                            let _ =
                                q.execute("set-action", serde_json::json!({"reboot": "shutdown"}));
                        }
                    }
                    Some(Next::OverLimit) => over_limit = true,
                    None => {}
                }
            }
            if self.echo && !self.interactive && !chunk.is_empty() {
                let _ = std::io::stderr().write_all(&chunk);
            }
            let now = start.elapsed();
            let mut decided = None;
            for line in tail.lines(&chunk) {
                typist.line(&line);
                on_line(line.trim_end_matches(['\r', '\n']));
                if decided.is_none() {
                    decided = matcher.line(&line, now);
                }
            }
            typist.line(&tail.pending());
            if decided.is_none() {
                // The unfinished last line (a prompt) counts too; but when
                // it completes the expectations, give it LINE_GRACE to end,
                // so that whoever reads the log gets the whole line.
                match matcher.line(&tail.pending(), now) {
                    Some(Outcome::Matched) => {
                        let since = *partial_match.get_or_insert_with(Instant::now);
                        if since.elapsed() >= LINE_GRACE {
                            decided = Some(Outcome::Matched);
                        }
                    }
                    other => decided = other,
                }
            }
            if let Some(found) = decided {
                boots.close(match found {
                    Outcome::Refused(_) => BootEnd::Refused,
                    _ => BootEnd::Matched,
                });
                break found;
            }
            if over_limit {
                // set-action did not take: stopped here instead.
                break if partial_match.is_some() {
                    Outcome::Matched
                } else {
                    Outcome::Rebooted
                };
            }
            if let Some(st) = exited {
                exit_status = Some(st);
                let end = boots.end_of_qemu();
                let rebooted = end == BootEnd::Reboot;
                boots.close(end);
                break if partial_match.is_some() {
                    Outcome::Matched
                } else if rebooted {
                    Outcome::Rebooted
                } else {
                    Outcome::Exited(st)
                };
            }
            if Instant::now() >= deadline {
                let matched = partial_match.is_some();
                boots.close(if matched {
                    BootEnd::Matched
                } else {
                    BootEnd::TimedOut
                });
                break if matched {
                    Outcome::Matched
                } else {
                    Outcome::TimedOut
                };
            }
            std::thread::sleep(POLL);
        };
        let elapsed = match outcome {
            Outcome::Matched => matcher.last_seen().unwrap_or_else(|| start.elapsed()),
            _ => start.elapsed(),
        };
        if outcome == Outcome::Matched && exit_status.is_none() && !self.after_match.is_zero() {
            // Let the guest finish (power off) so the log is complete.
            exit_status = guard.wait_bounded(self.after_match);
        }
        guard.stop();
        drop(guard);
        drop(qmp);
        // Whatever QEMU wrote while stopping.
        let _ = tail.read(&mut log);
        let stderr = err_thread.and_then(|t| t.join().ok()).unwrap_or_default();
        Ok(RunReport {
            outcome,
            serial_log: log_path,
            elapsed,
            exit_status,
            stderr,
            seen: matcher.seen,
            boots: boots.list,
        })
    }

    /// Checks the files and programs a run needs; returns QEMU's path.
    fn preflight(&self) -> Result<std::path::PathBuf, QemuError> {
        let program = self.qemu_program();
        let qemu = which(&program.to_string_lossy()).ok_or_else(|| QemuError::NotFound {
            program: program.display().to_string(),
            package: "qemu-system-x86",
        })?;
        let fw = self.firmware();
        for (what, path) in [
            ("firmware code", &fw.code),
            ("firmware variables", &fw.vars),
        ] {
            if !path.is_file() {
                return Err(QemuError::Config(format!(
                    "{what} {} is not a file",
                    path.display()
                )));
            }
        }
        for path in self.disk_paths() {
            if !path.is_file() {
                return Err(QemuError::Config(format!(
                    "disk image {} is not a file",
                    path.display()
                )));
            }
        }
        if let Some(socket) = self.tpm_socket().filter(|s| !s.exists()) {
            return Err(QemuError::Config(format!(
                "TPM socket {} does not exist (is swtpm running?)",
                socket.display()
            )));
        }
        let work = self.work_dir();
        std::fs::create_dir_all(work).map_err(io_err("create", work))?;
        std::fs::copy(&fw.vars, self.vars_copy())
            .map_err(io_err("copy firmware variables to", self.vars_copy()))?;
        std::fs::write(self.command_file(), self.script(&qemu))
            .map_err(io_err("write", self.command_file()))?;
        Ok(qemu)
    }
}

/// What a QMP event means for the run.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// The last boot allowed has begun.
    LastBoot,
    /// The guest rebooted at the end of the last boot allowed, and QEMU
    /// reset the machine anyway.
    OverLimit,
}

/// The boots of a run, from QMP events.
struct Boots {
    start: Instant,
    max: u32,
    list: Vec<Boot>,
    started: Duration,
    /// The reason of the last `SHUTDOWN` event.
    shutdown: Option<String>,
    closed: bool,
}

impl Boots {
    fn new(start: Instant, max: u32) -> Self {
        Boots {
            start,
            max,
            list: Vec::new(),
            started: Duration::ZERO,
            shutdown: None,
            closed: false,
        }
    }

    /// The boot under way (1-based).
    fn current(&self) -> usize {
        self.list.len() + 1
    }

    fn event(&mut self, event: &Event) -> Option<Next> {
        if self.closed {
            return None;
        }
        match event.name.as_str() {
            "RESET" if event.guest => {
                let at = event.at.saturating_duration_since(self.start);
                self.list.push(Boot {
                    started: self.started,
                    ended: at,
                    end: BootEnd::Reboot,
                });
                self.started = at;
                let max = usize::try_from(self.max).unwrap_or(usize::MAX);
                if self.current() > max {
                    self.closed = true;
                    Some(Next::OverLimit)
                } else {
                    (self.current() == max).then_some(Next::LastBoot)
                }
            }
            "SHUTDOWN" => {
                self.shutdown = Some(event.reason.clone().unwrap_or_default());
                None
            }
            _ => None,
        }
    }

    /// How the boot under way ended, QEMU having exited.
    fn end_of_qemu(&self) -> BootEnd {
        match self.shutdown.as_deref() {
            Some("guest-reset") => BootEnd::Reboot,
            Some("guest-shutdown") => BootEnd::PowerOff,
            other => BootEnd::QemuEnded(other.map(str::to_owned)),
        }
    }

    /// Ends the boot under way (once).
    fn close(&mut self, end: BootEnd) {
        if !self.closed {
            self.closed = true;
            self.list.push(Boot {
                started: self.started,
                ended: self.start.elapsed(),
                end,
            });
        }
    }
}

/// Types each answer once, when its prompt first shows on the console.
struct Typist<'a> {
    answers: &'a [(String, String)],
    typed: Vec<bool>,
    stdin: Option<std::process::ChildStdin>,
}

impl<'a> Typist<'a> {
    fn new(answers: &'a [(String, String)], stdin: Option<std::process::ChildStdin>) -> Self {
        Self {
            answers,
            typed: vec![false; answers.len()],
            stdin,
        }
    }

    fn line(&mut self, line: &str) {
        let Some(stdin) = self.stdin.as_mut() else {
            return;
        };
        for (i, (prompt, reply)) in self.answers.iter().enumerate() {
            if !self.typed[i] && line.contains(prompt.as_str()) {
                self.typed[i] = true;
                tracing::debug!(%prompt, "answering on the console");
                // Enter is a carriage return, as from a terminal. A guest
                // gone away is noticed by the watcher, not here.
                let _ = stdin
                    .write_all(format!("{reply}\r").as_bytes())
                    .and_then(|()| stdin.flush());
            }
        }
    }
}

/// Expected and refused strings, and when each expected one appeared.
struct Matcher<'a> {
    expect: &'a [&'a str],
    refuse: &'a [&'a str],
    seen: Vec<Option<Duration>>,
}

impl<'a> Matcher<'a> {
    fn new(expect: &'a [&'a str], refuse: &'a [&'a str]) -> Self {
        Matcher {
            expect,
            refuse,
            seen: vec![None; expect.len()],
        }
    }

    /// Looks at one line; the outcome it decides, if any.
    fn line(&mut self, line: &str, at: Duration) -> Option<Outcome> {
        if line.is_empty() {
            return None;
        }
        if let Some(r) = self.refuse.iter().find(|r| line.contains(**r)) {
            tracing::debug!(refused = r, %line, "refused line on the console");
            return Some(Outcome::Refused(line.trim_end().to_owned()));
        }
        for (seen, e) in self.seen.iter_mut().zip(self.expect) {
            if seen.is_none() && line.contains(e) {
                *seen = Some(at);
            }
        }
        (!self.expect.is_empty() && self.seen.iter().all(Option::is_some))
            .then_some(Outcome::Matched)
    }

    fn last_seen(&self) -> Option<Duration> {
        self.seen.iter().flatten().max().copied()
    }
}

/// Reads a growing file and splits it into lines.
#[derive(Default)]
struct Tail {
    offset: u64,
    /// Bytes after the last line end.
    partial: Vec<u8>,
}

impl Tail {
    /// The bytes appended since the last call.
    fn read(&mut self, file: &mut File) -> Vec<u8> {
        let mut buf = Vec::new();
        if file.seek(SeekFrom::Start(self.offset)).is_ok() {
            let _ = file.read_to_end(&mut buf);
        }
        self.offset += u64::try_from(buf.len()).unwrap_or(0);
        buf
    }

    /// The complete lines `chunk` finishes, with their line ends. The
    /// firmware ends lines with \r\n and sprinkles terminal escapes;
    /// matching is by substring, so they do no harm.
    fn lines(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in chunk {
            self.partial.push(b);
            if b == b'\n' || self.partial.len() >= MAX_PENDING {
                lines.push(String::from_utf8_lossy(&self.partial).into_owned());
                self.partial.clear();
            }
        }
        lines
    }

    fn pending(&self) -> String {
        String::from_utf8_lossy(&self.partial).into_owned()
    }
}

/// The `timeout` process with QEMU inside.
struct Running {
    child: Child,
    /// In its own process group (non-interactive): signal the group.
    own_group: bool,
    terminal: Option<TerminalState>,
}

impl Running {
    /// Waits at most `limit` for the process to exit.
    fn wait_bounded(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => return Some(st),
                Ok(None) if Instant::now() < end => std::thread::sleep(POLL),
                _ => return None,
            }
        }
    }

    fn signal(&self, sig: Signal) {
        let pid = Pid::from_child(&self.child);
        let _ = if self.own_group {
            rustix::process::kill_process_group(pid, sig)
        } else {
            // `timeout --foreground` passes it on to QEMU.
            rustix::process::kill_process(pid, sig)
        };
    }

    /// SIGTERM, then SIGKILL if QEMU is still there after [`STOP_GRACE`].
    fn stop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(Signal::TERM);
            if self.wait_bounded(STOP_GRACE).is_none() {
                self.signal(Signal::KILL);
                let _ = self.child.kill();
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(Signal::KILL);
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Some(t) = self.terminal.take() {
            t.restore();
        }
    }
}

/// The terminal settings QEMU's stdio console changes (raw mode), restored
/// even when QEMU is killed before it can restore them itself.
struct TerminalState(rustix::termios::Termios);

impl TerminalState {
    fn save() -> Option<Self> {
        rustix::termios::tcgetattr(std::io::stdin())
            .ok()
            .map(TerminalState)
    }

    fn restore(self) {
        let _ = rustix::termios::tcsetattr(
            std::io::stdin(),
            rustix::termios::OptionalActions::Now,
            &self.0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_splits_lines_across_chunks() {
        let mut t = Tail::default();
        assert!(t.lines(b"abc").is_empty());
        assert_eq!(t.pending(), "abc");
        assert_eq!(t.lines(b"d\r\nef\n"), ["abcd\r\n", "ef\n"]);
        assert_eq!(t.pending(), "");
    }

    #[test]
    fn tail_bounds_an_endless_line() {
        let mut t = Tail::default();
        let lines = t.lines(&vec![b'x'; MAX_PENDING + 10]);
        assert_eq!(lines.len(), 1);
        assert_eq!(t.pending().len(), 10);
    }

    #[test]
    fn matcher_records_when_each_string_appeared() {
        let expect = ["one", "two"];
        let mut m = Matcher::new(&expect, &[]);
        let s = Duration::from_secs;
        assert_eq!(m.line("two!\n", s(1)), None);
        assert_eq!(m.line("two again\n", s(2)), None);
        assert_eq!(m.line("and one\n", s(3)), Some(Outcome::Matched));
        assert_eq!(m.seen, [Some(s(3)), Some(s(1))]);
        assert_eq!(m.last_seen(), Some(s(3)));
    }

    #[test]
    fn refusal_wins_over_expectation_on_the_same_line() {
        let expect = ["boot"];
        let refuse = ["Access Denied"];
        let mut m = Matcher::new(&expect, &refuse);
        assert_eq!(
            m.line("boot: Access Denied\r\n", Duration::ZERO),
            Some(Outcome::Refused("boot: Access Denied".into()))
        );
    }

    #[test]
    fn nothing_expected_never_matches() {
        let mut m = Matcher::new(&[], &[]);
        assert_eq!(m.line("anything\n", Duration::ZERO), None);
    }
}
