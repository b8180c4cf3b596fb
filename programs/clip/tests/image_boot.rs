//! The built image in QEMU (TCG, q35, OVMF with our keys enrolled and Secure
//! Boot enforced, virtio disk, swtpm): it boots to multi-user on a
//! dm-verity root the kernel reports verified; / is read-only; the state
//! partition is LUKS2 with dm-integrity under dm-crypt, created on first
//! boot with a TPM keyslot and a recovery key, opened by the TPM on the
//! next boot, and holds nothing in clear; its state paths are bind mounts
//! with their options, kept across a reboot. From copies of that
//! provisioned disk and TPM: Secure Boot off (PCR 7 changed) is refused by
//! the TPM and the recovery key typed on the console opens the state; a
//! UKI signed by db but whose PCR 11 is signed by another key is refused.
//! A flipped root byte stops the boot loudly; a flipped UKI byte is
//! refused by the firmware. systemd-boot's boot counting: a newer slot-B
//! entry with a try left boots first, and slot A once its try is spent.
//! Every wait is bounded by `clip boot --timeout`.

mod image_support;
mod testinit_support;

use std::path::Path;

use image_support::*;

/// Boots `image` (Secure Boot, TPM) until clip-status has reported; returns
/// the serial log.
fn boot_to_status(image: &std::path::Path) -> String {
    let log = image.with_file_name(format!(
        "serial-{}.log",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    ));
    boot(
        image,
        &[
            "--tpm",
            "--expect",
            "CLIP-STATUS ",
            "--refuse",
            "clip-init: FATAL",
            "--timeout",
            "600",
            "--serial-log",
            log.to_str().unwrap(),
        ],
    )
    .assert_success();
    std::fs::read_to_string(&log).unwrap()
}

/// A copy of `image`'s directory (disk and TPM state) as `name`: a trial
/// on the provisioned machine that leaves the original as it was.
fn machine_copy(image: &Path, name: &str) -> DiskCopy {
    let from = image.parent().unwrap();
    let to = from.parent().unwrap().join(name);
    let _ = std::fs::remove_dir_all(&to);
    let status = std::process::Command::new("cp")
        .args(["-a", "--sparse=always"])
        .arg(from)
        .arg(&to)
        .status()
        .unwrap();
    assert!(status.success(), "cp -a of the machine failed");
    DiskCopy::adopt(to.join("disk.img"))
}

/// The recovery key a first boot showed on the console.
/// Issue 10 in the guest: the kernel built from source with the fixed
/// build identity, the lockdown mode and every sysctl of the product as the
/// kernel reports them (clip-status reads /sys/kernel/security/lockdown and
/// /proc/sys), and the calls a hardened kernel refuses, each with the errno
/// that shows why (ENOSYS: not built; ENOENT: no such device; EPERM: Yama
/// scope 3 refuses even root).
fn hardening_holds(serial: &str, s: &serde_json::Value, m: &serde_json::Value) {
    let release = m["kernel"]["release"].as_str().unwrap();
    assert!(release.ends_with("-clip"), "{release}");
    assert!(
        serial.contains(&format!("Linux version {release} (clip@clip)")),
        "the kernel built from source did not boot:\n{serial}"
    );
    let h = &s["hardening"];
    assert_eq!(h["lockdown"], "confidentiality", "{s}");
    assert_eq!(h["lockdown_expected"], "confidentiality", "{s}");
    let product = product::Product::load(&workspace_root().join("products/clipos")).unwrap();
    // clip-status read each back from /proc/sys and compared it with
    // hardening.json (its unit test covers a difference being listed).
    assert_eq!(h["sysctl_checked"], product.sysctl.len(), "{h}");
    assert_eq!(h["sysctl_ok"], product.sysctl.len(), "{h}");
    assert_eq!(h["sysctl_differences"], serde_json::json!([]), "{h}");
    // The whole report stays one console write (see clip-status's Hardening).
    let line = serial
        .lines()
        .find_map(|l| l.find("CLIP-STATUS ").map(|at| &l[at..]))
        .unwrap();
    assert!(
        line.len() < 4000,
        "the CLIP-STATUS line is {} bytes",
        line.len()
    );
    let outcome = |name: &str| {
        h["probes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no probe {name}: {h}"))["outcome"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    for (probe, want) in [
        ("kexec_load", "refused: ENOSYS"),
        ("kexec_file_load", "refused: ENOSYS"),
        ("finit_module", "refused: ENOSYS"),
        ("io_uring_setup", "refused: ENOSYS"),
        ("open /dev/mem", "refused: ENOENT"),
        ("open /dev/port", "refused: ENOENT"),
        ("open /proc/kcore", "refused: ENOENT"),
        ("ptrace another user's process", "refused: EPERM"),
    ] {
        assert_eq!(outcome(probe), want, "{probe}: {h}");
    }
}

fn recovery_key_of(serial: &str) -> String {
    let lines: Vec<&str> = serial.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("clip-init: RECOVERY KEY of the state partition"))
        .unwrap_or_else(|| panic!("no recovery key shown:\n{serial}"));
    let key = lines[at + 2]
        .trim_start_matches("clip-init:")
        .trim()
        .to_owned();
    assert_eq!(key.len(), 71, "{key:?}");
    key
}

const RECOVERY_PROMPT: &str = "clip-init: recovery key of the state partition (1/3): ";

/// The serial log of a run of `clip boot` with `args` (besides the image).
fn serial_of(image: &Path, args: &[&str], secure_boot: bool) -> (Run, String) {
    let log = image.with_file_name("trial-serial.log");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--tpm", "--serial-log", log.to_str().unwrap()]);
    let run = if secure_boot {
        boot(image, &all)
    } else {
        let mut cmd = std::process::Command::new(clip_path());
        cmd.arg("boot").arg(image).args(&all);
        run_command(cmd)
    };
    let serial = std::fs::read_to_string(&log).unwrap_or_default();
    (run, serial)
}

#[test]
fn boots_verified_with_the_state_sealed_to_the_tpm_and_only_to_it() {
    let image = image_copy("persistent");
    let m = manifest(built());
    let root_hash = m["slots"]["a"]["verity"]["root_hash"]
        .as_str()
        .unwrap()
        .to_owned();

    // First boot: the blank state partition becomes LUKS2 with integrity,
    // sealed to the TPM, and every state path is created.
    let first = boot_to_status(&image);
    assert!(
        first.contains(&format!("clip-init: verity root a {root_hash} verified")),
        "{first}"
    );
    assert!(first.contains("clip-init: switching to systemd"), "{first}");
    for line in [
        "clip-init: state partition /dev/vda6 is blank: creating an encrypted volume \
         (aes-xts-plain64 + hmac(sha256))",
        "clip-init: TPM keyslot 1 (token 0): sealed to PCR 7 and 12 as they are and to PCR 11 \
         values signed by the PCR-policy key",
        "clip-init: TPM: PCR 11 extended with leave-initrd",
        // clip build's .pcrsig carries the anti-rollback approval, so the
        // key is sealed with PolicyNV (docs/anti-rollback.md).
        "clip-init: TPM: the state's key is bound to the anti-rollback minimum \
         (PolicyNV, policyRef clip.rollback)",
        "clip-init: state /var/lib (created, seeded from factory)",
        "clip-init: state /etc/machine-id (created, new machine ID)",
        "Multi-User System",
    ] {
        assert!(first.contains(line), "first boot lacks {line:?}:\n{first}");
    }
    // The PCR 11 the build predicted and signed is the one the TPM has
    // when clip-init unseals (after systemd-stub and enter-initrd).
    let predicted = m["slots"]["a"]["pcr11"]["phases"]["enter-initrd"]
        .as_str()
        .unwrap();
    assert!(
        first.contains(&format!("clip-init: TPM: PCR 11 is {predicted}")),
        "PCR 11 in the guest is not the predicted {predicted}:\n{first}"
    );
    // Nothing was added to the UKI's own command line or credentials.
    assert!(
        first.contains(&format!("clip-init: TPM: PCR 12 is {}", "0".repeat(64))),
        "{first}"
    );
    let key = recovery_key_of(&first);
    let s = status_line(&first);
    assert_eq!(s["verified"], true, "{s}");
    assert_eq!(s["problems"].as_array().map(Vec::len), Some(0), "{s}");
    assert_eq!(s["secure_boot"]["state"], "enabled", "{s}");
    assert_eq!(s["slot"], "a", "{s}");
    assert_eq!(s["root_hash"], root_hash.as_str(), "{s}");
    assert_eq!(s["root"]["verity"], "verified", "{s}");
    assert_eq!(s["root"]["table_root_hash"], root_hash.as_str(), "{s}");
    assert_eq!(s["root"]["fs_type"], "erofs", "{s}");
    assert_eq!(s["root"]["read_only"], true, "{s}");
    assert_eq!(s["root"]["write_probe"], "EROFS", "{s}");
    let mounts = s["state_mounts"].as_array().unwrap();
    let paths: Vec<_> = mounts.iter().map(|m| m["path"].as_str().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "/etc/machine-id",
            "/var/lib",
            "/var/log",
            "/var/cache",
            "/var/tmp",
            "/home"
        ],
        "{s}"
    );
    for mnt in mounts {
        assert_eq!(mnt["mounted"], true, "{mnt}");
        assert_eq!(mnt["ok"], true, "{mnt}");
        assert_eq!(mnt["fs_type"], "ext4", "{mnt}");
        let opts: Vec<_> = mnt["options"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o.as_str().unwrap())
            .collect();
        for o in ["rw", "nodev", "nosuid", "noexec"] {
            assert!(opts.contains(&o), "{o} missing on {mnt}");
        }
    }
    assert_eq!(s["boot_count"], 1, "{s}");
    hardening_holds(&first, &s, &m);

    // Nothing of the state in clear on the disk: dpkg's status (seeded
    // from the factory copy), ext4's own names, the machine ID.
    let (state_off, state_size) = partition(&m, "state");
    let state = {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(&image).unwrap();
        let mut b = vec![0u8; usize::try_from(state_size).unwrap()];
        f.read_exact_at(&mut b, state_off).unwrap();
        b
    };
    assert!(
        state.starts_with(b"LUKS\xba\xbe"),
        "no LUKS2 header on the state partition"
    );
    for plain in [&b"Package: systemd"[..], b"lost+found", b"machine-id"] {
        assert!(
            !state.windows(plain.len()).any(|w| w == plain),
            "{:?} is in clear on the state partition",
            String::from_utf8_lossy(plain)
        );
    }

    // Second boot on the same disk and TPM: opened unattended, state kept.
    let second = boot_to_status(&image);
    for line in [
        "clip-init: TPM: unsealed with the policy bound to the anti-rollback minimum",
        "clip-init: state partition unlocked with keyslot 1 (TPM)",
    ] {
        assert!(
            second.contains(line),
            "second boot lacks {line:?}:\n{second}"
        );
    }
    assert!(
        !second.contains("recovery key of the state partition"),
        "{second}"
    );
    assert!(
        !second.contains("(created"),
        "second boot re-created state:\n{second}"
    );
    let s2 = status_line(&second);
    assert_eq!(s2["boot_count"], 2, "{s2}");
    assert_eq!(s2["verified"], true, "{s2}");
    assert!(
        second.contains("clip-init: state /var/lib (kept)"),
        "{second}"
    );
    assert!(
        !second.contains("formatting"),
        "the state partition was formatted again"
    );

    // Trial: Secure Boot off. PCR 7 is not what the secret was sealed to,
    // the TPM path is refused, the recovery key typed on the console opens
    // the state, and nothing is lost.
    let off = machine_copy(&image, "persistent-sb-off");
    let (run, serial) = serial_of(
        &off,
        &[
            "--answer",
            RECOVERY_PROMPT,
            &key,
            "--expect",
            "CLIP-STATUS ",
            "--refuse",
            "clip-init: FATAL",
            "--timeout",
            "600",
        ],
        false,
    );
    run.assert_success();
    assert!(
        serial.contains(
            "clip-init: the TPM did not unlock the state partition: the TPM refused to unseal \
             the state's key: PCR 7+12 changed since sealing"
        ),
        "{serial}"
    );
    assert!(
        serial.contains("clip-init: state partition unlocked with keyslot 0 (recovery key)"),
        "{serial}"
    );
    assert!(
        !serial.contains(&key),
        "the typed recovery key was echoed:\n{serial}"
    );
    let s3 = status_line(&serial);
    assert_eq!(s3["secure_boot"]["state"], "disabled", "{s3}");
    assert_eq!(s3["boot_count"], 3, "nothing lost: {s3}");

    // Trial: a UKI that db signs (so the firmware runs it) with another
    // command line, its PCR 11 signed by a key that is not the PCR-policy
    // key. The TPM refuses the signature; without the recovery key the
    // state stays locked.
    let foreign = machine_copy(&image, "persistent-foreign-uki");
    replace_uki_with_foreign_one(&foreign, &m);
    let (run, serial) = serial_of(
        &foreign,
        &[
            "--expect",
            RECOVERY_PROMPT,
            "--refuse",
            "CLIP-STATUS ",
            "--refuse",
            "clip-init: FATAL",
            "--timeout",
            "600",
        ],
        true,
    );
    run.assert_success();
    // The anti-rollback index was defined under the genuine PCR-policy
    // key: this UKI cannot use it, says so, and goes on to the seal, which
    // refuses it.
    assert!(
        serial.contains("anti-rollback: anti-rollback NV index 0x0130c105 is not ours")
            && serial.contains("the state's record is the only minimum"),
        "{serial}"
    );
    assert!(
        serial.contains(
            "clip-init: the TPM did not unlock the state partition: the TPM refused to unseal \
             the state's key: the signature over the PCR policy is not valid for the PCR-policy \
             key"
        ),
        "{serial}"
    );
    assert!(serial.contains("TPM_RC_SIGNATURE"), "{serial}");
}

/// Replaces slot A's UKI in the ESP of `disk` with one built from the same
/// kernel and initramfs but the command line + " quiet", its PCR 11 signed
/// by a fresh key, and signed by the image's db key.
fn replace_uki_with_foreign_one(disk: &Path, m: &serde_json::Value) {
    let out = built();
    let dir = disk.parent().unwrap();
    let run = |cmd: &mut std::process::Command| {
        let o = cmd.output().unwrap();
        assert!(
            o.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let key = dir.join("foreign-pcr.key");
    run(std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key));
    let osrel = dir.join("os-release");
    std::fs::write(&osrel, "ID=clipos\nNAME=\"not CLIP OS\"\n").unwrap();
    let cmdline = format!("{} quiet", m["slots"]["a"]["cmdline"].as_str().unwrap());
    let unsigned = dir.join("foreign.efi");
    let signed = dir.join("foreign-signed.efi");
    let artifacts = out.join("artifacts");
    let arg = |p: &Path| p.to_str().unwrap().to_owned();
    clip(&[
        "uki",
        "build",
        "--stub",
        &arg(&testinit_support::stub()),
        "--linux",
        &arg(&artifacts.join("vmlinuz")),
        "--initrd",
        &arg(&artifacts.join("initramfs.cpio")),
        "--cmdline",
        &cmdline,
        "--os-release",
        &arg(&osrel),
        "--pcr-private-key",
        &arg(&key),
        "--out",
        &arg(&unsigned),
    ])
    .assert_success();
    let keys = out.join("keys");
    clip(&[
        "sign",
        "--key",
        &arg(&keys.join("db.key")),
        "--cert",
        &arg(&keys.join("db.crt")),
        &arg(&unsigned),
        &arg(&signed),
    ])
    .assert_success();
    let (esp_off, _) = partition(m, "esp");
    let uki_path = m["slots"]["a"]["uki"].as_str().unwrap();
    let name = Path::new(uki_path).file_name().unwrap().to_str().unwrap();
    run(std::process::Command::new("mcopy")
        .arg("-o")
        .arg("-i")
        .arg(format!("{}@@{esp_off}", disk.display()))
        .arg(&signed)
        .arg(format!("::EFI/clipos/{name}")));
}

#[test]
fn flipped_root_byte_stops_the_boot_loudly() {
    let image = image_copy("root-flip");
    let m = manifest(built());
    let (root_off, _) = partition(&m, "root-a");
    // A byte of the EROFS superblock (offset 1024): read by the mount.
    flip_byte(&image, root_off + 1024 + 8);
    let log = image.with_file_name("serial.log");
    let run = boot(
        &image,
        &[
            "--expect",
            "CLIP-STATUS ",
            "--refuse",
            "clip-init: FATAL",
            "--timeout",
            "300",
            "--serial-log",
            log.to_str().unwrap(),
        ],
    );
    let serial = std::fs::read_to_string(&log).unwrap();
    assert_ne!(run.code, 0, "a corrupted root booted:\n{serial}");
    // The kernel's own words (drivers/md/dm-verity-target.c,
    // verity_handle_err): "device-mapper: verity: <dev>: data block <n> is
    // corrupted"; the superblock is in block 0.
    assert!(
        serial
            .lines()
            .any(|l| l.contains("device-mapper: verity: ")
                && l.contains(": data block 0 is corrupted")),
        "dm-verity did not report data block 0 as corrupted:\n{serial}"
    );
    assert!(
        serial
            .lines()
            .any(|l| l.contains("clip-init: FATAL: cannot mount the verified root ")),
        "no FATAL line naming the root mount:\n{serial}"
    );
    assert!(!serial.contains("switching to systemd"), "{serial}");
}

#[test]
fn flipped_uki_byte_is_refused_by_the_firmware() {
    let image = image_copy("uki-flip");
    let out = built();
    let m = manifest(out);
    let uki = std::fs::read(out.join(m["slots"]["a"]["uki"].as_str().unwrap())).unwrap();
    // Find the UKI in the ESP (a fresh FAT writes it in one run of clusters)
    // and flip a byte in its middle.
    let (esp_off, esp_size) = partition(&m, "esp");
    let esp = {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(&image).unwrap();
        let mut b = vec![0u8; usize::try_from(esp_size).unwrap()];
        f.read_exact_at(&mut b, esp_off).unwrap();
        b
    };
    let probe = &uki[uki.len() / 2..uki.len() / 2 + 4096];
    let at = esp
        .windows(probe.len())
        .position(|w| w == probe)
        .expect("the UKI's middle is not stored contiguously in the ESP");
    flip_byte(&image, esp_off + at as u64 + 100);
    let log = image.with_file_name("serial.log");
    let run = boot(
        &image,
        &[
            "--expect",
            "clip-init:",
            "--refuse",
            "Access Denied",
            "--refuse",
            "Security Violation",
            "--timeout",
            "240",
            "--serial-log",
            log.to_str().unwrap(),
        ],
    );
    let serial = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        run.code, 3,
        "expected a firmware refusal (exit 3):\n{serial}\n{}",
        run.stderr
    );
    assert!(
        !serial.contains("Linux version"),
        "the kernel started:\n{serial}"
    );
}

/// `mtools` on the image's ESP (the FAT partition at `offset`).
fn mtools(tool: &str, image: &Path, offset: u64, args: &[&str]) -> String {
    let out = std::process::Command::new(tool)
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(format!("{}@@{offset}", image.display()))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} (Debian package mtools) cannot run: {e}"));
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The names in the ESP's loader/entries/, sorted.
fn entries(image: &Path, offset: u64) -> Vec<String> {
    let mut names: Vec<String> = mtools("mdir", image, offset, &["-b", "::/loader/entries"])
        .lines()
        .filter_map(|l| l.trim().rsplit('/').next().map(str::to_owned))
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    names
}

/// systemd-boot's boot counting and fallback with the image's own
/// loader.conf (`default clipos-*`) and systemd-boot 257: slot B's entry of a
/// newer version with one try left (`clipos-b+1.conf`, what clip-updated
/// installs with `+3`) is booted first, and renamed `+0-1` on the ESP before
/// its UKI starts; B's UKI is v2's, whose root partitions are not on the
/// disk, so clip-init fails and reboots: a failed try. The next boot sorts
/// the exhausted entry last and boots slot A, which reports its version.
#[test]
fn a_new_entry_with_tries_is_preferred_and_falls_back_when_they_run_out() {
    let image = image_copy("boot-counting");
    let m = manifest(built());
    let (esp, _) = partition(&m, "esp");
    let version_a = m["product"]["version"].as_str().unwrap().to_owned();

    // The built ESP follows the contract: slot A's entry without counter.
    assert_eq!(entries(&image, esp), ["clipos-a.conf"]);
    assert_eq!(
        mtools("mtype", &image, esp, &["::/loader/loader.conf"]),
        "default clipos-*\ntimeout 0\neditor no\nauto-entries no\nauto-firmware no\nsecure-boot-enroll off\n"
    );
    let a = contract::Version::parse(&version_a).unwrap();
    assert_eq!(
        mtools("mtype", &image, esp, &["::/loader/entries/clipos-a.conf"]),
        contract::update::entry_text("CLIP OS", "clipos", &a, contract::Slot::A)
    );

    // v2, signed with the same keys: its slot-B UKI and entry on the ESP.
    let v2_out = built().parent().unwrap().join("boot-counting-v2");
    build_with(
        &v2_out,
        Some(&built().join("keys")),
        &["--version", "5.0.0", "--force"],
    )
    .assert_success();
    let release: serde_json::Value =
        serde_json::from_slice(&std::fs::read(v2_out.join("release/release.json")).unwrap())
            .unwrap();
    let root_hash = hex::decode(release["verity"]["root_hash"].as_str().unwrap()).unwrap();
    let (root_uuid, verity_uuid) = gpt::types::verity_partition_uuids(&root_hash).unwrap();
    let v2 = contract::Version::parse("5.0.0").unwrap();
    assert!(v2 > a);
    let dir = image.parent().unwrap();
    let entry_b = dir.join(contract::update::entry_file(
        "clipos",
        contract::Slot::B,
        Some((1, 0)),
    ));
    assert!(entry_b.ends_with("clipos-b+1.conf"));
    std::fs::write(
        &entry_b,
        contract::update::entry_text("CLIP OS", "clipos", &v2, contract::Slot::B),
    )
    .unwrap();
    let uki_b = v2_out.join("release/clipos-b.efi");
    mtools(
        "mcopy",
        &image,
        esp,
        &[uki_b.to_str().unwrap(), "::/EFI/clipos/clipos-b.efi"],
    );
    mtools(
        "mcopy",
        &image,
        esp,
        &[
            entry_b.to_str().unwrap(),
            "::/loader/entries/clipos-b+1.conf",
        ],
    );
    assert_eq!(entries(&image, esp), ["clipos-a.conf", "clipos-b+1.conf"]);

    let log = dir.join("serial.log");
    let run = boot(
        &image,
        &[
            "--tpm",
            "--expect",
            "CLIP-STATUS ",
            // systemd's console line for the unit (its name highlighted):
            // slot A, never counted, is marked good after its health checks.
            "--expect",
            "Finished \u{1b}[0;1;39mclip-mark-good.service",
            "--refuse",
            "Failed to start \u{1b}[0;1;39mclip-mark-good.service",
            "--max-boots",
            "3",
            "--timeout",
            "900",
            "--json",
            "--serial-log",
            log.to_str().unwrap(),
        ],
    );
    let serial = std::fs::read_to_string(&log).unwrap();
    assert_eq!(run.code, 0, "{}\n{serial}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    // Boot 1: slot B (v2); clip-init finds no partitions for v2's root hash
    // and reboots. Boot 2: slot A reports.
    assert_eq!(report["boot_count"], 2, "{report:#}");
    assert_eq!(report["boots"][0]["end"], "reboot", "{report:#}");
    assert_eq!(report["boots"][1]["end"], "matched", "{report:#}");
    assert_eq!(report["expected"][0]["boot"], 2, "{report:#}");
    assert_eq!(report["expected"][1]["boot"], 2, "{report:#}");
    let fatal = format!(
        "clip-init: FATAL: no disk has a root partition with UUID {root_uuid} and a verity \
         partition with UUID {verity_uuid} (from clip.verity.roothash) after "
    );
    let fatal_at = serial
        .find(&fatal)
        .unwrap_or_else(|| panic!("no FATAL for v2's root hash:\n{serial}"));
    assert!(
        serial[..fatal_at].contains("clip-init: slot b root hash "),
        "{serial}"
    );
    // The update units are ordered without a cycle (systemd would drop
    // clip-mark-good.service to break one).
    assert!(!serial.contains("Found ordering cycle"), "{serial}");
    let status = status_line(&serial[fatal_at..]);
    assert_eq!(status["slot"], "a", "{status:#}");
    assert_eq!(status["version"], version_a.as_str(), "{status:#}");

    // systemd-boot counted the try on the ESP; A's entry is untouched.
    assert_eq!(entries(&image, esp), ["clipos-a.conf", "clipos-b+0-1.conf"]);
}
