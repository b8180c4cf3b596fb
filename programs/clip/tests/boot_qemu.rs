//! `clip boot` end to end: a GPT disk (crates/gpt) whose only partition is
//! an ESP (crates/esp) holding a UKI as \EFI\BOOT\BOOTX64.EFI; the UKI's
//! initrd is programs/testinit (built as in secureboot_qemu.rs).
//!
//! 1. signed by our db key, `--secure-boot --tpm`: exit 0, every expected
//!    line seen (fresh marker, Secure Boot enabled, TPM present), times in
//!    the JSON, swtpm state left in `<image dir>/tpm`;
//! 2. unsigned, `--secure-boot --refuse "Access Denied"`: exit 3, the kernel
//!    never ran;
//! 3. the signed image again, no keys, no TPM, no --expect: exit 0 once the
//!    VM powered off, and the log shows Secure Boot disabled and no TPM
//!    (the two above are the options' doing);
//! 4. an expectation that never comes: exit 1 after --timeout, naming it.
//!
//! Needs what secureboot_qemu.rs needs, plus swtpm.

#[path = "support/run.rs"]
mod run;
mod testinit_support;

use std::path::{Path, PathBuf};

use run::{Run, clip};
use testinit_support::testinit_uki;

/// `dir/disk.img`: GPT, one ESP partition with `efi` as BOOTX64.EFI.
fn disk_with(dir: &Path, efi: &Path) -> PathBuf {
    let mut esp = esp::Esp::new();
    esp.add(esp::BOOT_X64, std::fs::read(efi).unwrap()).unwrap();
    let esp_size = esp.suggested_size().div_ceil(1 << 20) << 20;
    let fat = esp.build(esp_size).unwrap();
    let disk_size = esp_size + (2 << 20);
    let table = gpt::DiskLayout::new(disk_size, gpt::Uuid::from_u128(0xc11b))
        .partition(gpt::PartitionSpec {
            type_guid: gpt::types::ESP,
            unique_guid: gpt::Uuid::from_u128(0xe5b),
            name: "esp".into(),
            size: gpt::Size::Bytes(esp_size),
            attributes: gpt::Attributes::default(),
        })
        .build()
        .unwrap();
    let mut image = vec![0u8; usize::try_from(disk_size).unwrap()];
    for r in table.regions().unwrap() {
        let at = usize::try_from(r.offset).unwrap();
        image[at..at + r.bytes.len()].copy_from_slice(&r.bytes);
    }
    let at = usize::try_from(table.partitions[0].offset()).unwrap();
    image[at..at + fat.len()].copy_from_slice(&fat);
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("disk.img");
    std::fs::write(&path, image).unwrap();
    path
}

fn boot(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Run {
    let mut v: Vec<std::ffi::OsString> = vec!["boot".into(), "--json".into()];
    v.extend(args.iter().map(|a| a.as_ref().to_owned()));
    let run = clip(&v);
    eprintln!("{}\n{}", run.what, run.stdout.trim());
    run
}

fn serial(run: &Run) -> String {
    let path = run.json()["serial_log"].as_str().unwrap().to_owned();
    String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned()
}

#[test]
fn clip_boot_enforces_secure_boot_attaches_a_tpm_and_bounds_every_wait() {
    let t0 = std::time::Instant::now();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let (uki, nonce) = testinit_uki(w, "ID=clipos\nNAME=\"CLIP OS\"\nVERSION_ID=0\n");
    let keys = w.join("keys");
    clip(&[
        &"keys" as &dyn AsRef<std::ffi::OsStr>,
        &"generate",
        &keys,
        &"--name",
        &"clip boot test",
    ])
    .assert_success();
    let signed = w.join("signed.efi");
    clip(&[
        &"sign" as &dyn AsRef<std::ffi::OsStr>,
        &"--key",
        &keys.join("db.key"),
        &"--cert",
        &keys.join("db.crt"),
        &uki,
        &signed,
    ])
    .assert_success();
    let signed_disk = disk_with(&w.join("signed"), &signed);
    let unsigned_disk = disk_with(&w.join("unsigned"), &uki);
    eprintln!("[{:5.1} s] images ready", t0.elapsed().as_secs_f64());

    // 1. Signed, Secure Boot enforced, TPM attached.
    let marker = format!("CLIP-TESTINIT: marker={nonce}");
    let run = boot(&[
        &signed_disk,
        &"--secure-boot",
        &"--keys",
        &keys,
        &"--tpm",
        &"--expect",
        &marker,
        &"--expect",
        &"CLIP-TESTINIT: secureboot=enabled",
        &"--expect",
        &"CLIP-TESTINIT: tpm=yes",
        &"--refuse",
        &"Access Denied",
        &"--timeout",
        &"120",
    ]);
    run.assert_success();
    let j = run.json();
    assert_eq!(j["result"], "matched");
    let expected = j["expected"].as_array().unwrap();
    assert_eq!(expected.len(), 3);
    for e in expected {
        let secs = e["seconds"]
            .as_f64()
            .unwrap_or_else(|| panic!("{e} has no time"));
        assert!(secs > 0.0 && secs <= 120.0, "{e}");
    }
    assert_eq!(
        j["serial_log"].as_str().unwrap(),
        w.join("signed/serial.log").to_str().unwrap()
    );
    assert!(serial(&run).contains(&marker));
    let tpm_state: Vec<_> = std::fs::read_dir(w.join("signed/tpm"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        tpm_state.iter().any(|n| n.starts_with("tpm2-")),
        "swtpm state in <image dir>/tpm: {tpm_state:?}"
    );
    eprintln!(
        "[{:5.1} s] signed boot: marker after {} s",
        t0.elapsed().as_secs_f64(),
        expected[0]["seconds"]
    );

    // 2. Unsigned under the same keys: refused by the firmware, exit 3.
    let run = boot(&[
        &unsigned_disk,
        &"--secure-boot",
        &"--keys",
        &keys,
        &"--expect",
        &marker,
        &"--refuse",
        &"Access Denied",
        &"--timeout",
        &"120",
    ]);
    run.expect(3).stderr_has("boot refused");
    let j = run.json();
    assert_eq!(j["result"], "refused");
    assert!(
        j["refused_line"]
            .as_str()
            .unwrap()
            .contains("Access Denied")
    );
    assert!(!serial(&run).contains("CLIP-TESTINIT"), "the kernel ran");
    eprintln!(
        "[{:5.1} s] unsigned boot refused",
        t0.elapsed().as_secs_f64()
    );

    // 3. Control: no keys, no TPM, no expectation: ends when it powers off.
    let run = boot(&[&signed_disk, &"--timeout", &"120"]);
    run.assert_success();
    assert_eq!(run.json()["result"], "powered_off");
    let log = serial(&run);
    for line in [
        marker.as_str(),
        "CLIP-TESTINIT: secureboot=disabled",
        "CLIP-TESTINIT: tpm=no",
    ] {
        assert!(log.contains(line), "{line} not in the serial log:\n{log}");
    }
    eprintln!(
        "[{:5.1} s] plain boot powered off",
        t0.elapsed().as_secs_f64()
    );

    // 4. A text that never comes: exit 1 after the timeout, named.
    let run = boot(&[
        &signed_disk,
        &"--snapshot",
        &"--expect",
        &"this text is never printed",
        &"--timeout",
        &"3",
    ]);
    run.expect(1)
        .stderr_has("\"this text is never printed\"")
        .stderr_has("serial.log");
    let j = run.json();
    assert_eq!(j["result"], "timed_out");
    assert!(j["expected"][0]["seconds"].is_null());
    eprintln!("[{:5.1} s] done", t0.elapsed().as_secs_f64());
}
