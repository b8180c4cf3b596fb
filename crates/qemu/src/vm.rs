//! One QEMU virtual machine run, watched through its serial console.
//!
//! The machine is a q35 PC with OVMF in two pflash devices (code read-only,
//! a per-run copy of the variables), SMM on and the flash writable only from
//! SMM when the firmware does Secure Boot (without that a guest could rewrite
//! its own key database), no default devices, no network, raw virtio disks,
//! the first serial port on QEMU's stdout. `-no-reboot` turns a reboot into
//! an exit, so a failing guest cannot loop.
//!
//! [`Vm::run`] copies every console line to `serial.log` in the work
//! directory and returns as soon as a refused string appears, all expected
//! strings appeared, QEMU exited or the timeout passed. QEMU runs under
//! coreutils `timeout` as a backstop (timeout + 30 s) in its own process
//! group; the group is killed before `run` returns, also on error or panic.

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::{Firmware, QemuError, io_err, which};

/// Extra time the `timeout` backstop gives QEMU beyond the run's timeout.
const BACKSTOP_MARGIN: Duration = Duration::from_secs(30);
/// How much of QEMU's stderr is kept for reports.
const STDERR_LIMIT: usize = 64 << 10;

/// How the guest CPU is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// KVM when /dev/kvm can be opened and the CPU flags show hardware
    /// virtualization (vmx/svm), else TCG. (Some sandboxes have a /dev/kvm
    /// that opens but cannot run a guest.)
    Auto,
    Kvm,
    /// Pure emulation (slow: a kernel boot takes seconds, not milliseconds).
    Tcg,
}

#[derive(Debug, Clone)]
struct Disk {
    path: PathBuf,
    /// Writes go to a temporary overlay, never to the image.
    snapshot: bool,
}

/// A VM description; build it with [`Vm::builder`].
#[derive(Debug, Clone)]
pub struct Vm {
    qemu: PathBuf,
    firmware: Firmware,
    work_dir: PathBuf,
    memory_mib: u32,
    cpus: u32,
    accel: Accel,
    disks: Vec<Disk>,
    echo: bool,
    after_match: Duration,
    extra: Vec<OsString>,
}

/// Builder for [`Vm`].
#[derive(Debug)]
pub struct VmBuilder {
    vm: Vm,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every expected string appeared on the console.
    Matched,
    /// A refused string appeared; the whole console line.
    Refused(String),
    /// QEMU exited before every expected string appeared.
    Exited(ExitStatus),
    /// The timeout passed first.
    TimedOut,
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub outcome: Outcome,
    /// Everything the guest wrote to its serial console.
    pub serial_log: PathBuf,
    /// From starting QEMU to the outcome (for `Matched`, to the last
    /// expected string).
    pub elapsed: Duration,
    /// QEMU's exit status if it exited by itself (after a match, within the
    /// [`VmBuilder::after_match`] grace time).
    pub exit_status: Option<ExitStatus>,
    /// QEMU's own messages (at most 64 KiB).
    pub stderr: String,
}

impl RunReport {
    /// The serial console output so far, as text.
    pub fn serial(&self) -> String {
        std::fs::read(&self.serial_log).map_or_else(
            |e| format!("<cannot read serial log: {e}>"),
            |b| String::from_utf8_lossy(&b).into_owned(),
        )
    }
}

impl Vm {
    /// A VM with `firmware`, keeping its files (variables copy, serial log)
    /// in `work_dir`. Defaults: 512 MiB, one CPU, [`Accel::Tcg`] (the same
    /// everywhere; choose [`Accel::Auto`] for speed), no disks.
    pub fn builder(firmware: Firmware, work_dir: impl Into<PathBuf>) -> VmBuilder {
        VmBuilder {
            vm: Vm {
                qemu: PathBuf::from("qemu-system-x86_64"),
                firmware,
                work_dir: work_dir.into(),
                memory_mib: 512,
                cpus: 1,
                accel: Accel::Tcg,
                disks: Vec::new(),
                echo: false,
                after_match: Duration::from_secs(20),
                extra: Vec::new(),
            },
        }
    }

    /// The serial log of the last run.
    pub fn serial_log(&self) -> PathBuf {
        self.work_dir.join("serial.log")
    }

    /// The per-run copy of the firmware variables.
    pub fn vars_copy(&self) -> PathBuf {
        self.work_dir.join("vars.fd")
    }

    /// A shell script with the QEMU command of the last run, to boot the
    /// same machine by hand (the console is the terminal).
    pub fn command_file(&self) -> PathBuf {
        self.work_dir.join("qemu-command")
    }

    /// QEMU's arguments (after the program name), for logs and for running
    /// the same machine by hand.
    pub fn args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |parts: &[&str]| a.extend(parts.iter().map(OsString::from));
        push(&[
            "-nodefaults",
            "-no-reboot",
            "-display",
            "none",
            "-monitor",
            "none",
        ]);
        let machine = if self.firmware.secure {
            "q35,smm=on"
        } else {
            "q35"
        };
        push(&["-machine", machine]);
        match self.accel() {
            Accel::Kvm => push(&["-accel", "kvm", "-cpu", "host"]),
            _ => push(&["-accel", "tcg"]),
        }
        push(&[
            "-m",
            &self.memory_mib.to_string(),
            "-smp",
            &self.cpus.to_string(),
        ]);
        if self.firmware.secure {
            push(&["-global", "driver=cfi.pflash01,property=secure,value=on"]);
        }
        a.push("-drive".into());
        a.push(drive_arg(
            "if=pflash,format=raw,unit=0,readonly=on,file=",
            &self.firmware.code,
        ));
        a.push("-drive".into());
        a.push(drive_arg(
            "if=pflash,format=raw,unit=1,file=",
            &self.vars_copy(),
        ));
        for d in &self.disks {
            let opts = if d.snapshot {
                "if=virtio,format=raw,snapshot=on,file="
            } else {
                "if=virtio,format=raw,file="
            };
            a.push("-drive".into());
            a.push(drive_arg(opts, &d.path));
        }
        a.extend(
            [
                "-chardev",
                "stdio,id=console,signal=off",
                "-serial",
                "chardev:console",
            ]
            .map(OsString::from),
        );
        a.extend(self.extra.iter().cloned());
        a
    }

    /// The command as a shell script, one option and its value per line.
    fn script(&self, qemu: &Path) -> String {
        let mut script = format!(
            "#!/bin/sh\n# The QEMU command of the run logged in {}\nexec {}",
            self.serial_log().display(),
            shell_quote(qemu.as_os_str())
        );
        for a in self.args() {
            let new_line = a.to_string_lossy().starts_with('-');
            script.push_str(if new_line { " \\\n    " } else { " " });
            script.push_str(&shell_quote(&a));
        }
        script.push('\n');
        script
    }

    fn accel(&self) -> Accel {
        match self.accel {
            Accel::Auto if kvm_usable() => Accel::Kvm,
            Accel::Auto => Accel::Tcg,
            other => other,
        }
    }

    /// Boots the VM and watches the console: returns [`Outcome::Refused`] as
    /// soon as a line contains one of `refuse`, [`Outcome::Matched`] once
    /// every string of `expect` was seen (then gives QEMU the
    /// [`VmBuilder::after_match`] time to exit by itself), and otherwise how
    /// QEMU ended or [`Outcome::TimedOut`] after `timeout`. QEMU is not
    /// running any more when this returns.
    pub fn run(
        &self,
        expect: &[&str],
        refuse: &[&str],
        timeout: Duration,
    ) -> Result<RunReport, QemuError> {
        let qemu = which(&self.qemu.to_string_lossy()).ok_or_else(|| QemuError::NotFound {
            program: self.qemu.display().to_string(),
            package: "qemu-system-x86",
        })?;
        for (what, path) in [
            ("firmware code", &self.firmware.code),
            ("firmware variables", &self.firmware.vars),
        ] {
            if !path.is_file() {
                return Err(QemuError::Config(format!(
                    "{what} {} is not a file",
                    path.display()
                )));
            }
        }
        for d in &self.disks {
            if !d.path.is_file() {
                return Err(QemuError::Config(format!(
                    "disk image {} is not a file",
                    d.path.display()
                )));
            }
        }
        std::fs::create_dir_all(&self.work_dir).map_err(io_err("create", &self.work_dir))?;
        std::fs::copy(&self.firmware.vars, self.vars_copy())
            .map_err(io_err("copy firmware variables to", self.vars_copy()))?;
        let log_path = self.serial_log();
        let log = File::create(&log_path).map_err(io_err("create", &log_path))?;
        std::fs::write(self.command_file(), self.script(&qemu))
            .map_err(io_err("write", self.command_file()))?;

        let backstop = timeout + self.after_match + BACKSTOP_MARGIN;
        let mut cmd = Command::new("timeout");
        cmd.arg("--signal=KILL")
            .arg(format!("{}s", backstop.as_secs()))
            .arg(&qemu)
            .args(self.args())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        tracing::info!(command = ?cmd, "starting QEMU");
        let start = Instant::now();
        let child = cmd.spawn().map_err(|source| QemuError::Spawn {
            program: format!("timeout {}", qemu.display()),
            source,
        })?;
        let mut guard = Running { child };

        let stdout = guard
            .child
            .stdout
            .take()
            .ok_or_else(|| QemuError::Config("no stdout pipe".into()))?;
        let stderr = guard
            .child
            .stderr
            .take()
            .ok_or_else(|| QemuError::Config("no stderr pipe".into()))?;
        let (tx, rx) = mpsc::channel();
        let echo = self.echo;
        let out_thread = std::thread::spawn(move || pump_lines(stdout, log, echo, &tx));
        let err_thread = std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stderr
                .take(u64::try_from(STDERR_LIMIT).unwrap_or(u64::MAX))
                .read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        });

        let deadline = start + timeout;
        let mut seen = vec![false; expect.len()];
        let mut outcome = None;
        let mut elapsed = Duration::ZERO;
        let mut exit_status = None;
        while outcome.is_none() {
            let now = Instant::now();
            if now >= deadline {
                outcome = Some(Outcome::TimedOut);
                elapsed = now - start;
                break;
            }
            match rx.recv_timeout(deadline - now) {
                Ok(line) => {
                    if let Some(r) = refuse.iter().find(|r| line.contains(**r)) {
                        tracing::debug!(refused = r, %line, "refused line on the console");
                        outcome = Some(Outcome::Refused(line.trim_end().to_owned()));
                    } else {
                        for (s, e) in seen.iter_mut().zip(expect) {
                            *s |= line.contains(e);
                        }
                        if !expect.is_empty() && seen.iter().all(|s| *s) {
                            outcome = Some(Outcome::Matched);
                        }
                    }
                    elapsed = start.elapsed();
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // stdout closed: QEMU is exiting.
                    let status = guard.wait_bounded(Duration::from_secs(10));
                    elapsed = start.elapsed();
                    match status {
                        Some(st) => {
                            exit_status = Some(st);
                            outcome = Some(Outcome::Exited(st));
                        }
                        None => outcome = Some(Outcome::TimedOut),
                    }
                }
            }
        }
        if outcome == Some(Outcome::Matched) && exit_status.is_none() {
            // Let the guest finish (power off) so the log is complete.
            exit_status = guard.wait_bounded(self.after_match);
        }
        drop(guard); // kills QEMU if still running
        drop(rx);
        let _ = out_thread.join();
        let stderr = err_thread.join().unwrap_or_default();
        Ok(RunReport {
            outcome: outcome.unwrap_or(Outcome::TimedOut),
            serial_log: log_path,
            elapsed,
            exit_status,
            stderr,
        })
    }
}

impl VmBuilder {
    /// QEMU program (name on `$PATH` or path); `CLIP_QEMU` overrides the default.
    pub fn qemu(mut self, program: impl Into<PathBuf>) -> Self {
        self.vm.qemu = program.into();
        self
    }
    pub fn memory_mib(mut self, mib: u32) -> Self {
        self.vm.memory_mib = mib;
        self
    }
    pub fn cpus(mut self, n: u32) -> Self {
        self.vm.cpus = n;
        self
    }
    pub fn accel(mut self, accel: Accel) -> Self {
        self.vm.accel = accel;
        self
    }
    /// Adds a raw virtio disk; with `snapshot` the image is never written.
    pub fn disk(mut self, path: impl Into<PathBuf>, snapshot: bool) -> Self {
        self.vm.disks.push(Disk {
            path: path.into(),
            snapshot,
        });
        self
    }
    /// Also copy the console to stderr as it arrives (for interactive use).
    pub fn echo(mut self, echo: bool) -> Self {
        self.vm.echo = echo;
        self
    }
    /// How long QEMU may go on after a match before it is killed.
    pub fn after_match(mut self, grace: Duration) -> Self {
        self.vm.after_match = grace;
        self
    }
    /// Extra QEMU arguments, appended last.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.vm.extra.push(arg.into());
        self
    }
    pub fn build(mut self) -> Result<Vm, QemuError> {
        if let Some(q) = std::env::var_os("CLIP_QEMU") {
            if self.vm.qemu == Path::new("qemu-system-x86_64") {
                self.vm.qemu = q.into();
            }
        }
        if self.vm.memory_mib < 128 {
            return Err(QemuError::Config(format!(
                "{} MiB of memory is too little for OVMF (at least 128)",
                self.vm.memory_mib
            )));
        }
        if self.vm.cpus == 0 {
            return Err(QemuError::Config("at least one CPU".into()));
        }
        Ok(self.vm)
    }
}

fn kvm_usable() -> bool {
    let hw = std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| {
        c.lines()
            .filter(|l| l.starts_with("flags"))
            .any(|l| l.split_whitespace().any(|f| f == "vmx" || f == "svm"))
    });
    hw && File::options()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// `s` in single quotes for sh, unless it is made of safe characters only.
fn shell_quote(s: &std::ffi::OsStr) -> String {
    let s = s.to_string_lossy();
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=,:+@%".contains(&b))
    {
        return s.into_owned();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `prefix` followed by `path` with commas doubled (QEMU's option escaping).
fn drive_arg(prefix: &str, path: &Path) -> OsString {
    let mut s = OsString::from(prefix);
    s.push(path.as_os_str().to_string_lossy().replace(',', ",,"));
    s
}

/// Copies console bytes to the log (and stderr), sends each line.
fn pump_lines(stdout: impl Read, mut log: File, echo: bool, tx: &mpsc::Sender<String>) {
    let mut reader = BufReader::new(stdout);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let _ = log.write_all(&buf);
                if echo {
                    let _ = std::io::stderr().write_all(&buf);
                }
                // The firmware ends lines with \r\n and sprinkles terminal
                // escapes; matching is by substring, so they do no harm.
                if tx.send(String::from_utf8_lossy(&buf).into_owned()).is_err() {
                    // The watcher is gone; keep logging until EOF.
                    let _ = std::io::copy(&mut reader, &mut log);
                    break;
                }
            }
        }
    }
    let _ = log.flush();
}

/// The `timeout` process (its own process group, QEMU inside).
struct Running {
    child: Child,
}

impl Running {
    /// Waits at most `limit` for the process to exit.
    fn wait_bounded(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(st)) => return Some(st),
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(50)),
                _ => return None,
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGKILL the whole group: `timeout` and QEMU together.
            let pid = rustix::process::Pid::from_child(&self.child);
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fw() -> Firmware {
        Firmware {
            code: "/fw/CODE.fd".into(),
            vars: "/fw/VARS.fd".into(),
            secure: true,
        }
    }

    #[test]
    fn secure_firmware_gets_smm_and_secure_flash() {
        let vm = Vm::builder(fw(), "/w")
            .accel(Accel::Tcg)
            .disk("/img/esp,1.img", true)
            .build()
            .unwrap();
        let args: Vec<String> = vm
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("-machine q35,smm=on"), "{joined}");
        assert!(joined.contains("-global driver=cfi.pflash01,property=secure,value=on"));
        assert!(joined.contains("if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd"));
        assert!(
            joined.contains("if=pflash,format=raw,unit=1,file=/w/vars.fd"),
            "per-run copy"
        );
        assert!(
            joined.contains("file=/img/esp,,1.img"),
            "comma escaped: {joined}"
        );
        assert!(args.contains(&"-no-reboot".to_owned()));
        assert!(args.contains(&"-nodefaults".to_owned()));
    }

    #[test]
    fn command_script_pairs_options_with_values() {
        let vm = Vm::builder(fw(), "/w").build().unwrap();
        let script = vm.script(Path::new("/usr/bin/qemu-system-x86_64"));
        assert!(script.starts_with("#!/bin/sh\n"));
        assert!(script.contains("exec /usr/bin/qemu-system-x86_64 \\\n    -nodefaults \\\n"));
        assert!(script.contains("\n    -m 512 \\\n"), "{script}");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("-m".as_ref()), "-m");
        assert_eq!(shell_quote("a b".as_ref()), "'a b'");
        assert_eq!(shell_quote("it's".as_ref()), "'it'\\''s'");
        assert_eq!(shell_quote("".as_ref()), "''");
    }

    #[test]
    fn plain_firmware_has_no_smm() {
        let vm = Vm::builder(
            Firmware {
                secure: false,
                ..fw()
            },
            "/w",
        )
        .accel(Accel::Tcg)
        .build()
        .unwrap();
        let joined: String = vm
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        assert!(joined.contains("-machine q35 "));
        assert!(!joined.contains("secure,value=on"));
    }

    #[test]
    fn bad_configurations_are_refused() {
        assert!(Vm::builder(fw(), "/w").memory_mib(64).build().is_err());
        assert!(Vm::builder(fw(), "/w").cpus(0).build().is_err());
        let vm = Vm::builder(fw(), "/w").build().unwrap();
        let err = vm.run(&["x"], &[], Duration::from_secs(1)).unwrap_err();
        assert!(
            err.to_string().contains("/fw/CODE.fd") || err.to_string().contains("qemu"),
            "{err}"
        );
    }
}
