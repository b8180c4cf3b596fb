#![allow(clippy::cast_possible_truncation)] // Test images are small; the host is 64-bit.
//! clip-updated on the host: a real process, a real HTTP server on
//! loopback, a disk image file.

mod support;

use std::os::unix::fs::FileExt;

use contract::Slot;
use support::*;

fn text(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn esp_of(image: &[u8]) -> Vec<u8> {
    let t = gpt::Gpt::read_image(image).unwrap().gpt;
    let e = t.partitions.iter().find(|p| p.name == "esp").unwrap();
    image[e.offset() as usize..(e.offset() + e.size()) as usize].to_vec()
}

fn entries(image: &[u8]) -> Vec<String> {
    let esp = esp_of(image);
    let fs = fatfs::FileSystem::new(std::io::Cursor::new(esp), fatfs::FsOptions::new()).unwrap();
    let mut v: Vec<String> = fs
        .root_dir()
        .open_dir("loader/entries")
        .unwrap()
        .iter()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "." && n != "..")
        .collect();
    v.sort();
    v
}

fn part<'a>(t: &'a gpt::Gpt, name: &str) -> &'a gpt::Partition {
    t.partitions.iter().find(|p| p.name == name).unwrap()
}

fn slice<'a>(image: &'a [u8], p: &gpt::Partition, len: usize) -> &'a [u8] {
    &image[p.offset() as usize..p.offset() as usize + len]
}

fn v2_bed() -> Bed {
    bed(
        "1.0.0",
        |_| vec![payload("2.0.0", 4 << 20)],
        key(2),
        now().plus_seconds(86400),
    )
}

#[test]
fn apply_installs_v2_into_slot_b() {
    let bed = v2_bed();
    let before = std::fs::read(bed.path("disk.img")).unwrap();
    let o = bed.run(&["apply"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        out.contains("Installed: 2.0.0 in slot b\nEntry: clipos-b+3.conf\n"),
        "{out}"
    );
    let after = std::fs::read(bed.path("disk.img")).unwrap();
    let (t0, t1) = (
        gpt::Gpt::read_image(&before).unwrap().gpt,
        gpt::Gpt::read_image(&after).unwrap().gpt,
    );
    let v2 = payload("2.0.0", 4 << 20);
    // Slot B holds v2, byte for byte, and its GUIDs carry v2's root hash.
    let hash = hex::decode(&v2.release.verity.root_hash).unwrap();
    let (rg, vg) = gpt::types::verity_partition_uuids(&hash).unwrap();
    assert_eq!(part(&t1, "root-b").unique_guid, rg);
    assert_eq!(part(&t1, "verity-b").unique_guid, vg);
    assert_eq!(
        slice(&after, part(&t1, "root-b"), 4 << 20),
        &v2.files["root.erofs"][..]
    );
    let area = &v2.files["root.verity"];
    assert_eq!(slice(&after, part(&t1, "verity-b"), area.len()), &area[..]);
    // A: entries and bytes untouched.
    for n in ["esp", "root-a", "verity-a", "state"] {
        assert_eq!(part(&t0, n), part(&t1, n), "{n}");
    }
    for n in ["root-a", "verity-a"] {
        let p = part(&t0, n);
        assert_eq!(
            slice(&before, p, p.size() as usize),
            slice(&after, p, p.size() as usize),
            "{n}"
        );
    }
    assert_ne!(
        part(&t0, "root-b").unique_guid,
        part(&t1, "root-b").unique_guid
    );
    // The ESP: A's entry as it was, B's with 3 tries, B's UKI.
    assert_eq!(entries(&after), ["clipos-a.conf", "clipos-b+3.conf"]);
    let esp = esp_of(&after);
    assert_eq!(
        esp::read_file(&esp, "loader/entries/clipos-a.conf").unwrap(),
        loader_entry("1.0.0", Slot::A).as_bytes()
    );
    assert_eq!(
        esp::read_file(&esp, "loader/entries/clipos-b+3.conf").unwrap(),
        contract::update::entry_text("CLIP OS", "clipos", &v2.release.version, Slot::B).as_bytes()
    );
    assert_eq!(
        esp::read_file(&esp, "EFI/clipos/clipos-b.efi").unwrap(),
        v2.files["clipos-b.efi"]
    );
    assert_eq!(
        esp::read_file(&esp, "loader/loader.conf").unwrap(),
        b"default clipos-*\ntimeout 0\n"
    );
    // sgdisk finds nothing wrong.
    let v = std::process::Command::new("sgdisk")
        .arg("-v")
        .arg(bed.path("disk.img"))
        .output()
        .unwrap();
    let vs = String::from_utf8_lossy(&v.stdout);
    assert!(vs.contains("No problems found"), "{vs}");
    // status says so.
    let (out, _) = text(&bed.run(&["status"]));
    assert!(
        out.starts_with(
            "Running: 1.0.0 (slot a)\nSlot b: trying +3 (2.0.0)\nPending: 2.0.0 in slot b\n"
        ),
        "{out}"
    );
    // A second apply has nothing to do.
    let o = bed.run(&["apply"]);
    assert!(o.status.success());
    assert_eq!(
        text(&o).0,
        "Installed: nothing (the newest version is installed already)\n"
    );
}

/// Each refusal leaves the image byte-identical.
fn refused(bed: &Bed, message: &str) {
    let before = std::fs::read(bed.path("disk.img")).unwrap();
    let o = bed.run(&["apply"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(err.contains(message), "expected {message:?} in: {err}");
    assert!(
        std::fs::read(bed.path("disk.img")).unwrap() == before,
        "the disk changed"
    );
}

#[test]
fn tampered_payload_is_refused_before_the_disk_is_touched() {
    let bed = v2_bed();
    // Flip a byte of the compressed root in the repository.
    let dir = bed.path("repo/targets/clipos/2.0.0");
    let f = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().ends_with(".root.erofs.zst"))
        .unwrap();
    let mut b = std::fs::read(&f).unwrap();
    let n = b.len();
    b[n / 2] ^= 1;
    std::fs::write(&f, b).unwrap();
    refused(
        &bed,
        "target clipos/2.0.0/root.erofs.zst does not match the sha256 hash the targets names",
    );
}

#[test]
fn payload_not_matching_release_json_is_refused_before_the_disk_is_touched() {
    let bed = bed_sized(
        "1.0.0",
        |_| vec![payload("2.0.0", 4 << 20)],
        key(2),
        now().plus_seconds(86400),
        4 << 20,
        4 * MIB,
        MIB,
        true,
    );
    let good = payload("2.0.0", 4 << 20).release.root;
    refused(
        &bed,
        &format!(
            "error: target clipos/2.0.0/root.erofs.zst decompresses to 4194304 bytes with sha256 {}; \
             release.json says 4194304 bytes with sha256 {}\n",
            {
                let mut b = payload("2.0.0", 4 << 20).files["root.erofs"].clone();
                b[12345] ^= 1;
                hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&b))
            },
            good.sha256
        ),
    );
}

/// A command line naming slot b with slot A's root hash: the "inactive"
/// slot A is the running system and is never written.
#[test]
fn the_running_slot_is_never_written() {
    let bed = v2_bed();
    let mut params = bed.v1.release.boot_params(Slot::A).unwrap();
    params.slot = Slot::B;
    std::fs::write(bed.path("cmdline"), params.render()).unwrap();
    let hash = hex::decode(&bed.v1.release.verity.root_hash).unwrap();
    let (root_guid, _) = gpt::types::verity_partition_uuids(&hash).unwrap();
    refused(
        &bed,
        &format!(
            "error: refusing to write partition 2 (root-a): it holds the running system (slot b, unique GUID {root_guid})\n"
        ),
    );
}

#[test]
fn wrong_signing_key_is_refused() {
    let bed = bed(
        "1.0.0",
        |_| vec![payload("2.0.0", 4 << 20)],
        key(9),
        now().plus_seconds(86400),
    );
    refused(
        &bed,
        "timestamp.json refused: signature threshold not met for role timestamp: 0 of 1 valid",
    );
}

#[test]
fn expired_timestamp_is_refused() {
    let bed = bed(
        "1.0.0",
        |_| vec![payload("2.0.0", 4 << 20)],
        key(2),
        now().plus_seconds(-60),
    );
    refused(&bed, "timestamp.json refused: timestamp expired at ");
    refused(&bed, "(freeze attack?)");
}

#[test]
fn older_and_same_versions_are_refused() {
    let b = bed(
        "2.0.0",
        |_| vec![payload("1.0.0", 4 << 20)],
        key(2),
        now().plus_seconds(86400),
    );
    refused(
        &b,
        "error: version 1.0.0 is not newer than the running version 2.0.0; refusing it\n",
    );
    let bed = bed(
        "2.0.0",
        |_| vec![payload("1.0.0", 4 << 20), payload("2.0.0", 4 << 20)],
        key(2),
        now().plus_seconds(86400),
    );
    refused(
        &bed,
        "error: version 2.0.0 is not newer than the running version 2.0.0; refusing it\n",
    );
    let (out, _) = text(&bed.run(&["check"]));
    assert_eq!(
        out,
        "Running: 2.0.0\nNewest: 2.0.0\nUpdate: none (no version newer than the running one)\n"
    );
}

#[test]
fn mark_good_renames_and_health_names_the_failing_check() {
    let bed = v2_bed();
    assert!(bed.run(&["apply"]).status.success());
    // Boot "into" slot B with tries used: +2-1.
    let v2 = payload("2.0.0", 4 << 20);
    std::fs::write(
        bed.path("cmdline"),
        v2.release.boot_params(Slot::B).unwrap().render(),
    )
    .unwrap();
    std::fs::write(
        bed.path("root/usr/lib/os-release"),
        "ID=clipos\nVERSION_ID=2.0.0\n",
    )
    .unwrap();
    rename_entry(&bed, "clipos-b+3.conf", "clipos-b+2-1.conf");
    let o = bed.run(&["health"]);
    assert_eq!(o.status.code(), Some(1));
    let (_, err) = text(&o);
    assert!(
        err.contains(&format!(
            "error: health check `/usr/bin/test -e {}` failed: exit status: 1\n",
            bed.path("healthy").display()
        )),
        "{err}"
    );
    std::fs::write(bed.path("healthy"), "").unwrap();
    let o = bed.run(&["health"]);
    assert!(o.status.success());
    assert_eq!(text(&o).0, "Health: 2 checks passed\n");
    let o = bed.run(&["mark-good"]);
    assert_eq!(
        text(&o).0,
        "Marked good: clipos-b+2-1.conf renamed to clipos-b.conf\n",
        "{}",
        text(&o).1
    );
    let img = std::fs::read(bed.path("disk.img")).unwrap();
    assert_eq!(entries(&img), ["clipos-a.conf", "clipos-b.conf"]);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bed.path("state/status.json")).unwrap()).unwrap();
    assert_eq!(s["good"], "2.0.0");
    assert_eq!(s["min_version"], "2.0.0");
    let m = std::fs::read_to_string(bed.path("state/minimum-version.json")).unwrap();
    assert!(m.starts_with("{\"minimum\":\"2.0.0\","), "{m}");
}

/// Edits the bed's ESP in place with fatfs.
fn edit_esp(bed: &Bed, edit: impl FnOnce(&fatfs::FileSystem<std::io::Cursor<&mut Vec<u8>>>)) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(bed.path("disk.img"))
        .unwrap();
    let img = std::fs::read(bed.path("disk.img")).unwrap();
    let t = gpt::Gpt::read_image(&img).unwrap().gpt;
    let e = part(&t, "esp").clone();
    let mut esp = esp_of(&img);
    {
        let fs = fatfs::FileSystem::new(std::io::Cursor::new(&mut esp), fatfs::FsOptions::new())
            .unwrap();
        edit(&fs);
        fs.unmount().unwrap();
    }
    f.write_all_at(&esp, e.offset()).unwrap();
}

fn rename_entry(bed: &Bed, from: &str, to: &str) {
    edit_esp(bed, |fs| {
        let d = fs.root_dir().open_dir("loader/entries").unwrap();
        d.rename(from, &d, to).unwrap();
    });
}

/// Files on the bed's ESP under `dir`, as fatfs lists them.
fn esp_files(bed: &Bed, dir: &str) -> Vec<String> {
    let img = std::fs::read(bed.path("disk.img")).unwrap();
    let fs = fatfs::FileSystem::new(std::io::Cursor::new(esp_of(&img)), fatfs::FsOptions::new())
        .unwrap();
    let mut v: Vec<String> = fs
        .root_dir()
        .open_dir(dir)
        .unwrap()
        .iter()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "." && n != "..")
        .collect();
    v.sort();
    v
}

#[test]
fn leftovers_of_interrupted_esp_writes_are_removed() {
    // A power cut inside a directory entry's write can leave a temporary
    // file with only its 8.3 name, which no later write of the same long
    // name replaces.
    let bed = v2_bed();
    edit_esp(&bed, |fs| {
        for (dir, name) in [
            ("loader/entries", "CLIPOS~1.NEW"),
            ("loader/entries", "clipos-b+3.conf.new"),
            ("EFI/clipos", "CLIPOS~2.NEW"),
        ] {
            let mut file = fs
                .root_dir()
                .open_dir(dir)
                .unwrap()
                .create_file(name)
                .unwrap();
            std::io::Write::write_all(&mut file, b"torn").unwrap();
        }
    });
    assert!(esp_files(&bed, "loader/entries").contains(&"CLIPOS~1.NEW".to_string()));

    let o = bed.run(&["apply"]);
    assert!(o.status.success(), "{}", text(&o).1);
    assert_eq!(
        esp_files(&bed, "loader/entries"),
        ["clipos-a.conf", "clipos-b+3.conf"]
    );
    assert_eq!(
        esp_files(&bed, "EFI/clipos"),
        ["clipos-a.efi", "clipos-b.efi"]
    );
}

#[test]
fn a_version_whose_tries_ran_out_is_reported_and_not_retried() {
    tries_ran_out(v2_bed(), "2.0.0");
}

#[test]
fn a_prerelease_whose_tries_ran_out_is_reported_and_not_retried() {
    // Its entry says "version 2.0.0~rc.1" (systemd's pre-release order);
    // the daemon must still recognise 2.0.0-rc.1.
    let bed = bed(
        "1.0.0",
        |_| vec![payload("2.0.0-rc.1", 4 << 20)],
        key(2),
        now().plus_seconds(86400),
    );
    tries_ran_out(bed, "2.0.0-rc.1");
}

fn tries_ran_out(bed: Bed, v2: &str) {
    assert!(bed.run(&["apply"]).status.success());
    rename_entry(&bed, "clipos-b+3.conf", "clipos-b+0-3.conf");
    let (out, _) = text(&bed.run(&["status"]));
    assert!(out.contains(&format!("Slot b: failed ({v2})\n")), "{out}");
    assert!(
        out.ends_with(&format!("{v2} failed: its tries ran out; running 1.0.0\n")),
        "{out}"
    );
    refused(
        &bed,
        &format!(
            "error: version {v2} failed before (its tries ran out); it is not installed again automatically\n"
        ),
    );
}

/// Power cuts: the process is killed (SIGKILL) at random instants of
/// apply; each time slot A and its entry are intact, B's entry is absent
/// or complete, and a final apply completes.
#[test]
fn killed_at_random_points_apply_leaves_a_bootable_disk() {
    let bed = v2_bed();
    let v2 = payload("2.0.0", 4 << 20);
    let pristine = std::fs::read(bed.path("disk.img")).unwrap();
    let t0 = gpt::Gpt::read_image(&pristine).unwrap().gpt;
    // How long a whole apply takes here.
    let start = std::time::Instant::now();
    assert!(bed.run(&["apply"]).status.success());
    let full = start.elapsed().as_micros() as u64;
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut cut_during = 0;
    for round in 0..12 {
        std::fs::write(bed.path("disk.img"), &pristine).unwrap();
        let _ = std::fs::remove_dir_all(bed.path("state"));
        let at = rng.gen_range(0..full / 2);
        let mut child = bed.cmd(&["apply"]).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_micros(at));
        let _ = child.kill();
        let st = child.wait().unwrap();
        if !st.success() {
            cut_during += 1;
        }
        let img = std::fs::read(bed.path("disk.img")).unwrap();
        let t = gpt::Gpt::read_image(&img).unwrap().gpt;
        for n in ["root-a", "verity-a"] {
            assert_eq!(part(&t, n), part(&t0, n), "round {round}");
            let p = part(&t0, n);
            assert!(
                slice(&img, p, p.size() as usize) == slice(&pristine, p, p.size() as usize),
                "round {round}: {n}"
            );
        }
        // What systemd-boot reads: names ending in ".conf" (boot.c skips
        // the rest). A kill inside the ESP write leaves "<entry>.new", a
        // temporary file that is not an entry; the next apply removes it
        // (checked below: nothing but the two entries afterwards).
        let es: Vec<String> = entries(&img)
            .into_iter()
            .filter(|n| n.ends_with(".conf"))
            .collect();
        assert!(
            es.contains(&"clipos-a.conf".to_string()),
            "round {round}: {es:?}"
        );
        let esp = esp_of(&img);
        assert_eq!(
            esp::read_file(&esp, "loader/entries/clipos-a.conf").unwrap(),
            loader_entry("1.0.0", Slot::A).as_bytes()
        );
        if es.contains(&"clipos-b+3.conf".to_string()) {
            // Committed: B is complete.
            assert_eq!(
                slice(&img, part(&t, "root-b"), 4 << 20),
                &v2.files["root.erofs"][..],
                "round {round}"
            );
            assert_eq!(
                esp::read_file(&esp, "EFI/clipos/clipos-b.efi").unwrap(),
                v2.files["clipos-b.efi"]
            );
        } else {
            assert_eq!(es, ["clipos-a.conf"], "round {round}");
        }
        // A second apply completes.
        let o = bed.run(&["apply"]);
        assert!(o.status.success(), "round {round}: {}", text(&o).1);
        let img = std::fs::read(bed.path("disk.img")).unwrap();
        assert_eq!(
            entries(&img),
            ["clipos-a.conf", "clipos-b+3.conf"],
            "round {round}"
        );
        assert_eq!(
            slice(
                &img,
                part(&gpt::Gpt::read_image(&img).unwrap().gpt, "root-b"),
                4 << 20
            ),
            &v2.files["root.erofs"][..]
        );
    }
    assert!(
        cut_during >= 6,
        "only {cut_during} of 12 kills landed during apply"
    );
}

/// The test-only abrupt stop after N bytes written to the slot.
#[test]
fn stopped_mid_write_then_resumed() {
    let bed = v2_bed();
    let o = bed
        .cmd(&["apply"])
        .env("CLIP_UPDATED_TEST_EXIT_AFTER_BYTES", "2000000")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let img = std::fs::read(bed.path("disk.img")).unwrap();
    assert_eq!(entries(&img), ["clipos-a.conf"]);
    assert!(bed.run(&["apply"]).status.success());
    let img = std::fs::read(bed.path("disk.img")).unwrap();
    assert_eq!(entries(&img), ["clipos-a.conf", "clipos-b+3.conf"]);
}

/// Power cuts during a download: the stored `root.erofs.zst` target (its
/// repository path, its sha256 which names it in the cache, its bytes).
fn root_target(bed: &Bed) -> (std::path::PathBuf, String, Vec<u8>) {
    let dir = bed.path("repo/targets/clipos/2.0.0");
    let f = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_str().unwrap().ends_with(".root.erofs.zst"))
        .unwrap();
    let name = f.file_name().unwrap().to_str().unwrap();
    let hash = name.split('.').next().unwrap().to_string();
    let bytes = std::fs::read(&f).unwrap();
    (f, hash, bytes)
}

/// Leaves `<hash>.zst.part` holding `part` and, if given, the record of
/// its synced length, as a power cut during an earlier apply would.
fn partial(bed: &Bed, hash: &str, part: &[u8], synced: Option<usize>) {
    let cache = bed.path("state/cache");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(cache.join(format!("{hash}.zst.part")), part).unwrap();
    if let Some(n) = synced {
        std::fs::write(
            cache.join(format!("{hash}.zst.part.synced")),
            format!("{n}\n"),
        )
        .unwrap();
    }
}

/// The (status, bytes sent) of each request for the target named `hash`.
fn requests_for(bed: &Bed, hash: &str) -> Vec<(u16, u64)> {
    bed.access_log()
        .lines()
        .filter(|l| {
            l.contains(&format!(
                "\"GET /targets/clipos/2.0.0/{hash}.root.erofs.zst "
            ))
        })
        .map(|l| {
            let tail: Vec<&str> = l.rsplit('"').next().unwrap().split_whitespace().collect();
            (tail[0].parse().unwrap(), tail[1].parse().unwrap_or(0))
        })
        .collect()
}

/// After a completed apply nothing of the download is left in the cache:
/// no part file, no record.
fn cache_is_empty(bed: &Bed) {
    let left: Vec<_> = std::fs::read_dir(bed.path("state/cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

const SYNCED: usize = 1_000_000;

/// The part file holds the synced prefix and garbage past it (bytes written
/// but never synced): the garbage is dropped, the prefix kept, and the
/// resume asks for the rest from the synced length (206 with exactly the
/// bytes past it).
#[test]
fn a_resume_starts_at_the_synced_length_and_drops_the_tail() {
    let bed = v2_bed();
    let (_, hash, bytes) = root_target(&bed);
    let mut part = bytes[..SYNCED].to_vec();
    part.extend_from_slice(&[0x5a; 50_000]);
    partial(&bed, &hash, &part, Some(SYNCED));
    let o = bed.run(&["apply"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(
        requests_for(&bed, &hash),
        [(206, (bytes.len() - SYNCED) as u64)],
        "{}",
        bed.access_log()
    );
    assert!(!err.contains("downloading it again"), "{err}");
    cache_is_empty(&bed);
}

/// The bytes the record calls synced are wrong (a corrupted sector, say):
/// the TUF hash check refuses the resumed file, and the same apply fetches
/// it again from byte 0 and installs.
#[test]
fn a_refused_resume_is_downloaded_again_from_byte_0_in_the_same_run() {
    let bed = v2_bed();
    let (_, hash, bytes) = root_target(&bed);
    let mut part = bytes[..SYNCED].to_vec();
    for b in &mut part[..16] {
        *b ^= 0xff;
    }
    partial(&bed, &hash, &part, Some(SYNCED));
    let mut got = part.clone();
    got.extend_from_slice(&bytes[SYNCED..]);
    let o = bed.run(&["apply"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.starts_with("Installed: 2.0.0 in slot b\n"), "{out}");
    let url = format!(
        "{}targets/clipos/2.0.0/{hash}.root.erofs.zst",
        bed.server.url()
    );
    let warn = format!(
        "{url}: the download resumed at byte {SYNCED} was refused (target clipos/2.0.0/root.erofs.zst \
         does not match the sha256 hash the targets names: expected {hash}, got {}); \
         downloading it again from byte 0\n",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&got))
    );
    assert!(err.contains(&warn), "expected {warn:?} in: {err}");
    assert_eq!(
        requests_for(&bed, &hash),
        [
            (206, (bytes.len() - SYNCED) as u64),
            (200, bytes.len() as u64)
        ],
        "{}",
        bed.access_log()
    );
    cache_is_empty(&bed);
}

/// A part file without a record was never synced: nothing of it is
/// trusted, the download starts from byte 0 (no Range request).
#[test]
fn a_part_file_without_a_record_is_downloaded_from_byte_0() {
    let bed = v2_bed();
    let (_, hash, bytes) = root_target(&bed);
    partial(&bed, &hash, &bytes[..SYNCED], None);
    let o = bed.run(&["apply"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(
        requests_for(&bed, &hash),
        [(200, bytes.len() as u64)],
        "{}",
        bed.access_log()
    );
    cache_is_empty(&bed);
}
