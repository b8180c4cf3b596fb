//! `clip boot` follows the guest across its reboots (QEMU resets the
//! machine in place; QMP events tell a reboot from a power-off). The guest
//! is programs/testinit in a UKI on a GPT disk (ESP + a 1 MiB counter
//! partition); with `testinit.reboots=1` it counts its boots on the disk
//! and reboots in the first, with `testinit.reboots=always` in every one.
//!
//! 1. an `--expect` of the second boot's line passes; the report has two
//!    boots, the first ended by a reboot, and the counter on the disk says 2
//!    (the disk carried over); with `--tpm`, the second boot still has its
//!    TPM (swtpm stays connected across QEMU's reset);
//! 2. the same disk again without `--expect`: the guest powers off in its
//!    first boot, which ends the run as before (one boot, `poweroff`);
//! 3. `--no-reboot` with the counter reset: the first reboot ends the run
//!    with exit 1 and says so;
//! 4. a guest that reboots forever, `--max-boots 2`: exit 1 with the exact
//!    message, two boots, no third.

#[path = "support/run.rs"]
mod run;
mod testinit_support;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use run::{Run, clip};
use testinit_support::{kernel_modules, testinit_uki_with};

const COUNTER_SIZE: u64 = 1 << 20;

/// `dir/disk.img`: GPT, an ESP with `efi` as BOOTX64.EFI, then a zeroed
/// counter partition (/dev/vda2 in the guest). Returns (disk, offset of the
/// counter partition).
fn disk_with(dir: &Path, efi: &Path) -> (PathBuf, u64) {
    let mut esp = esp::Esp::new();
    esp.add(esp::BOOT_X64, std::fs::read(efi).unwrap()).unwrap();
    let esp_size = esp.suggested_size().div_ceil(1 << 20) << 20;
    let fat = esp.build(esp_size).unwrap();
    let disk_size = esp_size + COUNTER_SIZE + (2 << 20);
    let part = |n: u128, name: &str, size| gpt::PartitionSpec {
        type_guid: if n == 1 {
            gpt::types::ESP
        } else {
            gpt::Uuid::from_u128(0x0fc6_3daf_8483_4772_8e79_3d69_d847_7de4)
        },
        unique_guid: gpt::Uuid::from_u128(0xe5b0 + n),
        name: name.into(),
        size: gpt::Size::Bytes(size),
        attributes: gpt::Attributes::default(),
    };
    let table = gpt::DiskLayout::new(disk_size, gpt::Uuid::from_u128(0xc11b))
        .partition(part(1, "esp", esp_size))
        .partition(part(2, "counter", COUNTER_SIZE))
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
    (path, table.partitions[1].offset())
}

/// The counter partition's first line (empty while it is zeroed).
fn counter(disk: &Path, offset: u64) -> String {
    let bytes = std::fs::read(disk).unwrap();
    let at = usize::try_from(offset).unwrap();
    let sector = &bytes[at..at + 512];
    let text = String::from_utf8_lossy(sector);
    text.split(['\n', '\0']).next().unwrap_or("").to_owned()
}

fn zero_counter(disk: &Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(disk).unwrap();
    f.write_all_at(&[0u8; 512], offset).unwrap();
}

fn boot(args: &[&dyn AsRef<OsStr>]) -> Run {
    let mut v: Vec<std::ffi::OsString> = vec!["boot".into(), "--json".into()];
    v.extend(args.iter().map(|a| a.as_ref().to_owned()));
    let run = clip(&v);
    eprintln!("{}\n{}\n{}", run.what, run.stdout.trim(), run.stderr.trim());
    run
}

fn ends(run: &Run) -> Vec<String> {
    run.json()["boots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["end"].as_str().unwrap().to_owned())
        .collect()
}

fn serial(run: &Run) -> String {
    let path = run.json()["serial_log"].as_str().unwrap().to_owned();
    String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned()
}

#[test]
fn clip_boot_follows_the_guest_across_reboots_and_bounds_them() {
    let t0 = std::time::Instant::now();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let os_release = "ID=clipos\nNAME=\"CLIP OS\"\nVERSION_ID=0\n";
    let virtio_blk = kernel_modules(&["drivers/block/virtio_blk.ko.xz"]);
    std::fs::create_dir_all(w.join("once")).unwrap();
    let (uki, _) = testinit_uki_with(
        &w.join("once"),
        os_release,
        "testinit.reboots=1",
        &virtio_blk,
    );
    let (disk, counter_at) = disk_with(&w.join("once"), &uki);
    std::fs::create_dir_all(w.join("always")).unwrap();
    let (uki, _) = testinit_uki_with(
        &w.join("always"),
        os_release,
        "testinit.reboots=always",
        &[],
    );
    let (looping, _) = disk_with(&w.join("always"), &uki);
    eprintln!("[{:5.1} s] images ready", t0.elapsed().as_secs_f64());

    // 1. The second boot's line, after a reboot the run followed.
    let second = "CLIP-TESTINIT: boot=2";
    let run = boot(&[
        &disk,
        &"--tpm",
        &"--expect",
        &second,
        &"--expect",
        &"CLIP-TESTINIT: tpm=yes",
        &"--timeout",
        &"240",
    ]);
    run.assert_success();
    let j = run.json();
    assert_eq!(j["result"], "matched");
    assert_eq!(j["boot_count"], 2);
    assert_eq!(ends(&run), ["reboot", "matched"]);
    assert_eq!(j["expected"][0]["boot"], 2);
    assert_eq!(
        j["expected"][1]["boot"], 2,
        "testinit reports the TPM only in the last boot"
    );
    let log = serial(&run);
    assert!(log.contains("CLIP-TESTINIT: boot=1"), "{log}");
    assert!(log.contains("CLIP-TESTINIT: rebooting"), "{log}");
    assert_eq!(counter(&disk, counter_at), "CLIP-TESTINIT-BOOTS=2");
    eprintln!("[{:5.1} s] followed one reboot", t0.elapsed().as_secs_f64());

    // 2. The counter is past 1 now: the guest powers off in its first boot,
    // which ends the run as it always did.
    let run = boot(&[&disk, &"--timeout", &"240"]);
    run.assert_success();
    assert_eq!(run.json()["result"], "powered_off");
    assert_eq!(ends(&run), ["poweroff"]);
    assert!(serial(&run).contains("CLIP-TESTINIT: boot=3"));
    eprintln!(
        "[{:5.1} s] power-off ends the run",
        t0.elapsed().as_secs_f64()
    );

    // 3. --no-reboot: the first boot's reboot ends the run, a failure.
    zero_counter(&disk, counter_at);
    let run = boot(&[
        &disk,
        &"--no-reboot",
        &"--expect",
        &second,
        &"--timeout",
        &"240",
    ]);
    run.expect(1).stderr_has(&format!(
        "the guest rebooted 1 time without \"{second}\" appearing (--max-boots 1; serial log {})",
        w.join("once/serial.log").display()
    ));
    assert_eq!(run.json()["result"], "rebooted");
    assert_eq!(ends(&run), ["reboot"]);
    assert_eq!(counter(&disk, counter_at), "CLIP-TESTINIT-BOOTS=1");
    eprintln!("[{:5.1} s] --no-reboot", t0.elapsed().as_secs_f64());

    // 4. A guest that reboots at every boot, two boots allowed.
    let never = "CLIP-TESTINIT: powering off";
    let run = boot(&[
        &looping,
        &"--max-boots",
        &"2",
        &"--expect",
        &never,
        &"--timeout",
        &"240",
    ]);
    run.expect(1).stderr_has(&format!(
        "error: the guest rebooted 2 times without \"{never}\" appearing (--max-boots 2; serial log {})",
        w.join("always/serial.log").display()
    ));
    let j = run.json();
    assert_eq!(j["result"], "rebooted");
    assert_eq!(j["boot_count"], 2);
    assert_eq!(ends(&run), ["reboot", "reboot"]);
    assert_eq!(
        serial(&run).matches("CLIP-TESTINIT: rebooting").count(),
        2,
        "no third boot"
    );
    eprintln!("[{:5.1} s] done", t0.elapsed().as_secs_f64());
}
