//! Issue 9, item 5: updates the device must refuse, in the guest. One boot
//! of a 2.0.0 disk (a copy of products/clipos checking for updates every
//! 10 s; clip-updated's units write to the console) sees four repositories in
//! turn: the test swaps the served directory (a rename under the running
//! `clip repo serve`) each time the daemon's refusal of the current one
//! appears on the console. Each refusal is asserted by its exact message;
//! afterwards slot B's partitions, both GPT copies and the ESP's loader/
//! and EFI/ files are byte for byte as built.
//!
//! Order (the daemon persists the TUF metadata it trusted, so versions must
//! only grow): a repository of another key set (nothing trusted), then one
//! repository R of the device's key set: 1.0.0 published (older than the
//! running 2.0.0), 3.0.0 published with a timestamp already expired, then
//! a fresh timestamp with a flipped byte in 3.0.0's stored root.erofs.zst.

// repo_support (through keys_support) and image_support both include
// support/run.rs; each test binary has its own copy of it anyway.
#![allow(clippy::duplicate_mod)]

mod image_support;
#[path = "repo_support/mod.rs"]
#[allow(unused_imports)]
mod repo_support;
#[path = "update_guest_support/mod.rs"]
mod support;

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use support::*;

fn os(p: &Path) -> &OsStr {
    p.as_os_str()
}

/// The stored file of target `<product>/<version>/<name>` in REPO.
fn stored(repo: &Path, version: &str, name: &str) -> std::path::PathBuf {
    let dir = repo.join("targets/clipos").join(version);
    std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .ends_with(&format!(".{name}"))
        })
        .unwrap_or_else(|| panic!("no {name} in {}", dir.display()))
}

/// Makes `from` the served directory `served` (the old one moved aside).
fn swap(served: &Path, from: &Path, aside: &str) {
    std::fs::rename(served, served.with_file_name(aside)).unwrap();
    std::fs::rename(from, served).unwrap();
}

#[test]
fn refused_updates_leave_slot_b_and_the_boot_entries_untouched() {
    let t0 = Instant::now();
    let out = build("2.0.0");
    let keys = out.join("keys");
    let m = manifest(&out);
    let disk = machine(&out, "refusals");
    let entries_before = esp_entries(&out.join("disk.img"), &m);
    let work = disk.parent().unwrap().join("repos");
    std::fs::create_dir_all(&work).unwrap();
    let t_build = t0.elapsed();

    // W: another key set's repository offering 3.0.0.
    let other = repo_support::key_set("update-refusals-other");
    let w = work.join("w");
    let v3 = repo_support::fake_build(&work, "3.0.0");
    let v1 = repo_support::fake_build(&work, "1.0.0");
    repo(&[OsStr::new("init"), os(&w), OsStr::new("--keys"), os(&other)]);
    repo(&[
        OsStr::new("publish"),
        os(&w),
        os(&v3),
        OsStr::new("--keys"),
        os(&other),
    ]);
    // R: the device's key set, 1.0.0 only (older than the running 2.0.0).
    let r = work.join("r");
    repo(&[OsStr::new("init"), os(&r), OsStr::new("--keys"), os(&keys)]);
    repo(&[
        OsStr::new("publish"),
        os(&r),
        os(&v1),
        OsStr::new("--keys"),
        os(&keys),
    ]);

    let served = work.join("served");
    std::fs::rename(&w, &served).unwrap();
    let server = serve(&served, &work.join("access.log"));
    let serial = disk.with_file_name("serial.log");
    let mut boot = start_boot(
        &disk,
        &keys,
        &serial,
        &[
            "--update-server",
            &server.url,
            "--max-boots",
            "1",
            "--timeout",
            "900",
            "--refuse",
            "clip-init: FATAL",
        ],
    );
    let limit = Duration::from_secs(600);
    let mut times = Vec::new();

    // 1. Wrong signing key: the timestamp is not signed by the device's root.
    let (line, at) = boot.wait_line("clip-updated[", 0, limit);
    let (line, at) = if line.contains("error:") {
        (line, at)
    } else {
        boot.wait_line("error:", at, limit)
    };
    times.push(("wrong key", boot.started.elapsed()));
    let refresh = "]: error: cannot refresh the update metadata from http://10.0.2.100/: \
                   http://10.0.2.100/metadata/timestamp.json refused: ";
    assert!(
        line.ends_with(&format!(
            "{refresh}signature threshold not met for role timestamp: 0 of 1 valid"
        )),
        "wrong key set: {line}"
    );

    // 2. Older version: R with 1.0.0.
    swap(&served, &r, "w");
    let (line, at) = boot.wait_line("is not newer", at, limit);
    times.push(("older", boot.started.elapsed()));
    assert!(
        line.ends_with(
            "]: error: version 1.0.0 is not newer than the running version 2.0.0; refusing it"
        ),
        "older version: {line}"
    );

    // 3. Expired timestamp: 3.0.0 published with a timestamp of 2020.
    let r = work.join("r");
    std::fs::rename(&served, &r).unwrap();
    repo(&[
        OsStr::new("publish"),
        os(&r),
        os(&v3),
        OsStr::new("--keys"),
        os(&keys),
        OsStr::new("--timestamp-expires"),
        OsStr::new("2020-01-01T00:00:00Z"),
    ]);
    std::fs::rename(&r, &served).unwrap();
    let (line, at) = boot.wait_line("expired at", at, limit);
    times.push(("expired", boot.started.elapsed()));
    assert!(
        line.ends_with(&format!(
            "{refresh}timestamp expired at 2020-01-01T00:00:00Z (freeze attack?)"
        )),
        "expired timestamp: {line}"
    );

    // 4. Tampered payload: a fresh timestamp, one flipped byte in the
    // stored (compressed) root of 3.0.0.
    std::fs::rename(&served, &r).unwrap();
    repo(&[
        OsStr::new("refresh"),
        os(&r),
        OsStr::new("--keys"),
        os(&keys),
    ]);
    let zst = stored(&r, "3.0.0", "root.erofs.zst");
    let len = std::fs::metadata(&zst).unwrap().len();
    image_support_flip(&zst, len / 2);
    let stored_name = zst.file_name().unwrap().to_str().unwrap().to_owned();
    let signed = stored_name.split('.').next().unwrap().to_owned();
    let got = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
        std::fs::read(&zst).unwrap(),
    ));
    std::fs::rename(&r, &served).unwrap();
    let (line, _) = boot.wait_line("does not match the sha256 hash", at, limit);
    times.push(("tampered", boot.started.elapsed()));
    assert!(
        line.ends_with(&format!(
            "]: error: http://10.0.2.100/targets/clipos/3.0.0/{stored_name} refused: target \
             clipos/3.0.0/root.erofs.zst does not match the sha256 hash the targets names: \
             expected {signed}, got {got}"
        )),
        "tampered payload: {line}"
    );

    // Stop the guest (the expected text never comes): SIGKILL to its QEMU.
    assert!(kill_qemu(&disk), "no QEMU of {}", disk.display());
    let (_, _, _) = boot.finish();
    drop(server);
    let log = std::fs::read_to_string(&serial).unwrap();
    let s = status_line(&log);
    assert_eq!(s["version"], "2.0.0", "{s}");
    assert_eq!(s["slot"], "a", "{s}");
    assert_eq!(s["verified"], true, "{s}");
    assert!(
        !log.contains("Installed: "),
        "something was installed:\n{log}"
    );

    let changed = slot_b_and_gpt_changes(&disk, &out.join("disk.img"), &m);
    assert!(changed.is_empty(), "changed since the build: {changed:?}");
    assert_eq!(
        esp_entries(&disk, &m),
        entries_before,
        "the ESP's loader/ or EFI/ files changed"
    );
    eprintln!(
        "build {:.1} s; refusals seen at {}; total {:.1} s",
        t_build.as_secs_f64(),
        times
            .iter()
            .map(|(w, t)| format!("{w} {:.1} s", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
        t0.elapsed().as_secs_f64()
    );
}

fn image_support_flip(path: &Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= 0x5a;
    f.write_all_at(&b, offset).unwrap();
    f.sync_all().unwrap();
}
