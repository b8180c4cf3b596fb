//! One QEMU virtual machine run, watched through its serial console.
//!
//! The machine is a q35 PC with OVMF in two pflash devices (code read-only,
//! a per-run copy of the variables), SMM on and the flash writable only from
//! SMM when the firmware does Secure Boot (without that a guest could rewrite
//! its own key database), no default devices, no network unless a guest
//! forward is asked for ([`VmBuilder::guest_forward`]), raw virtio disks,
//! optionally a TPM 2.0 (swtpm, [`crate::tpm`]), the first serial port
//! logged to a file (and, in interactive mode, also on the terminal).
//! By default ([`VmBuilder::max_boots`] 1) `-no-reboot` turns a reboot into
//! an exit, so a failing guest cannot loop; with more boots allowed QEMU
//! resets the machine in place (same variable store, disks and TPM) and the
//! watcher counts the boots from QEMU's own events ([`crate::qmp`]).
//!
//! Running and watching a VM is [`crate::watch`].

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use crate::{Firmware, QemuError};

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
    pub(crate) echo: bool,
    pub(crate) after_match: Duration,
    serial_log: Option<PathBuf>,
    pub(crate) interactive: bool,
    tpm_socket: Option<PathBuf>,
    /// (prompt, reply): typed on the console when the prompt first appears.
    pub(crate) answers: Vec<(String, String)>,
    /// Boots a run may see: the guest's reboot at the end of the last one
    /// ends the run ([`Outcome::Rebooted`]).
    pub(crate) max_boots: u32,
    forward: Option<GuestForward>,
    extra: Vec<OsString>,
}

/// A TCP address the guest may connect to, each connection relayed by a
/// command of the host (see [`VmBuilder::guest_forward`]).
#[derive(Debug, Clone)]
struct GuestForward {
    guest: std::net::SocketAddrV4,
    command: Vec<OsString>,
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
    /// QEMU exited before every expected string appeared (with no expected
    /// strings: QEMU exited, e.g. the guest powered off).
    Exited(ExitStatus),
    /// The guest rebooted at the end of the last boot allowed
    /// ([`VmBuilder::max_boots`]; QEMU's `SHUTDOWN` event, reason
    /// `guest-reset`), before every expected string appeared.
    Rebooted,
    /// The timeout passed first.
    TimedOut,
}

/// Why one boot of a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootEnd {
    /// The guest rebooted (QMP `RESET` from the guest, or `SHUTDOWN` with
    /// reason `guest-reset`).
    Reboot,
    /// The guest powered off (QMP `SHUTDOWN`, reason `guest-shutdown`).
    PowerOff,
    /// Every expected string had appeared; the run stopped the VM.
    Matched,
    /// A refused string appeared; the run stopped the VM.
    Refused,
    /// The run's timeout passed.
    TimedOut,
    /// QEMU ended for another reason: the `SHUTDOWN` event's reason if
    /// there was one (`host-signal`, `host-qmp-quit`, `guest-panic`, ...),
    /// else `None` (QEMU failed or was killed).
    QemuEnded(Option<String>),
}

impl BootEnd {
    /// A short name for reports: `reboot`, `poweroff`, `matched`,
    /// `refused`, `timeout`, `qemu_ended`.
    pub fn name(&self) -> &'static str {
        match self {
            BootEnd::Reboot => "reboot",
            BootEnd::PowerOff => "poweroff",
            BootEnd::Matched => "matched",
            BootEnd::Refused => "refused",
            BootEnd::TimedOut => "timeout",
            BootEnd::QemuEnded(_) => "qemu_ended",
        }
    }
}

/// One boot of a run: from QEMU's start or the previous reboot to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Boot {
    /// From starting QEMU.
    pub started: Duration,
    pub ended: Duration,
    pub end: BootEnd,
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
    /// QEMU's own messages (at most 64 KiB; empty in interactive mode,
    /// where they go to the terminal).
    pub stderr: String,
    /// For each expected string, in order: when it first appeared, from
    /// starting QEMU (`None`: not seen).
    pub seen: Vec<Option<Duration>>,
    /// Every boot, in order; the last one's end is the run's.
    pub boots: Vec<Boot>,
}

impl RunReport {
    /// The serial console output so far, as text.
    pub fn serial(&self) -> String {
        std::fs::read(&self.serial_log).map_or_else(
            |e| format!("<cannot read serial log: {e}>"),
            |b| String::from_utf8_lossy(&b).into_owned(),
        )
    }

    /// The boot (1-based) during which a moment of the run fell.
    pub fn boot_at(&self, at: Duration) -> usize {
        self.boots.iter().filter(|b| b.started <= at).count().max(1)
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
                serial_log: None,
                interactive: false,
                tpm_socket: None,
                answers: Vec::new(),
                max_boots: 1,
                forward: None,
                extra: Vec::new(),
            },
        }
    }

    /// The serial log of the last run: [`VmBuilder::serial_log`], by default
    /// `serial.log` in the work directory.
    pub fn serial_log(&self) -> PathBuf {
        self.serial_log
            .clone()
            .unwrap_or_else(|| self.work_dir.join("serial.log"))
    }

    pub(crate) fn work_dir(&self) -> &Path {
        &self.work_dir
    }

    pub(crate) fn qemu_program(&self) -> &Path {
        &self.qemu
    }

    pub(crate) fn firmware(&self) -> &Firmware {
        &self.firmware
    }

    pub(crate) fn disk_paths(&self) -> impl Iterator<Item = &Path> {
        self.disks.iter().map(|d| d.path.as_path())
    }

    pub(crate) fn tpm_socket(&self) -> Option<&Path> {
        self.tpm_socket.as_deref()
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

    /// QEMU's arguments (after the program name) for this VM's mode.
    pub fn args(&self) -> Vec<OsString> {
        self.args_for(self.interactive)
    }

    /// QEMU's arguments; `interactive`: the console on the terminal (stdio,
    /// with QEMU's Ctrl-A escapes) as well as in the log, else only in the log.
    pub(crate) fn args_for(&self, interactive: bool) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |parts: &[&str]| a.extend(parts.iter().map(OsString::from));
        push(&["-nodefaults"]);
        if self.max_boots == 1 {
            push(&["-no-reboot"]);
        }
        push(&["-display", "none", "-monitor", "none"]);
        let machine = if self.firmware.secure {
            "q35,smm=on"
        } else {
            "q35"
        };
        push(&["-machine", machine]);
        match self.accel() {
            Accel::Kvm => push(&["-accel", "kvm", "-cpu", "host"]),
            // max: AES-NI and SHA extensions for the guest's dm-crypt.
            _ => push(&["-accel", "tcg", "-cpu", "max"]),
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
        if let Some(fwd) = &self.forward {
            // User networking with restrict=on: the guest gets DHCP from
            // QEMU and reaches nothing but the forward, whose connections
            // QEMU hands one by one to a new process of the command
            // (libslirp parses it with g_shell_parse_argv).
            let command: Vec<String> = fwd.command.iter().map(|a| shell_quote(a)).collect();
            let mut netdev = OsString::from(format!(
                "user,id=net0,restrict=on,guestfwd=tcp:{}:{}-cmd:",
                fwd.guest.ip(),
                fwd.guest.port()
            ));
            netdev.push(command.join(" ").replace(',', ",,"));
            a.push("-netdev".into());
            a.push(netdev);
            // No option ROM: the firmware's own virtio-net driver is enough.
            a.extend(["-device", "virtio-net-pci,netdev=net0,romfile="].map(OsString::from));
        }
        if let Some(socket) = &self.tpm_socket {
            // TPM 2.0 TIS interface backed by swtpm's control socket.
            a.push("-chardev".into());
            a.push(drive_arg("socket,id=chrtpm,path=", socket));
            a.extend(
                [
                    "-tpmdev",
                    "emulator,id=tpm0,chardev=chrtpm",
                    "-device",
                    "tpm-tis,tpmdev=tpm0",
                ]
                .map(OsString::from),
            );
        }
        // The console: a plain file, or the terminal through a multiplexer
        // (which gives Ctrl-A X to quit) with a copy in the file. Ctrl-C
        // goes to the guest (signal=off).
        a.push("-chardev".into());
        a.push(if interactive {
            drive_arg(
                "stdio,id=console,mux=on,signal=off,logappend=off,logfile=",
                &self.serial_log(),
            )
        } else if !self.answers.is_empty() {
            // Typed answers go in through QEMU's stdin; the log is the
            // same file as without them.
            drive_arg(
                "stdio,id=console,signal=off,logappend=off,logfile=",
                &self.serial_log(),
            )
        } else {
            drive_arg("file,id=console,path=", &self.serial_log())
        });
        a.extend(["-serial", "chardev:console"].map(OsString::from));
        a.extend(self.extra.iter().cloned());
        a
    }

    /// The command as a shell script, one option and its value per line,
    /// with the console on the terminal.
    pub(crate) fn script(&self, qemu: &Path) -> String {
        let mut script = format!(
            "#!/bin/sh\n# The QEMU command of the run logged in {}\nexec {}",
            self.serial_log().display(),
            shell_quote(qemu.as_os_str())
        );
        for a in self.args_for(true) {
            let new_line = a.to_string_lossy().starts_with('-');
            script.push_str(if new_line { " \\\n    " } else { " " });
            script.push_str(&shell_quote(&a));
        }
        script.push('\n');
        script
    }

    pub(crate) fn accel(&self) -> Accel {
        match self.accel {
            Accel::Auto if kvm_usable() => Accel::Kvm,
            Accel::Auto => Accel::Tcg,
            other => other,
        }
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
    /// Also copy the console to stderr as it arrives (ignored in
    /// interactive mode, where it is on the terminal already).
    pub fn echo(mut self, echo: bool) -> Self {
        self.vm.echo = echo;
        self
    }
    /// Where the serial console is logged (default: `serial.log` in the
    /// work directory). Rewritten by every run.
    pub fn serial_log(mut self, path: impl Into<PathBuf>) -> Self {
        self.vm.serial_log = Some(path.into());
        self
    }
    /// Console on the terminal: QEMU reads stdin and writes stdout itself
    /// (Ctrl-A X quits), the log and the watching go on as usual.
    pub fn interactive(mut self, on: bool) -> Self {
        self.vm.interactive = on;
        self
    }
    /// A TPM 2.0 backed by the swtpm control socket at `socket`
    /// ([`crate::tpm::Swtpm::socket`]).
    pub fn tpm(mut self, socket: impl Into<PathBuf>) -> Self {
        self.vm.tpm_socket = Some(socket.into());
        self
    }
    /// How long QEMU may go on after a match before it is killed.
    /// Types `reply` and Enter on the console the first time a console line
    /// contains `prompt` (also an unfinished line: a prompt waits for its
    /// answer). Not with [`VmBuilder::interactive`], where a person types.
    pub fn answer(mut self, prompt: impl Into<String>, reply: impl Into<String>) -> Self {
        self.vm.answers.push((prompt.into(), reply.into()));
        self
    }

    /// How many boots a run follows (default 1): the guest's reboots before
    /// the last one reset the machine in place (the variable store, disks
    /// and TPM carry over) and the watching goes on; a reboot at the end of
    /// the last one ends the run with [`Outcome::Rebooted`]. With 1, QEMU
    /// runs with `-no-reboot`.
    pub fn max_boots(mut self, boots: u32) -> Self {
        self.vm.max_boots = boots;
        self
    }

    /// A virtio NIC on QEMU's user network with `restrict=on`: the guest
    /// reaches only `guest` (e.g. 10.0.2.100:80), and each TCP connection to
    /// it runs `command` (program and arguments) with the connection as its
    /// stdin and stdout. Without this the VM has no network device at all.
    pub fn guest_forward(
        mut self,
        guest: std::net::SocketAddrV4,
        command: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> Self {
        self.vm.forward = Some(GuestForward {
            guest,
            command: command.into_iter().map(Into::into).collect(),
        });
        self
    }

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
        let default_qemu = self.vm.qemu == Path::new("qemu-system-x86_64");
        if let Some(q) = std::env::var_os("CLIP_QEMU").filter(|_| default_qemu) {
            self.vm.qemu = q.into();
        }
        if self.vm.memory_mib < 128 {
            return Err(QemuError::Config(format!(
                "{} MiB of memory is too little for OVMF (at least 128)",
                self.vm.memory_mib
            )));
        }
        if self.vm.max_boots == 0 {
            return Err(QemuError::Config("at least one boot".into()));
        }
        if self
            .vm
            .forward
            .as_ref()
            .is_some_and(|f| f.command.is_empty())
        {
            return Err(QemuError::Config("a guest forward needs a command".into()));
        }
        if self.vm.cpus == 0 {
            return Err(QemuError::Config("at least one CPU".into()));
        }
        Ok(self.vm)
    }
}

pub(crate) fn kvm_usable() -> bool {
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
pub(crate) fn drive_arg(prefix: &str, path: &Path) -> OsString {
    let mut s = OsString::from(prefix);
    s.push(path.as_os_str().to_string_lossy().replace(',', ",,"));
    s
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
        let following = Vm::builder(fw(), "/w").max_boots(2).build().unwrap();
        assert!(
            !following.args().contains(&OsString::from("-no-reboot")),
            "QEMU resets the machine in place"
        );
        assert!(Vm::builder(fw(), "/w").max_boots(0).build().is_err());
    }

    #[test]
    fn console_tpm_and_log_arguments() {
        let vm = Vm::builder(fw(), "/w")
            .serial_log("/logs/serial,1.log")
            .tpm("/run/tpm/ctrl.sock")
            .build()
            .unwrap();
        let joined = |vm: &Vm, interactive| {
            vm.args_for(interactive)
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let quiet = joined(&vm, false);
        assert!(
            quiet.contains(
                "-chardev file,id=console,path=/logs/serial,,1.log -serial chardev:console"
            ),
            "{quiet}"
        );
        assert!(quiet.contains("-chardev socket,id=chrtpm,path=/run/tpm/ctrl.sock"));
        assert!(
            quiet.contains("-tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0")
        );
        let tty = joined(&vm, true);
        assert!(
            tty.contains(
                "stdio,id=console,mux=on,signal=off,logappend=off,logfile=/logs/serial,,1.log"
            ),
            "{tty}"
        );
        assert_eq!(vm.serial_log(), Path::new("/logs/serial,1.log"));
        let plain = Vm::builder(fw(), "/w").build().unwrap();
        assert_eq!(plain.serial_log(), Path::new("/w/serial.log"));
        assert!(!joined(&plain, false).contains("tpm"));
    }

    #[test]
    fn network_only_with_a_restricted_forward() {
        let joined = |vm: &Vm| {
            vm.args()
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let plain = joined(&Vm::builder(fw(), "/w").build().unwrap());
        assert!(
            !plain.contains("-netdev") && !plain.contains("-net"),
            "{plain}"
        );
        assert!(!plain.contains("virtio-net"), "{plain}");
        let vm = Vm::builder(fw(), "/w")
            .guest_forward(
                "10.0.2.100:80".parse().unwrap(),
                ["/opt/my tools,1/relay", "127.0.0.1:8080"],
            )
            .build()
            .unwrap();
        assert!(
            joined(&vm).contains(
                "-netdev user,id=net0,restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:'/opt/my tools,,1/relay' 127.0.0.1:8080 \
                 -device virtio-net-pci,netdev=net0,romfile="
            ),
            "{}",
            joined(&vm)
        );
        let none: [&str; 0] = [];
        assert!(
            Vm::builder(fw(), "/w")
                .guest_forward("10.0.2.100:80".parse().unwrap(), none)
                .build()
                .is_err()
        );
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
