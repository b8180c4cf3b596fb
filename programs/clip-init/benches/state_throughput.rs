//! Figures of the encrypted state (issue 8), in the clip-init QEMU bed
//! (TCG, swtpm): the time clip-init takes to unlock the state key with the
//! TPM (unseal and key derivation) and to activate dm-integrity and
//! dm-crypt, and the write and read throughput of the state (ext4 on
//! dm-crypt over dm-integrity) against a plain ext4 on a second disk of the
//! same guest, as ratios. `./dev bench` runs it; not a test: TCG timings
//! are figures to report, not pass/fail.

#[path = "../tests/support/mod.rs"]
mod support;

use support::{Options, bed, boot_with, disk};

fn value_after<'a>(serial: &'a str, prefix: &str) -> &'a str {
    serial
        .lines()
        .find_map(|l| l.split_once(prefix).map(|(_, v)| v))
        .unwrap_or_else(|| panic!("no {prefix:?} in the serial log:\n{serial}"))
}

fn main() {
    let bed = bed();
    let tree = bed.dir.path().join("tree-bench");
    let ok = std::process::Command::new("cp")
        .arg("-a")
        .arg(&bed.tree)
        .arg(&tree)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cannot copy the bed's tree");
    std::fs::write(tree.join("bench"), "").unwrap();
    let d = disk(bed.dir.path(), &tree, None);
    let plain = bed.dir.path().join("plain.img");
    std::fs::File::create(&plain)
        .unwrap()
        .set_len(512 << 20)
        .unwrap();
    let tpm = bed.dir.path().join("tpm");
    let opts = Options {
        tpm: Some(&tpm),
        second_disk: Some(&plain),
        ..Options::default()
    };
    let first = boot_with(&bed, &d.path, &d.cmdline(), &opts);
    println!(
        "first boot: {}",
        value_after(&first.serial, "clip-init: state volume initialized: ")
    );
    let second = boot_with(&bed, &d.path, &d.cmdline(), &opts);
    let s = &second.serial;
    assert!(
        s.contains("clip-init: state partition unlocked with keyslot 1 (TPM)"),
        "the TPM did not unlock:\n{s}"
    );
    println!(
        "unlock (TPM unseal + PBKDF2 keyslot): {}",
        value_after(s, "clip-init: state key unlocked in ")
    );
    println!(
        "activation (dm-integrity + dm-crypt): {}",
        value_after(s, "clip-init: state volume activated in ")
    );
    println!("throughput: {}", value_after(s, "ROOTINIT: bench "));
}
