//! The built image in QEMU (TCG, q35, OVMF with our keys enrolled and Secure
//! Boot enforced, virtio disk): it boots to multi-user on a dm-verity root
//! the kernel reports verified; / is read-only; the state paths are bind
//! mounts with their options, created on first boot and kept across a
//! reboot; a flipped root byte stops the boot loudly; a flipped UKI byte is
//! refused by the firmware. Every wait is bounded by `clip boot --timeout`.

mod image_support;

use image_support::*;

/// Boots `image` until clip-status has reported; returns the serial log.
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
            "--expect",
            "CLIP-STATUS ",
            "--refuse",
            "clip-init: FATAL",
            "--timeout",
            "420",
            "--serial-log",
            log.to_str().unwrap(),
        ],
    )
    .assert_success();
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn boots_verified_read_only_with_persistent_state() {
    let image = image_copy("persistent");
    let m = manifest(built());
    let root_hash = m["slots"]["a"]["verity"]["root_hash"]
        .as_str()
        .unwrap()
        .to_owned();

    // First boot: the blank state partition is formatted and every state
    // path created (seeded from the factory copy where there is one).
    let first = boot_to_status(&image);
    assert!(
        first.contains(&format!("clip-init: verity root a {root_hash} verified")),
        "{first}"
    );
    assert!(first.contains("clip-init: switching to systemd"), "{first}");
    for line in [
        "is blank: formatting it",
        "clip-init: state /var/lib (created, seeded from factory)",
        "clip-init: state /etc/machine-id (created, new machine ID)",
        "Multi-User System",
    ] {
        assert!(first.contains(line), "first boot lacks {line:?}:\n{first}");
    }
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

    // Second boot on the same disk: the state is kept, the counter written
    // during the first boot in /var/lib survived.
    let second = boot_to_status(&image);
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
