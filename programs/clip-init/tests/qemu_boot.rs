//! clip-init in a real kernel: QEMU (TCG) boots Debian trixie's kernel
//! directly (no firmware) with an initramfs laid out as the issue 4
//! contract says (static clip-init as /init, the module closure from
//! crates/kmod, /etc/clip-init/modules) and a GPT disk built here: root-a
//! (EROFS of a tiny tree whose /sbin/init is examples/test-root-init.rs),
//! verity-a (crates/verity, with superblock), a blank state partition.
//!
//! 1. happy path, twice on the same disk: first boot verifies the root,
//!    formats the state partition with the root's mke2fs, creates and
//!    seeds the state paths; the second keeps them and sees the first
//!    boot's data; the test init's own checks (read-only root, mount
//!    options, seeding) pass both times; the root partition is unchanged;
//! 2. one flipped byte in the EROFS superblock, or in /sbin/init's data:
//!    dm-verity reports the corruption, clip-init stops with FATAL and the
//!    machine reboots without running the test init;
//! 3. a root hash on the command line that is not the tree's: with no
//!    partition carrying its UUIDs (FATAL after the 20 s wait), and with a
//!    disk whose UUIDs match it (dm-verity refuses every block);
//! 4. clip.verity.roothash missing or malformed: FATAL naming it;
//! 5. two GPT entries carrying the root partition's GUID: FATAL at once
//!    naming both, rather than whichever comes first in the table;
//! 6. with a TPM (swtpm) and the PCR-policy key and signature systemd-stub
//!    would hand over: the first boot seals, the second opens unattended,
//!    the booted system's own unseal attempt is refused; a signature by
//!    another key is refused and the recovery key typed on the console
//!    opens the state instead, as when the TPM is gone;
//! 7. one flipped byte in the encrypted state partition (the tag of the
//!    ext4 superblock's block): dm-crypt's "INTEGRITY AEAD ERROR", the
//!    read fails, the boot stops; never wrong data;
//! 8. one flipped byte in the primary GPT header: clip-init reads the
//!    backup, says so, adds the partitions the kernel's own scan did not
//!    find, and the system boots verified; a flipped byte in both headers:
//!    FATAL naming both problems after the 20 s wait.
//!
//! Needs qemu-system-x86, erofs-utils (mkfs.erofs), kmod (depmod),
//! e2fsprogs, network access to deb.debian.org the first time (cached in
//! $CLIP_CACHE) and a Rust toolchain that links static glibc binaries.

mod support;

use support::{Bed, Boot, Options, bed, boot, boot_answering, boot_with, disk, disk_with};

const VERIFIED: &str = "clip-init: verity root a ";
const SWITCH: &str = "clip-init: switching to systemd";
const FATAL: &str = "clip-init: FATAL: ";

fn context(b: &Boot) -> String {
    format!("--- serial (last 60 lines) ---\n{}", b.tail())
}

/// `switched`: the failure comes after switch_root (exec of /sbin/init).
fn assert_fatal(b: &Boot, what: &str, switched: bool) {
    let c = context(b);
    assert!(!b.timed_out, "QEMU did not power off in time\n{c}");
    let fatal = b.lines_with(FATAL);
    assert!(
        fatal.iter().any(|l| l.contains(what)),
        "no FATAL line naming {what:?}\n{c}"
    );
    assert_eq!(b.has(SWITCH), switched, "switch_root marker\n{c}");
    assert!(!b.has("ROOTINIT:"), "the root's init ran\n{c}");
    // A reboot (QEMU runs with -no-reboot, so it ends there).
    assert!(b.has("reboot: Restarting system"), "no reboot\n{c}");
    assert!(!b.has("Kernel panic"), "kernel panic\n{c}");
}

fn assert_root_init_ok(b: &Boot) {
    let c = context(b);
    assert!(!b.timed_out, "QEMU did not power off in time\n{c}");
    assert!(!b.has(FATAL), "clip-init failed\n{c}");
    assert!(b.has(SWITCH), "no switch_root marker\n{c}");
    assert!(
        b.has("ROOTINIT: result=ok"),
        "the root's checks failed\n{c}"
    );
    for l in [
        "ROOTINIT: seeded-file=seed-content",
        "ROOTINIT: seeded-file mode=0640 uid=1234 gid=5678",
        "ROOTINIT: seeded-link=Ok(\"seeded-file\")",
        "ROOTINIT: private mode=0700 dir=true",
        "ROOTINIT: state-mount /var/log ext4 rw,nosuid,nodev",
        "ROOTINIT: kmsg has clip-init's lines and no recovery key ok",
        "ROOTINIT: clean shutdown Ok(()) ok",
    ] {
        assert!(b.has(l), "missing {l:?}\n{c}");
    }
}

#[test]
fn boots_verified_root_and_keeps_state_across_boots() {
    let bed = bed();
    let d = disk(bed.dir.path(), &bed.tree, None);
    let root_before = d.root_bytes();
    let hash = hex::encode(d.root_hash);

    let first = boot(&bed, &d.path, &d.cmdline());
    let c = context(&first);
    assert!(first.has(&format!("{VERIFIED}{hash} verified")), "{c}");
    assert!(
        first.has(
            "clip-init: state partition /dev/vda4 is blank: creating an encrypted volume \
             (aes-xts-plain64 + hmac(sha256))"
        ),
        "{c}"
    );
    assert!(
        first.has("clip-init: state /var/lib (created, seeded from factory)"),
        "{c}"
    );
    assert!(first.has("clip-init: state /var/log (created)"), "{c}");
    assert!(
        first.has("clip-init: state /etc/machine-id (created, new machine ID)"),
        "{c}"
    );
    assert_root_init_ok(&first);
    assert!(first.has("ROOTINIT: boot-count=1"), "{c}");
    // The recovery key went to the product's hook (escrow) before the
    // partition was created: the hook saw the key the console shows.
    let key = recovery_key_of(&first);
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(key.as_bytes()));
    assert!(
        first.has(&format!(
            "ROOTHOOK: recovery-hook got a key, sha256 {digest}"
        )),
        "{c}"
    );
    assert!(
        first.has("clip-init: recovery key handed to /usr/lib/clip/recovery-hook"),
        "{c}"
    );
    // clip-init wrote a fresh machine ID (machine-id(5) form) on first boot.
    let id_line = |b: &Boot| {
        b.serial
            .lines()
            .find_map(|l| {
                l.split_once("ROOTINIT: machine-id-before=")
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default()
    };
    let first_id = id_line(&first);
    assert_eq!(first_id.len(), 34, "{c}");
    assert!(
        first_id
            .trim_matches('"')
            .bytes()
            .all(|b| b.is_ascii_hexdigit()),
        "{c}"
    );

    // No TPM in this bed: the second boot asks for the recovery key.
    let second = boot_answering(
        &bed,
        &d.path,
        &d.cmdline(),
        &[(RECOVERY_PROMPT, key.as_str())],
    );
    let c = context(&second);
    assert!(second.has(&format!("{VERIFIED}{hash} verified")), "{c}");
    assert!(
        second.has("clip-init: state partition unlocked with keyslot 0 (recovery key)"),
        "{c}"
    );
    assert!(!second.has("formatting"), "formatted again\n{c}");
    assert!(!second.has(&key), "the recovery key was echoed\n{c}");
    for p in ["/var/lib", "/var/log", "/etc/machine-id"] {
        assert!(
            second.has(&format!("clip-init: state {p} (kept)")),
            "{p}\n{c}"
        );
    }
    assert_root_init_ok(&second);
    assert!(second.has("ROOTINIT: boot-count=2"), "{c}");
    assert_eq!(id_line(&second), first_id, "the machine ID changed\n{c}");

    assert!(
        d.root_bytes() == root_before,
        "the root partition was written to"
    );
    // Nothing of the state is on the disk in clear: not the seeded file's
    // content, the machine ID, the boot counter file's name, nor ext4's
    // own directory names.
    let state = d.state_bytes();
    for plain in [
        &b"seed-content"[..],
        first_id.trim_matches('"').as_bytes(),
        b"boot-count",
        b"lost+found",
    ] {
        assert!(
            !state.windows(plain.len()).any(|w| w == plain),
            "{:?} is in clear on the state partition",
            String::from_utf8_lossy(plain)
        );
    }
    assert!(state.starts_with(b"LUKS\xba\xbe"), "no LUKS2 header");
    for (n, b) in [(1, &first), (2, &second)] {
        eprintln!(
            "boot {n}: QEMU start to '{SWITCH}': {:.2} s (whole run {:.1} s)",
            b.switch_at.unwrap().as_secs_f64(),
            b.total.as_secs_f64()
        );
    }
}

const RECOVERY_PROMPT: &str = "clip-init: recovery key of the state partition (1/3): ";

/// The recovery key a first boot showed: the line after the blank one
/// below "RECOVERY KEY".
fn recovery_key_of(b: &Boot) -> String {
    let lines: Vec<&str> = b.serial.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("clip-init: RECOVERY KEY of the state partition"))
        .unwrap_or_else(|| panic!("no recovery key shown\n{}", context(b)));
    let key = lines[at + 2]
        .trim_start_matches("clip-init:")
        .trim()
        .to_owned();
    assert_eq!(key.len(), 71, "{key:?}");
    assert!(
        key.bytes()
            .all(|c| c == b'-' || b"cbdefghijklnrtuv".contains(&c)),
        "{key:?}"
    );
    // Shown on the console only; the test root init checks that the
    // kernel log has none of it (assert_root_init_ok).
    key
}

fn corrupted_boot(bed: &Bed, flip: impl Fn(&support::Disk)) -> Boot {
    let d = disk(bed.dir.path(), &bed.tree, None);
    flip(&d);
    boot(bed, &d.path, &d.cmdline())
}

#[test]
fn a_flipped_byte_in_the_root_superblock_stops_the_boot() {
    let bed = bed();
    // EROFS superblock at byte 1024: the mount reads block 0.
    let b = corrupted_boot(&bed, |d| d.flip_root_byte(1024));
    assert!(
        b.has(VERIFIED),
        "the mapping was not set up\n{}",
        context(&b)
    );
    assert!(
        b.has("verity") && b.has("data block 0 is corrupted"),
        "dm-verity did not report the corruption\n{}",
        context(&b)
    );
    assert_fatal(&b, "cannot mount the verified root", false);
}

#[test]
fn a_flipped_byte_in_a_file_of_the_root_stops_the_boot() {
    let bed = bed();
    // The test init's ELF header (its first 64 bytes are unique in the
    // image): execve reads that block, so exec fails with EIO.
    let header = std::fs::read(bed.tree.join("sbin/init")).unwrap()[..64].to_vec();
    let b = corrupted_boot(&bed, |d| {
        let root = d.root_bytes();
        let at = root
            .windows(header.len())
            .position(|w| w == header)
            .expect("the test init's ELF header is not in the EROFS image (compressed?)");
        d.flip_root_byte(u64::try_from(at).unwrap() + 40);
    });
    assert!(
        b.has("is corrupted"),
        "dm-verity did not report the corruption\n{}",
        context(&b)
    );
    assert_fatal(&b, "cannot execute /sbin/init", true);
}

/// The table as `Gpt::read` sees the image.
fn read_table(d: &support::Disk) -> Result<gpt::ReadGpt, gpt::Error> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::open(&d.path).unwrap();
    let size = f.metadata().unwrap().len();
    gpt::Gpt::read(size, |offset, buf| f.read_exact_at(buf, offset))
}

#[test]
fn a_flipped_byte_in_the_primary_gpt_header_boots_from_the_backup() {
    let bed = bed();
    let d = disk(bed.dir.path(), &bed.tree, None);
    // The primary header's disk GUID (LBA 1, byte 56 on).
    d.flip_disk_byte(512 + 60);
    let read = read_table(&d).unwrap();
    assert_eq!(read.used, gpt::Which::Backup);
    let last_lba = std::fs::metadata(&d.path).unwrap().len() / 512 - 1;
    let note = read.note().unwrap();
    assert!(
        note.starts_with("primary GPT is damaged (GPT header CRC32 0x")
            && note.contains(" at offset 528, computed 0x")
            && note.ends_with(&format!("); using the backup at LBA {last_lba}")),
        "{note}"
    );
    let b = boot(&bed, &d.path, &d.cmdline());
    let c = context(&b);
    assert!(b.has(&format!("clip-init: disk /dev/vda: {note}")), "{c}");
    // The guest kernel's own scan took no partitions from the backup.
    assert!(
        b.has("clip-init: disk /dev/vda: the kernel did not take the backup GPT; added its 4 partitions"),
        "{c}"
    );
    assert!(
        b.has(&format!("{VERIFIED}{} verified", hex::encode(d.root_hash))),
        "{c}"
    );
    assert_root_init_ok(&b);
}

#[test]
fn flipped_bytes_in_both_gpt_headers_stop_the_boot_naming_both() {
    let bed = bed();
    let d = disk(bed.dir.path(), &bed.tree, None);
    let size = std::fs::metadata(&d.path).unwrap().len();
    d.flip_disk_byte(512 + 60);
    d.flip_disk_byte(size - 512 + 60);
    let err = read_table(&d).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("neither GPT copy is valid: primary: GPT header CRC32 0x")
            && text.contains(&format!(
                "; backup at LBA {}: GPT header CRC32 0x",
                size / 512 - 1
            )),
        "{text}"
    );
    let b = boot(&bed, &d.path, &d.cmdline());
    assert_fatal(
        &b,
        &format!("after 20 s; seen: vda: no valid GPT: {text}"),
        false,
    );
    assert!(!b.has(VERIFIED), "a root was set up\n{}", context(&b));
}

#[test]
fn a_root_hash_without_partitions_stops_the_boot_after_the_wait() {
    let bed = bed();
    let d = disk(bed.dir.path(), &bed.tree, None);
    let mut wrong = d.root_hash;
    wrong[0] ^= 1;
    wrong[31] ^= 1;
    let cmdline = d
        .cmdline()
        .replace(&hex::encode(d.root_hash), &hex::encode(wrong));
    let b = boot(&bed, &d.path, &cmdline);
    assert_fatal(&b, "no disk has a root partition with UUID", false);
    assert!(b.has("after 20 s"), "{}", context(&b));
}

#[test]
fn a_root_hash_that_is_not_the_trees_is_refused_by_dm_verity() {
    let bed = bed();
    let real = disk(bed.dir.path(), &bed.tree, None);
    let mut wrong = real.root_hash;
    wrong[5] ^= 0x80;
    // Partition UUIDs derived from the wrong hash, so discovery succeeds
    // and dm-verity itself has to say no.
    let d = disk(bed.dir.path(), &bed.tree, Some(wrong));
    let cmdline = d
        .cmdline()
        .replace(&hex::encode(d.root_hash), &hex::encode(wrong));
    let b = boot(&bed, &d.path, &cmdline);
    assert!(
        b.has("is corrupted"),
        "dm-verity did not refuse\n{}",
        context(&b)
    );
    assert_fatal(&b, "cannot mount the verified root", false);
}

#[test]
fn a_missing_or_malformed_root_hash_is_named() {
    let bed = bed();
    let d = disk(bed.dir.path(), &bed.tree, None);
    let hash = hex::encode(d.root_hash);
    let missing = d
        .cmdline()
        .replace(&format!("clip.verity.roothash={hash}"), "");
    let b = boot(&bed, &d.path, &missing);
    assert_fatal(
        &b,
        "kernel parameter clip.verity.roothash is missing",
        false,
    );

    let short = d.cmdline().replace(&hash, &hash[..63]);
    let b = boot(&bed, &d.path, &short);
    assert_fatal(
        &b,
        "kernel parameter clip.verity.roothash has 63 hex digits, expected 64",
        false,
    );
}

#[test]
fn two_entries_with_the_roots_guid_stop_the_boot_at_once() {
    let bed = bed();
    let d = disk_with(bed.dir.path(), &bed.tree, None, true);
    let (root_uuid, _) = gpt::types::verity_partition_uuids(&d.root_hash).unwrap();
    let b = boot(&bed, &d.path, &d.cmdline());
    assert_fatal(
        &b,
        &format!(
            "disk /dev/vda: GPT entries [2, 5] all have unique GUID {root_uuid} (the root \
             partition of this root hash); partition GUIDs must be unique: refusing to guess"
        ),
        false,
    );
    assert!(!b.has(VERIFIED), "a root was set up\n{}", context(&b));
    assert!(
        !b.has("after 20 s"),
        "waited for the deadline\n{}",
        context(&b)
    );
}

#[test]
fn the_tpm_opens_the_state_unattended_and_the_booted_system_cannot_unseal() {
    let bed = bed();
    let d = disk(bed.dir.path(), &bed.tree, None);
    let tpm = bed.dir.path().join("tpm");
    let with_tpm = Options {
        tpm: Some(&tpm),
        ..Options::default()
    };
    let first = boot_with(&bed, &d.path, &d.cmdline(), &with_tpm);
    let c = context(&first);
    assert!(
        first.has("clip-init: TPM: PCR 11 extended with enter-initrd"),
        "{c}"
    );
    assert!(
        first.has(
            "clip-init: TPM keyslot 1 (token 0): sealed to PCR 7 and 12 as they are and to PCR 11 \
             values signed by the PCR-policy key"
        ),
        "{c}"
    );
    assert!(
        first.has("clip-init: TPM: PCR 11 extended with leave-initrd"),
        "{c}"
    );
    assert_root_init_ok(&first);
    let key = recovery_key_of(&first);

    let second = boot_with(&bed, &d.path, &d.cmdline(), &with_tpm);
    let c = context(&second);
    assert!(
        second.has("clip-init: state partition unlocked with keyslot 1 (TPM)"),
        "{c}"
    );
    assert!(
        !second.has("recovery key of the state partition"),
        "asked\n{c}"
    );
    assert_root_init_ok(&second);
    assert!(second.has("ROOTINIT: boot-count=2"), "{c}");
    // After leave-initrd the TPM refuses the genuine signature: PCR 11 no
    // longer has the value it approves.
    assert!(
        second.has("ROOTINIT: unseal-after-boot refused: PolicyRefused: "),
        "{c}"
    );

    // A UKI whose .pcrsig comes from another key: the TPM refuses the
    // signature; the recovery key opens the state, nothing lost.
    let third = boot_with(
        &bed,
        &d.path,
        &d.cmdline(),
        &Options {
            tpm: Some(&tpm),
            initramfs: Some(&bed.initramfs_foreign_signature),
            answers: &[(RECOVERY_PROMPT, key.as_str())],
            ..Options::default()
        },
    );
    let c = context(&third);
    assert!(
        third.has("clip-init: the TPM did not unlock the state partition: the TPM refused to unseal the state's key: "),
        "{c}"
    );
    assert!(
        third.has("clip-init: state partition unlocked with keyslot 0 (recovery key)"),
        "{c}"
    );
    assert_root_init_ok(&third);
    assert!(third.has("ROOTINIT: boot-count=3"), "{c}");

    // The TPM gone (removed, or the machine's board changed): said, and
    // the recovery key opens the state.
    let fourth = boot_answering(
        &bed,
        &d.path,
        &d.cmdline(),
        &[(RECOVERY_PROMPT, key.as_str())],
    );
    let c = context(&fourth);
    assert!(
        fourth.has(
            "clip-init: the TPM did not unlock the state partition: no TPM: cannot open \
             /dev/tpmrm0: "
        ),
        "{c}"
    );
    assert!(
        fourth.has("clip-init: state partition unlocked with keyslot 0 (recovery key)"),
        "{c}"
    );
    assert_root_init_ok(&fourth);
    assert!(fourth.has("ROOTINIT: boot-count=4"), "{c}");
}

/// Where dm-integrity keeps the tag of data block 0 on the state
/// partition: after the LUKS2 header area (16 MiB), dm-integrity's
/// superblock (8 sectors) and journal (`journal_sections` sections of
/// `(entries << 3) + 8` sectors, 32 entries of 104 bytes for 4 KiB blocks
/// and 32-byte tags: drivers/md/dm-integrity.c,
/// calculate_journal_section_size and calculate_device_limits), the first
/// metadata run begins with block 0's tag.
fn block0_tag_offset(state: &[u8]) -> usize {
    let sb = &state[16 << 20..];
    assert_eq!(
        &sb[..8],
        b"integrt\0",
        "no dm-integrity superblock at 16 MiB"
    );
    assert_eq!(u16::from_le_bytes([sb[10], sb[11]]), 32, "tag size");
    assert_eq!(sb[28], 3, "4 KiB blocks");
    let sections = u32::from_le_bytes(sb[12..16].try_into().unwrap());
    let initial_sectors = 8 + 264 * usize::try_from(sections).unwrap();
    (16 << 20) + initial_sectors * 512
}

#[test]
fn a_flipped_byte_in_the_encrypted_state_fails_the_read_never_returns_wrong_data() {
    let bed = bed();
    let d = disk(bed.dir.path(), &bed.tree, None);
    let first = boot(&bed, &d.path, &d.cmdline());
    assert_root_init_ok(&first);
    let key = recovery_key_of(&first);
    let answers = [(RECOVERY_PROMPT, key.as_str())];
    let before = d.state_bytes();
    let second = boot_answering(&bed, &d.path, &d.cmdline(), &answers);
    assert_root_init_ok(&second);
    let after = d.state_bytes();
    let at = block0_tag_offset(&after);
    // A live tag: the ext4 superblock was rewritten by the second boot's
    // mount, and with it its tag.
    assert_ne!(
        before[at..at + 32],
        after[at..at + 32],
        "the computed tag of block 0 did not change with the superblock"
    );
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&d.path)
        .unwrap();
    use std::os::unix::fs::FileExt;
    let mut b = [0u8];
    let raw = d.state_offset + u64::try_from(at).unwrap();
    f.read_exact_at(&mut b, raw).unwrap();
    f.write_all_at(&[b[0] ^ 0x01], raw).unwrap();
    f.sync_all().unwrap();

    let third = boot_answering(&bed, &d.path, &d.cmdline(), &answers);
    let c = context(&third);
    assert!(
        third.has("clip-init: state partition unlocked with keyslot 0 (recovery key)"),
        "{c}"
    );
    // dm-crypt's own words (drivers/md/dm-crypt.c, crypt_convert_block_aead).
    assert!(
        third
            .lines_with("device-mapper: crypt: ")
            .iter()
            .any(|l| l.ends_with(": INTEGRITY AEAD ERROR, sector 0")),
        "no AEAD error on sector 0\n{c}"
    );
    assert_fatal(&third, "cannot read state volume /dev/dm-", false);
}

/// A copy of the bed's tree as `name`, its state.json changed by `edit`.
fn tree_with_state_json(
    bed: &Bed,
    name: &str,
    edit: impl Fn(String) -> String,
) -> std::path::PathBuf {
    let tree = bed.dir.path().join(name);
    let status = std::process::Command::new("cp")
        .args(["-a"])
        .arg(&bed.tree)
        .arg(&tree)
        .status()
        .unwrap();
    assert!(status.success());
    let json = tree.join("usr/lib/clip/state.json");
    let text = edit(std::fs::read_to_string(&json).unwrap());
    std::fs::write(&json, text).unwrap();
    tree
}

#[test]
fn the_aead_choice_aegis128_opens_and_keeps_the_state() {
    let bed = bed();
    let tree = tree_with_state_json(&bed, "tree-aegis", |t| {
        t.replacen(
            "{",
            r#"{"encryption":{"cipher":"aegis128-random","integrity":"aead"},"#,
            1,
        )
    });
    let d = disk(bed.dir.path(), &tree, None);
    let first = boot(&bed, &d.path, &d.cmdline());
    let c = context(&first);
    assert!(
        first.has(
            "clip-init: state partition /dev/vda4 is blank: creating an encrypted volume \
             (aegis128-random + aead)"
        ),
        "{c}"
    );
    // 16 bytes of random IV and 16 of AEGIS tag per sector.
    assert!(
        first.has("opened: capi:aegis128-random over dm-integrity (32-byte tags, "),
        "{c}"
    );
    assert_root_init_ok(&first);
    let key = recovery_key_of(&first);
    let second = boot_answering(
        &bed,
        &d.path,
        &d.cmdline(),
        &[(RECOVERY_PROMPT, key.as_str())],
    );
    assert_root_init_ok(&second);
    assert!(second.has("ROOTINIT: boot-count=2"), "{}", context(&second));
    let state = d.state_bytes();
    assert!(
        !state.windows(12).any(|w| w == b"seed-content"),
        "the seeded file is in clear"
    );
}

#[test]
fn a_failing_recovery_key_hook_leaves_the_state_partition_blank() {
    let bed = bed();
    let tree = tree_with_state_json(&bed, "tree-failing-hook", |t| {
        t.replace(
            "/usr/lib/clip/recovery-hook\"",
            "/usr/lib/clip/recovery-hook-fail\"",
        )
    });
    let d = disk(bed.dir.path(), &tree, None);
    let b = boot(&bed, &d.path, &d.cmdline());
    assert!(
        b.has("ROOTHOOK: recovery-hook-fail got a key"),
        "{}",
        context(&b)
    );
    assert_fatal(
        &b,
        "the recovery key hook /usr/lib/clip/recovery-hook-fail failed (exit status: 1): the \
         state partition was not created, the next boot tries again",
        false,
    );
    assert!(
        !b.has("RECOVERY KEY"),
        "a key was shown for a volume never made"
    );
    assert!(
        d.state_bytes()[..1 << 20].iter().all(|&b| b == 0),
        "the state partition was written to"
    );
}
