//! The Secure Boot chain on real firmware: QEMU (TCG) + OVMF with our keys
//! enrolled and Secure Boot enforced.
//!
//! A UKI is assembled by `clip uki build` from Debian trixie's systemd-stub
//! (systemd-boot-efi) and kernel (linux-image-amd64), fetched with
//! scripts/fetch-deb, and a tiny initramfs (crates/cpio) whose /init is
//! programs/testinit. It is put on a FAT ESP (crates/esp) as
//! \EFI\BOOT\BOOTX64.EFI and booted four times:
//!
//! 1. signed by `clip sign` with the db key of the enrolled `clip keys
//!    generate` set: boots; testinit reports the kernel saw Secure Boot
//!    enabled and locked itself down, and that the command line is ours;
//! 2. unsigned: the firmware refuses it ("BdsDxe: failed to load ... Access
//!    Denied") and the kernel never runs;
//! 3. signed by `clip sign` with a key and certificate that are not
//!    enrolled (made by openssl): refused likewise;
//! 4. control: the unsigned UKI under the same firmware without keys (Setup
//!    Mode) boots and reports Secure Boot disabled, so the refusals above are
//!    Secure Boot's doing, not a broken image.
//!
//! Needs qemu-system-x86, ovmf, python3-virt-firmware (bookworm-backports),
//! openssl, network access to deb.debian.org the first time (cached in
//! $CLIP_CACHE), and a Rust toolchain able to link static glibc binaries
//! (the x86_64-unknown-linux-gnu target with crt-static). Each boot takes
//! 10–20 s under TCG; every wait is bounded by BOOT_TIMEOUT. Set
//! CLIP_KEEP_TEST_DIR=1 to keep the work directory. See docs/testing-qemu.md.

mod testinit_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use qemu::{Firmware, Outcome, RunReport, SecureBootKeys, Vm};
use testinit_support::{checked as run, testinit_uki};

const BOOT_TIMEOUT: Duration = Duration::from_secs(240);
/// What the firmware prints when Secure Boot stops an image (EDK2 BdsDxe:
/// `failed to load Boot0001 "..." from ...: Access Denied`; images it may
/// not even start give "Security Violation").
const REFUSALS: &[&str] = &["Access Denied", "Security Violation"];
const BOOTED: &str = "CLIP-TESTINIT: booted";

fn clip(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_clip"));
    for a in args {
        cmd.arg(a);
    }
    run(&mut cmd)
}

/// An ESP image holding `bootx64` as the removable-media loader.
fn esp_with(dir: &Path, name: &str, bootx64: &Path) -> PathBuf {
    let mut esp = esp::Esp::new();
    esp.add(esp::BOOT_X64, std::fs::read(bootx64).unwrap())
        .unwrap();
    let image = esp.build(esp.suggested_size()).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, image).unwrap();
    path
}

fn boot(fw: &Firmware, esp: &Path, run_dir: &Path, expect: &[&str]) -> RunReport {
    let vm = Vm::builder(fw.clone(), run_dir)
        .memory_mib(512)
        .disk(esp, true)
        .after_match(Duration::from_secs(30))
        .build()
        .unwrap();
    let refuse: Vec<&str> = REFUSALS.iter().copied().chain(["Kernel panic"]).collect();
    vm.run(expect, &refuse, BOOT_TIMEOUT).unwrap()
}

fn tail(report: &RunReport) -> String {
    let serial = report.serial();
    let lines: Vec<&str> = serial.lines().collect();
    let from = lines.len().saturating_sub(40);
    format!(
        "--- serial console (last 40 lines of {}) ---\n{}\n--- qemu stderr ---\n{}",
        report.serial_log.display(),
        lines[from..].join("\n"),
        report.stderr
    )
}

fn assert_booted(report: &RunReport, what: &str) {
    assert_eq!(
        report.outcome,
        Outcome::Matched,
        "{what}: expected a boot\n{}",
        tail(report)
    );
    assert!(
        report.exit_status.is_some_and(|s| s.success()),
        "{what}: testinit should power the VM off ({:?})\n{}",
        report.exit_status,
        tail(report)
    );
    eprintln!(
        "{what}: firmware start to marker {:.1} s",
        report.elapsed.as_secs_f64()
    );
}

fn assert_refused(report: &RunReport, what: &str) {
    match &report.outcome {
        Outcome::Refused(line) => {
            assert!(
                line.contains("BdsDxe: failed to load") && line.contains("Access Denied"),
                "{what}: refused, but not by the image check: {line}\n{}",
                tail(report)
            );
            eprintln!(
                "{what}: refused after {:.1} s: {}",
                report.elapsed.as_secs_f64(),
                line.trim()
            );
        }
        other => panic!(
            "{what}: expected the firmware to refuse it, got {other:?}\n{}",
            tail(report)
        ),
    }
    assert!(
        !report.serial().contains("CLIP-TESTINIT"),
        "{what}: the kernel ran\n{}",
        tail(report)
    );
}

#[test]
fn secure_boot_runs_the_signed_uki_and_refuses_the_others() {
    let t0 = std::time::Instant::now();
    let step = |what: &str| eprintln!("[{:5.1} s] {what}", t0.elapsed().as_secs_f64());
    let work = tempfile::tempdir().unwrap();
    let w = work.path().to_owned();
    // CLIP_KEEP_TEST_DIR=1 keeps the images, keys and serial logs to look at
    // or to boot again by hand (docs/testing-qemu.md).
    let _work = if std::env::var_os("CLIP_KEEP_TEST_DIR").is_some() {
        eprintln!("keeping {}", work.keep().display());
        None
    } else {
        Some(work)
    };
    let w = w.as_path();
    let (uki, nonce) = testinit_uki(
        w,
        "ID=clipos\nNAME=\"CLIP OS\"\nVERSION_ID=0\nPRETTY_NAME=\"CLIP OS (Secure Boot test)\"\n",
    );
    step("testinit UKI built");
    let keys = w.join("keys");
    clip(&[&"keys", &"generate", &keys, &"--name", &"clip qemu test"]);
    // A key and certificate the firmware does not know (openssl: quicker
    // than a second `clip keys generate` in a debug build).
    let (other_key, other_crt) = (w.join("other-db.key"), w.join("other-db.crt"));
    run(Command::new("openssl")
        .args([
            "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
        ])
        .args(["-days", "30", "-subj", "/CN=not enrolled/", "-keyout"])
        .arg(&other_key)
        .arg("-out")
        .arg(&other_crt));
    step("keys generated");
    let signed = w.join("signed.efi");
    let foreign = w.join("foreign.efi");
    clip(&[
        &"sign",
        &"--key",
        &keys.join("db.key"),
        &"--cert",
        &keys.join("db.crt"),
        &uki,
        &signed,
    ]);
    clip(&[
        &"sign", &"--key", &other_key, &"--cert", &other_crt, &uki, &foreign,
    ]);

    step("UKI built and signed");
    let esp_signed = esp_with(w, "esp-signed.img", &signed);
    let esp_unsigned = esp_with(w, "esp-unsigned.img", &uki);
    let esp_foreign = esp_with(w, "esp-foreign.img", &foreign);

    step("ESP images built");
    let setup_mode = Firmware::ovmf_secboot().unwrap();
    let owner = std::fs::read_to_string(keys.join("owner.guid")).unwrap();
    let enrolled_vars = w.join("vars-enrolled.fd");
    qemu::firmware::enroll(
        &setup_mode.vars,
        &SecureBootKeys {
            owner: owner.trim().to_owned(),
            pk: keys.join("PK.crt"),
            kek: vec![keys.join("KEK.crt")],
            db: vec![keys.join("db.crt")],
        },
        &enrolled_vars,
    )
    .unwrap();
    let secure = setup_mode.clone().with_vars(&enrolled_vars);

    step("keys enrolled in the firmware variables");
    let marker = format!("CLIP-TESTINIT: marker={nonce}");
    let report = boot(
        &secure,
        &esp_signed,
        &w.join("run-signed"),
        &[
            BOOTED,
            &marker,
            "CLIP-TESTINIT: secureboot=enabled",
            "CLIP-TESTINIT: lockdown=integrity",
            "CLIP-TESTINIT: powering off",
        ],
    );
    assert_booted(&report, "signed with the enrolled db key");

    let report = boot(&secure, &esp_unsigned, &w.join("run-unsigned"), &[BOOTED]);
    assert_refused(&report, "unsigned");

    let report = boot(&secure, &esp_foreign, &w.join("run-foreign"), &[BOOTED]);
    assert_refused(&report, "signed with a key not in db");

    let report = boot(
        &setup_mode,
        &esp_unsigned,
        &w.join("run-setup-mode"),
        &[
            BOOTED,
            &marker,
            "CLIP-TESTINIT: secureboot=disabled",
            "CLIP-TESTINIT: lockdown=none",
            "CLIP-TESTINIT: powering off",
        ],
    );
    assert_booted(&report, "unsigned, firmware without keys (control)");
    step("done");
}
