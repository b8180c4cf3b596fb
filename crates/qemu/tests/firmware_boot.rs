//! Real QEMU + OVMF runs without a guest OS: the firmware alone reaches its
//! boot manager in a few seconds under TCG, which is enough to check the
//! outcomes of `Vm::run`, that no QEMU survives it, and that enrolled
//! variables put the firmware in Secure Boot mode (it then refuses to start
//! its own unsigned UEFI Shell).
//!
//! Needs qemu-system-x86, ovmf, python3-virt-firmware and openssl; a missing
//! one fails the test.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use qemu::{Firmware, Outcome, SecureBootKeys, Vm};

const TIMEOUT: Duration = Duration::from_secs(120);

fn vm(fw: Firmware, dir: &Path) -> Vm {
    Vm::builder(fw, dir)
        .memory_mib(256)
        .after_match(Duration::ZERO)
        .build()
        .unwrap()
}

/// Processes whose command line mentions `dir` (each run's vars copy is in it).
fn processes_using(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(&needle) {
                found.push(format!(
                    "{}: {cmdline}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    found
}

#[test]
fn firmware_reaches_the_boot_manager_and_qemu_is_gone_after() {
    let dir = tempfile::tempdir().unwrap();
    let fw = Firmware::ovmf_secboot().unwrap();
    // Setup Mode (no keys): the firmware starts its built-in UEFI Shell.
    let report = vm(fw, dir.path())
        .run(
            &["BdsDxe: starting", "UEFI Interactive Shell"],
            &["Security Violation", "Access Denied"],
            TIMEOUT,
        )
        .unwrap();
    assert_eq!(
        report.outcome,
        Outcome::Matched,
        "{}\n{}",
        report.serial(),
        report.stderr
    );
    assert!(report.elapsed < TIMEOUT);
    assert!(report.serial().contains("UEFI Interactive Shell"));
    assert_eq!(processes_using(dir.path()), Vec::<String>::new());
}

#[test]
fn timeout_kills_qemu() {
    let dir = tempfile::tempdir().unwrap();
    let fw = Firmware::ovmf_secboot().unwrap();
    let started = std::time::Instant::now();
    let report = vm(fw, dir.path())
        .run(&["this never appears"], &[], Duration::from_secs(3))
        .unwrap();
    assert_eq!(report.outcome, Outcome::TimedOut);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(processes_using(dir.path()), Vec::<String>::new());
}

#[test]
fn qemu_errors_end_the_run_as_exited() {
    let dir = tempfile::tempdir().unwrap();
    let fw = Firmware::ovmf_secboot().unwrap();
    let vm = Vm::builder(fw, dir.path())
        .arg("-no-such-option")
        .build()
        .unwrap();
    let report = vm.run(&["x"], &[], TIMEOUT).unwrap();
    assert!(
        matches!(report.outcome, Outcome::Exited(st) if !st.success()),
        "{:?}",
        report.outcome
    );
    assert!(
        report.stderr.contains("no-such-option"),
        "{}",
        report.stderr
    );
}

fn openssl_cert(dir: &Path, name: &str) -> std::path::PathBuf {
    let crt = dir.join(format!("{name}.crt"));
    let status = Command::new("openssl")
        .args([
            "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
        ])
        .args(["-days", "30", "-subj", &format!("/CN=qemu test {name}/")])
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(&crt)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl (the reference tool for test certificates) must be installed");
    assert!(status.success());
    crt
}

#[test]
fn enrolled_keys_turn_secure_boot_on() {
    let dir = tempfile::tempdir().unwrap();
    let keys = SecureBootKeys {
        owner: "3b4a6f7e-5c1d-4d2e-9f80-1a2b3c4d5e6f".into(),
        pk: openssl_cert(dir.path(), "PK"),
        kek: vec![openssl_cert(dir.path(), "KEK")],
        db: vec![openssl_cert(dir.path(), "db")],
    };
    let fw = Firmware::ovmf_secboot().unwrap();
    let cache = dir.path().join("cache");
    let vars = qemu::firmware::enroll_cached(&fw.vars, &keys, &cache).unwrap();
    let modified = std::fs::metadata(&vars).unwrap().modified().unwrap();
    // Same inputs: the cached store, untouched.
    let again = qemu::firmware::enroll_cached(&fw.vars, &keys, &cache).unwrap();
    assert_eq!(vars, again);
    assert_eq!(
        std::fs::metadata(&again).unwrap().modified().unwrap(),
        modified
    );
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        1,
        "no temporary left"
    );

    // With Secure Boot on, the firmware refuses its own unsigned shell.
    let run_dir = dir.path().join("run");
    let report = vm(fw.with_vars(&vars), &run_dir)
        .run(
            &["UEFI Interactive Shell"],
            &["Security Violation"],
            TIMEOUT,
        )
        .unwrap();
    match &report.outcome {
        Outcome::Refused(line) => assert!(line.contains("EFI Internal Shell"), "{line}"),
        other => panic!("expected a refusal, got {other:?}:\n{}", report.serial()),
    }
    assert_eq!(processes_using(&run_dir), Vec::<String>::new());
}

#[test]
fn answers_are_typed_on_the_console_when_their_prompt_shows() {
    let dir = tempfile::tempdir().unwrap();
    let fw = Firmware::ovmf_secboot().unwrap();
    // The UEFI Shell of Setup Mode: a variable set by one answer and read
    // by the next. "world" is in neither typed line, only in the shell's
    // output, so seeing it proves the typing reached the guest.
    let vm = Vm::builder(fw, dir.path())
        .memory_mib(256)
        .after_match(Duration::ZERO)
        .answer("Shell>", "set -v CLIPANSWER wor")
        .answer("Shell>", "echo %CLIPANSWER%ld")
        .build()
        .unwrap();
    let report = vm.run(&["world"], &[], TIMEOUT).unwrap();
    assert_eq!(
        report.outcome,
        Outcome::Matched,
        "{}\n{}",
        report.serial(),
        report.stderr
    );
    assert_eq!(processes_using(dir.path()), Vec::<String>::new());
}

#[test]
fn reboots_and_power_offs_are_told_apart_by_qemu_events() {
    use qemu::{Boot, BootEnd};
    let fw = Firmware::ovmf_secboot().unwrap();
    // The UEFI Shell of Setup Mode, told to reset (a reboot) or `reset -s`
    // (a power-off); answers are typed once, so a second boot waits at
    // its prompt.
    let run = |max_boots: u32, command: &str, timeout: Duration| {
        let dir = tempfile::tempdir().unwrap();
        let report = Vm::builder(fw.clone(), dir.path())
            .memory_mib(256)
            .after_match(Duration::ZERO)
            .max_boots(max_boots)
            .answer("Shell>", command)
            .build()
            .unwrap()
            .run(&["this never appears"], &[], timeout)
            .unwrap();
        assert_eq!(processes_using(dir.path()), Vec::<String>::new());
        let ends: Vec<BootEnd> = report.boots.iter().map(|b| b.end.clone()).collect();
        let serial = report.serial();
        (report, ends, serial)
    };
    // One boot allowed (-no-reboot): the reboot ends the run.
    let (report, ends, serial) = run(1, "reset", TIMEOUT);
    assert_eq!(report.outcome, Outcome::Rebooted, "{serial}");
    assert_eq!(ends, [BootEnd::Reboot]);
    // A power-off is not a reboot.
    let (report, ends, _) = run(1, "reset -s", TIMEOUT);
    assert!(
        matches!(report.outcome, Outcome::Exited(st) if st.success()),
        "{:?}",
        report.outcome
    );
    assert_eq!(ends, [BootEnd::PowerOff]);
    // Two boots allowed: the machine is reset in place and the run goes
    // on into the second boot, which reaches the shell again and waits.
    let (report, ends, serial) = run(2, "reset", Duration::from_secs(60));
    assert_eq!(report.outcome, Outcome::TimedOut, "{serial}");
    assert_eq!(ends, [BootEnd::Reboot, BootEnd::TimedOut]);
    let [first, second]: [Boot; 2] = report.boots.clone().try_into().unwrap();
    assert_eq!(first.ended, second.started);
    assert_eq!(
        serial.matches("UEFI Interactive Shell").count(),
        2,
        "the shell's banner once a boot:\n{serial}"
    );
}
