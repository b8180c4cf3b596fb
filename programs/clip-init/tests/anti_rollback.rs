//! Anti-rollback in clip-init, in QEMU with swtpm (issue 9; design in
//! docs/anti-rollback.md): the state record that `clip-updated mark-good`
//! raises (here the test root init, `testroot.mark-good=V`) is copied into
//! the TPM's NV index at the next boot, and an older release booted by
//! hand is refused before the state is unsealed; root on the running
//! system who deletes and redefines the NV index and lowers the record
//! still cannot unseal the state for an older release (PolicyNV on the
//! unwritten index); without a TPM the state record alone refuses it.

mod support;

use support::{Bed, Boot, Options, bed, boot_answering, boot_with, disk};

const SWITCH: &str = "clip-init: switching to systemd";
const RECOVERY_PROMPT: &str = "clip-init: recovery key of the state partition (1/3): ";

fn context(b: &Boot) -> String {
    format!("--- serial (last 60 lines) ---\n{}", b.tail())
}

fn assert_ok(b: &Boot) {
    let c = context(b);
    assert!(!b.timed_out, "QEMU did not power off in time\n{c}");
    assert!(!b.has("clip-init: FATAL: "), "clip-init failed\n{c}");
    assert!(b.has(SWITCH), "no switch_root marker\n{c}");
    assert!(
        b.has("ROOTINIT: result=ok"),
        "the root's checks failed\n{c}"
    );
}

/// The exact FATAL line, no switch_root, a reboot.
fn assert_refused(b: &Boot, line: &str) {
    let c = context(b);
    assert!(!b.timed_out, "QEMU did not power off in time\n{c}");
    assert!(
        b.serial.lines().any(|l| l.trim_end() == line),
        "no line {line:?}\n{c}"
    );
    assert!(!b.has(SWITCH), "switched root\n{c}");
    assert!(!b.has("ROOTINIT:"), "the root's init ran\n{c}");
    assert!(b.has("reboot: Restarting system"), "no reboot\n{c}");
}

/// A copy of the bed's tree whose os-release says `version`.
fn tree_with_version(bed: &Bed, name: &str, version: &str) -> std::path::PathBuf {
    let tree = bed.dir.path().join(name);
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(&bed.tree)
        .arg(&tree)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::write(
        tree.join("usr/lib/os-release"),
        format!("ID=clip-test\nVERSION_ID={version}\n"),
    )
    .unwrap();
    tree
}

fn subdir(bed: &Bed, name: &str) -> std::path::PathBuf {
    let d = bed.dir.path().join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn recovery_key_of(b: &Boot) -> String {
    let lines: Vec<&str> = b.serial.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("clip-init: RECOVERY KEY of the state partition"))
        .unwrap_or_else(|| panic!("no recovery key shown\n{}", context(b)));
    lines[at + 2]
        .trim_start_matches("clip-init:")
        .trim()
        .to_owned()
}

#[test]
fn an_older_release_is_refused_by_the_tpm_minimum_before_unsealing() {
    let bed = bed();
    let tpm = bed.dir.path().join("tpm");
    let tree2 = tree_with_version(&bed, "tree-v2", "2.0.0");
    let d2 = disk(&subdir(&bed, "v2"), &tree2, None);

    // v2 built before anti-rollback's bound policy (its .pcrsig has no
    // approval for it): sealed unbound; its running system marks it good.
    let first = boot_with(
        &bed,
        &d2.path,
        &format!("{} testroot.mark-good=2.0.0", d2.cmdline()),
        &Options {
            tpm: Some(&tpm),
            initramfs: Some(&bed.initramfs_unbound),
            ..Options::default()
        },
    );
    let c = context(&first);
    assert_ok(&first);
    assert!(
        first.has("clip-init: release 2.0.0 (rollback index 0x000200000000ffff)"),
        "{c}"
    );
    assert!(
        first.has("clip-init: anti-rollback: TPM NV index 0x0130c105 holds no minimum yet"),
        "{c}"
    );
    assert!(
        first.has("clip-init: anti-rollback: no minimum version recorded in the state yet"),
        "{c}"
    );
    assert!(!first.has("bound to the anti-rollback minimum"), "{c}");
    assert!(
        first.has("ROOTINIT: mark-good: minimum version set to 2.0.0"),
        "{c}"
    );

    // Next boot, with the bound approvals: the unbound key still unseals
    // (the bound attempt reaches another digest), and clip-init raises the
    // NV index from the state's record, in the initrd (before
    // leave-initrd). Marking 1.0.0 good does not lower the record.
    let with_tpm = Options {
        tpm: Some(&tpm),
        ..Options::default()
    };
    let second = boot_with(
        &bed,
        &d2.path,
        &format!("{} testroot.mark-good=1.0.0", d2.cmdline()),
        &with_tpm,
    );
    let c = context(&second);
    assert_ok(&second);
    assert!(
        second.has("clip-init: state partition unlocked with keyslot 1 (TPM)"),
        "{c}"
    );
    assert!(!second.has("unsealed with the policy bound"), "{c}");
    assert!(
        second.has("clip-init: anti-rollback: the state's minimum version is 2.0.0"),
        "{c}"
    );
    let raised = "clip-init: anti-rollback: TPM NV index 0x0130c105 raised from none to 2.0.0";
    let leave = "clip-init: TPM: PCR 11 extended with leave-initrd";
    let pos = |t: &str| {
        second
            .serial
            .find(t)
            .unwrap_or_else(|| panic!("no {t:?}\n{c}"))
    };
    assert!(pos(raised) < pos(leave), "{c}");
    assert!(
        second.has("ROOTINIT: mark-good: minimum version already 2.0.0"),
        "{c}"
    );

    // v1 (an older signed release, the other slot picked by hand) with the
    // same TPM: refused before the state is touched.
    let d1 = disk(&subdir(&bed, "v1"), &bed.tree, None);
    let third = boot_with(&bed, &d1.path, &d1.cmdline(), &with_tpm);
    let c = context(&third);
    assert!(
        third.has("clip-init: release 1.0.0 (rollback index 0x000100000000ffff)"),
        "{c}"
    );
    assert_refused(
        &third,
        "clip-init: FATAL: this release is version 1.0.0, below the device's minimum version \
         2.0.0 (anti-rollback: TPM NV index 0x0130c105); boot a newer slot",
    );
    assert!(!third.has("clip-init: state partition"), "{c}");
    assert!(!third.has("TPM keyslot"), "{c}");

    // A state enrolled by a release with the bound approval: sealed under
    // PolicyAuthorize(key, "clip.rollback"), unsealed with PolicyNV.
    let d2b = disk(&subdir(&bed, "v2b"), &tree2, None);
    let fourth = boot_with(&bed, &d2b.path, &d2b.cmdline(), &with_tpm);
    let c = context(&fourth);
    assert_ok(&fourth);
    assert!(
        fourth.has("clip-init: anti-rollback: TPM NV index 0x0130c105 already 2.0.0"),
        "{c}"
    );
    assert!(
        fourth.has(
            "clip-init: TPM: the state's key is bound to the anti-rollback minimum (PolicyNV, \
             policyRef clip.rollback)"
        ),
        "{c}"
    );
    let fifth = boot_with(&bed, &d2b.path, &d2b.cmdline(), &with_tpm);
    let c = context(&fifth);
    assert_ok(&fifth);
    assert!(
        fifth.has("clip-init: TPM: unsealed with the policy bound to the anti-rollback minimum"),
        "{c}"
    );
    assert!(
        fifth.has("clip-init: state partition unlocked with keyslot 1 (TPM)"),
        "{c}"
    );
    // The running system still cannot unseal (PCR 11 left the signed value).
    assert!(
        fifth.has("ROOTINIT: unseal-after-boot refused: PolicyRefused: "),
        "{c}"
    );

    // Root on the running system against the bound seal: the NV index
    // undefined (empty owner authorization) and defined again with the
    // same public area, so unwritten; the state's record lowered to 1.0.0.
    let sixth = boot_with(
        &bed,
        &d2b.path,
        &format!("{} testroot.attack-rollback=1.0.0", d2b.cmdline()),
        &with_tpm,
    );
    let c = context(&sixth);
    assert_ok(&sixth);
    assert!(
        sixth.has(
            "ROOTINIT: attack-rollback: NV index 0x0130c105 undefined and defined again \
             unwritten; state record lowered to 1.0.0"
        ),
        "{c}"
    );

    // Then v1, the older slot picked by hand, with that state. Its
    // clip-init finds no minimum in the TPM, and the lowered record would
    // pass, but it is read only once the state is open: the unseal needs
    // PolicyNV on the written index, so the TPM refuses it and the
    // recovery key is asked; without it the state stays locked.
    let d1b = subdir(&bed, "v1-with-v2b-state").join("disk.img");
    std::fs::copy(&d1.path, &d1b).unwrap();
    assert_eq!(
        (d1.state_offset, d1.state_size),
        (d2b.state_offset, d2b.state_size)
    );
    {
        use std::os::unix::fs::FileExt;
        let mut state = vec![0; usize::try_from(d2b.state_size).unwrap()];
        std::fs::File::open(&d2b.path)
            .unwrap()
            .read_exact_at(&mut state, d2b.state_offset)
            .unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&d1b)
            .unwrap()
            .write_all_at(&state, d1.state_offset)
            .unwrap();
    }
    let key = recovery_key_of(&fourth);
    // Another key of the same form: the first character swapped.
    let wrong = match key.as_bytes()[0] {
        b'c' => format!("b{}", &key[1..]),
        _ => format!("c{}", &key[1..]),
    };
    let prompt = |n: u32| format!("clip-init: recovery key of the state partition ({n}/3): ");
    let prompts = [prompt(1), prompt(2), prompt(3)];
    let answers: Vec<(&str, &str)> = prompts
        .iter()
        .map(|p| (p.as_str(), wrong.as_str()))
        .collect();
    let seventh = boot_with(
        &bed,
        &d1b,
        &d1.cmdline(),
        &Options {
            tpm: Some(&tpm),
            answers: &answers,
            ..Options::default()
        },
    );
    let c = context(&seventh);
    for l in seventh.serial.lines().filter(|l| {
        l.contains("clip-init: the TPM") || l.contains("anti-rollback") || l.contains("FATAL")
    }) {
        eprintln!("v1 with the attacked state: {l}");
    }
    for line in [
        "clip-init: release 1.0.0 (rollback index 0x000100000000ffff)",
        "clip-init: anti-rollback: TPM NV index 0x0130c105 holds no minimum yet",
        // PolicyNV on the redefined, unwritten index.
        "clip-init: the TPM did not unlock the state partition: the TPM refused to unseal the state's key: \
         the TPM refused the NV index 0x0130c105 comparison (NV UnsignedLe 000100000000ffff): TPM_RC_NV_UNINITIALIZED (0x14a)",
        "clip-init: that recovery key opens no keyslot",
    ] {
        assert!(seventh.has(line), "seventh boot lacks {line:?}\n{c}");
    }
    assert!(!seventh.has("clip-init: state partition unlocked"), "{c}");
    assert!(!seventh.has("minimum version"), "{c}");
    assert_refused(
        &seventh,
        "clip-init: FATAL: the state partition stays locked: 3 wrong recovery keys",
    );
}

#[test]
fn without_a_tpm_the_state_record_refuses_an_older_release() {
    let bed = bed();
    let tree2 = tree_with_version(&bed, "tree-v2", "2.0.0");
    let d2 = disk(&subdir(&bed, "v2"), &tree2, None);
    // The running v2 records 3.0.0 as marked good (as the v3 slot would).
    let first = boot_answering(
        &bed,
        &d2.path,
        &format!("{} testroot.mark-good=3.0.0", d2.cmdline()),
        &[],
    );
    let c = context(&first);
    assert_ok(&first);
    assert!(
        first.has(
            "clip-init: anti-rollback: no TPM or no PCR-policy key: the state's record is the \
             only minimum"
        ),
        "{c}"
    );
    assert!(
        first.has("ROOTINIT: mark-good: minimum version set to 3.0.0"),
        "{c}"
    );
    let key = recovery_key_of(&first);

    let second = boot_answering(
        &bed,
        &d2.path,
        &d2.cmdline(),
        &[(RECOVERY_PROMPT, key.as_str())],
    );
    let c = context(&second);
    assert!(
        second.has("clip-init: state partition unlocked with keyslot 0 (recovery key)"),
        "{c}"
    );
    assert_refused(
        &second,
        "clip-init: FATAL: this release is version 2.0.0, below the device's minimum version \
         3.0.0 (anti-rollback: state record /var/lib/clip-updated/minimum-version.json); boot a \
         newer slot",
    );
}
