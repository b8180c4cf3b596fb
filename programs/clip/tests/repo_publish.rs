//! `clip repo init`, `publish`, `refresh` and `list` on small fake releases,
//! checked with python-tuf's ngclient Updater (the oracle) and our own
//! client (crates/tuf over crates/fetch) through `clip repo serve`.

mod repo_support;

use std::fs;
use std::path::Path;

use repo_support::*;
use serde_json::Value;

fn init(repo: &Path, keys: &Path) {
    repo_cmd(&["init", path(repo), "--keys", path(keys)]).assert_success();
}

fn repo_cmd(args: &[&str]) -> Run {
    repo_support::repo(args)
}

fn publish(repo: &Path, build: &Path, keys: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["publish", path(repo), path(build), "--keys", path(keys)];
    args.extend(extra);
    repo_cmd(&args)
}

fn release_file(build: &Path, name: &str) -> Vec<u8> {
    fs::read(build.join("release").join(name)).unwrap()
}

fn keys_json(keys: &Path) -> Value {
    serde_json::from_slice(&fs::read(keys.join("keys.json")).unwrap()).unwrap()
}

/// (a) and (b): an initialised repository refreshes empty; two versions
/// published; python-tuf's Updater and our client both fetch release.json
/// and a `.zst` target of each, whose decompressed bytes are the release's
/// file; `clip repo list` names both releases and their files.
#[test]
fn two_versions_served_to_python_tuf_and_our_client() {
    let base = scratch("repo_publish-two");
    let keys = key_set("repo");
    let repo = base.join("repo");
    init(&repo, &keys);
    assert_eq!(
        fs::read(repo.join("metadata/1.root.json")).unwrap(),
        fs::read(keys.join("update-root.json")).unwrap()
    );
    assert_eq!(
        listing(&repo.join("metadata")),
        [
            "1.root.json",
            "1.snapshot.json",
            "1.targets.json",
            "timestamp.json"
        ]
    );
    let root = keys.join("update-root.json");
    let py_work = base.join("python");
    {
        let served = serve(&repo);
        // An empty repository refreshes (no target), for both clients.
        assert_eq!(
            ngclient(&served.url, &root, &py_work, &[]).unwrap().len(),
            0
        );
        assert_eq!(our_client(&served.url, &root, &[]).unwrap().len(), 0);
    }
    let v1 = fake_build(&base, "1.0.0");
    let v2 = fake_build(&base, "1.1.0");
    let out = publish(&repo, &v1, &keys, &[]);
    out.assert_success();
    assert!(
        out.stdout.contains("Published clipos 1.0.0 in ")
            && out.stdout.contains("targets version 2"),
        "{}",
        out.stdout
    );
    publish(&repo, &v2, &keys, &[]).assert_success();

    // The layout of docs/update.md: consistent-snapshot names.
    let targets: Value =
        serde_json::from_slice(&fs::read(repo.join("metadata/3.targets.json")).unwrap()).unwrap();
    let entry = &targets["signed"]["targets"]["clipos/1.1.0/root.erofs.zst"];
    let root_erofs = release_file(&v2, "root.erofs");
    assert_eq!(entry["custom"]["clip"]["length"], root_erofs.len() as u64);
    assert_eq!(
        entry["custom"]["clip"]["sha256"],
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&root_erofs))
    );
    let stored = repo.join(format!(
        "targets/clipos/1.1.0/{}.root.erofs.zst",
        entry["hashes"]["sha256"].as_str().unwrap()
    ));
    assert_eq!(
        fs::metadata(&stored).unwrap().len(),
        entry["length"].as_u64().unwrap()
    );
    assert_eq!(
        targets["signed"]["targets"]["clipos/1.1.0/release.json"]["custom"],
        serde_json::json!({"clip": {"product": "clipos", "version": "1.1.0"}})
    );
    // 2 MiB random + 2 MiB pattern: the pattern half compresses away.
    assert!(entry["length"].as_u64().unwrap() < 2_200_000, "{entry}");

    let served = serve(&repo);
    let names = [
        "clipos/1.1.0/release.json",
        "clipos/1.1.0/root.erofs.zst",
        "clipos/1.1.0/clipos-b.efi.zst",
        "clipos/1.0.0/root.erofs.zst",
    ];
    let check = |got: &std::collections::BTreeMap<String, Vec<u8>>| {
        assert_eq!(
            got["clipos/1.1.0/release.json"],
            release_file(&v2, "release.json")
        );
        assert_eq!(unzstd(&got["clipos/1.1.0/root.erofs.zst"]), root_erofs);
        assert_eq!(
            unzstd(&got["clipos/1.1.0/clipos-b.efi.zst"]),
            release_file(&v2, "clipos-b.efi")
        );
        assert_eq!(
            unzstd(&got["clipos/1.0.0/root.erofs.zst"]),
            release_file(&v1, "root.erofs")
        );
    };
    // The same python work directory: it trusted version 1 and moves on.
    check(&ngclient(&served.url, &root, &py_work, &names).unwrap());
    check(&our_client(&served.url, &root, &names).unwrap());

    let list = repo_cmd(&["list", path(&repo), "--json"]);
    list.assert_success();
    let report = list.json();
    assert_eq!(report["targets_version"], 3);
    let releases = report["releases"].as_array().unwrap();
    let ids: Vec<String> = releases
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["product"].as_str().unwrap(),
                r["version"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(ids, ["clipos 1.0.0", "clipos 1.1.0"]);
    let files = releases[1]["files"].as_array().unwrap();
    assert_eq!(files.len(), 6);
    let root_entry = files.iter().find(|f| f["file"] == "root.erofs").unwrap();
    assert_eq!(root_entry["size"], root_erofs.len() as u64);
    let text = repo_cmd(&["list", path(&repo)]);
    text.assert_success();
    assert!(
        text.stdout.contains("clipos 1.1.0: 6 files, "),
        "{}",
        text.stdout
    );
}

/// (c) Refusals, each with its message, leaving the repository as it was.
#[test]
fn refusals() {
    let base = scratch("repo_publish-refusals");
    let keys = key_set("repo");
    let repo = base.join("repo");
    init(&repo, &keys);
    let v1 = fake_build(&base, "1.0.0");
    publish(&repo, &v1, &keys, &[]).assert_success();
    let metadata_before = listing(&repo.join("metadata"));

    // The same version twice.
    publish(&repo, &v1, &keys, &[])
        .expect(1)
        .stderr_has(&format!(
            "{} already holds clipos 1.0.0 (targets version 2); publish another version",
            repo.display()
        ));

    // Another key set.
    let other = key_set("repo-other");
    let ours = keys_json(&keys)["update_key"]["tuf_keyid"]
        .as_str()
        .unwrap()
        .to_owned();
    let theirs = keys_json(&other)["update_key"]["tuf_keyid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(ours, theirs);
    let v2 = fake_build(&base, "2.0.0");
    publish(&repo, &v2, &other, &[]).expect(1).stderr_has(&format!(
        "wrong key set: {}/update-root.json (root key {theirs}) is not the root of {} (root key {ours})",
        other.display(),
        repo.display()
    ));

    // A damaged release: a flipped byte, named.
    let damaged = fake_build(&base, "3.0.0");
    let verity = damaged.join("release/root.verity");
    let mut bytes = fs::read(&verity).unwrap();
    bytes[1000] ^= 1;
    fs::write(&verity, &bytes).unwrap();
    publish(&repo, &damaged, &keys, &[])
        .expect(1)
        .stderr_has(&format!("{} is 40960 bytes with sha256 ", verity.display()))
        .stderr_has("release.json says 40960 bytes with sha256 ");

    // A key set without the update keys (made before they existed).
    let old = base.join("old-keys");
    copy_set(&keys, &old);
    for f in ["update-online.key", "update-online.pub", "update-root.json"] {
        fs::remove_file(old.join(f)).unwrap();
    }
    repo_cmd(&["init", path(&base.join("new")), "--keys", path(&old)])
        .expect(1)
        .stderr_has(&format!(
            "the key set in {} has no update-root.json or update-online.key: add the update keys with `clip keys generate {} --add-missing`",
            old.display(),
            old.display()
        ));
    assert!(!base.join("new").exists());
    // An existing repository is not initialised again.
    repo_cmd(&["init", path(&repo), "--keys", path(&keys)])
        .expect(1)
        .stderr_has(&format!(
            "{} exists and is not empty; clip repo init makes a new repository",
            repo.display()
        ));
    assert_eq!(listing(&repo.join("metadata")), metadata_before);
    assert_eq!(listing(&repo.join("targets/clipos")), ["1.0.0"]);

    // `list` of a directory that is no repository: nothing checked, exit 1.
    repo_cmd(&["list", path(&base)])
        .expect(1)
        .stderr_has(&format!(
            "{} is not a repository: it has no {}/metadata/1.root.json",
            base.display(),
            base.display()
        ));

    // An older version after a newer one: the repository takes it (it
    // lists what exists); the device's anti-rollback rule refuses to install it.
    let older = fake_build(&base, "0.9.0");
    publish(&repo, &older, &keys, &[]).assert_success();
    let report = repo_cmd(&["list", path(&repo), "--json"]).json();
    let versions: Vec<&str> = report["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["0.9.0", "1.0.0"]);
}

/// (c) A timestamp published already expired: python-tuf and our client
/// refuse it as expired, `clip repo list` exits 3; `clip repo refresh`
/// re-signs it and both accept the repository again.
#[test]
fn expired_timestamp_refused_then_refreshed() {
    let base = scratch("repo_publish-expired");
    let keys = key_set("repo");
    let repo = base.join("repo");
    init(&repo, &keys);
    let v1 = fake_build(&base, "1.0.0");
    publish(
        &repo,
        &v1,
        &keys,
        &["--timestamp-expires", "2020-01-01T00:00:00Z"],
    )
    .assert_success();
    let root = keys.join("update-root.json");
    let names = ["clipos/1.0.0/release.json"];
    {
        let served = serve(&repo);
        let (class, message) =
            ngclient(&served.url, &root, &base.join("python"), &names).unwrap_err();
        assert_eq!(class, "ExpiredMetadataError", "{message}");
        assert_eq!(message, "timestamp.json is expired");
        assert_eq!(
            our_client(&served.url, &root, &names).unwrap_err(),
            "timestamp expired at 2020-01-01T00:00:00Z (freeze attack?)"
        );
    }
    repo_cmd(&["list", path(&repo)])
        .expect(3)
        .stderr_has("timestamp expired at 2020-01-01T00:00:00Z (freeze attack?)");

    let out = repo_cmd(&["refresh", path(&repo), "--keys", path(&keys)]);
    out.assert_success();
    assert!(out.stdout.contains("timestamp version 3"), "{}", out.stdout);
    let served = serve(&repo);
    let got = ngclient(&served.url, &root, &base.join("python"), &names).unwrap();
    assert_eq!(got[names[0]], release_file(&v1, "release.json"));
    our_client(&served.url, &root, &names).unwrap();
    repo_cmd(&["list", path(&repo)]).assert_success();
}

/// (c) A flipped byte in a stored target: both clients refuse it (hash
/// mismatch) and `clip repo list` reports it, exit 3; so it does for
/// tampered metadata.
#[test]
fn tampered_target_refused() {
    let base = scratch("repo_publish-tampered");
    let keys = key_set("repo");
    let repo = base.join("repo");
    init(&repo, &keys);
    let v1 = fake_build(&base, "1.0.0");
    publish(&repo, &v1, &keys, &[]).assert_success();
    let dir = repo.join("targets/clipos/1.0.0");
    let stored = listing(&dir)
        .into_iter()
        .find(|n| n.ends_with(".root.verity.zst"))
        .unwrap();
    let path_ = dir.join(&stored);
    let mut bytes = fs::read(&path_).unwrap();
    bytes[100] ^= 0x40;
    fs::write(&path_, &bytes).unwrap();
    let root = keys.join("update-root.json");
    let names = ["clipos/1.0.0/root.verity.zst"];
    let served = serve(&repo);
    let (class, _) = ngclient(&served.url, &root, &base.join("python"), &names).unwrap_err();
    assert_eq!(class, "LengthOrHashMismatchError");
    let err = our_client(&served.url, &root, &names).unwrap_err();
    assert!(
        err.starts_with(
            "target clipos/1.0.0/root.verity.zst does not match the sha256 hash the targets names"
        ),
        "{err}"
    );
    repo_cmd(&["list", path(&repo)])
        .expect(3)
        .stderr_has("target clipos/1.0.0/root.verity.zst does not match the sha256 hash");

    // Tampered metadata: the targets' hash in the snapshot no longer holds.
    let targets = repo.join("metadata/2.targets.json");
    let text = fs::read_to_string(&targets).unwrap();
    fs::write(
        &targets,
        text.replacen("\"version\":2}}", "\"version\":3}}", 1),
    )
    .unwrap();
    repo_cmd(&["list", path(&repo)]).expect(3).stderr_has(&format!(
        "{} does not verify: 2.targets.json: targets metadata does not match the sha256 hash the snapshot names: expected ",
        repo.display()
    ));
}

/// Clears the immutable attribute even when the test fails.
struct Immutable<'a>(&'a Path);

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(self.0)
            .status();
    }
}

/// (d) A publish whose last step fails for real (timestamp.json immutable:
/// its rename is refused even to root): the target files, N.targets.json
/// and N.snapshot.json were written, yet clients still see the previous
/// publication whole; once the failure is gone, publishing again works.
#[test]
fn interrupted_publish_leaves_the_previous_publication() {
    let base = scratch("repo_publish-interrupted");
    let keys = key_set("repo");
    let repo = base.join("repo");
    init(&repo, &keys);
    let v1 = fake_build(&base, "1.0.0");
    let v2 = fake_build(&base, "1.1.0");
    publish(&repo, &v1, &keys, &[]).assert_success();
    let timestamp = repo.join("metadata/timestamp.json");
    let before = fs::read(&timestamp).unwrap();
    let status = std::process::Command::new("chattr")
        .arg("+i")
        .arg(&timestamp)
        .status()
        .expect("chattr (e2fsprogs) is needed");
    assert!(status.success());
    let guard = Immutable(&timestamp);
    publish(&repo, &v2, &keys, &[])
        .expect(1)
        .stderr_has(&format!("cannot create {}", timestamp.display()));
    assert_eq!(fs::read(&timestamp).unwrap(), before);
    // Everything before the last step was written.
    assert!(repo.join("metadata/3.targets.json").exists());
    assert!(repo.join("metadata/3.snapshot.json").exists());
    assert_eq!(listing(&repo.join("targets/clipos/1.1.0")).len(), 6);

    let root = keys.join("update-root.json");
    let py_work = base.join("python");
    {
        let served = serve(&repo);
        let got = ngclient(&served.url, &root, &py_work, &["clipos/1.0.0/release.json"]).unwrap();
        assert_eq!(
            got["clipos/1.0.0/release.json"],
            release_file(&v1, "release.json")
        );
        let (class, message) =
            ngclient(&served.url, &root, &py_work, &["clipos/1.1.0/release.json"]).unwrap_err();
        assert_eq!(
            (class.as_str(), message.as_str()),
            ("LookupError", "no target clipos/1.1.0/release.json")
        );
        assert_eq!(
            our_client(&served.url, &root, &["clipos/1.1.0/release.json"]).unwrap_err(),
            "target clipos/1.1.0/release.json is not listed in the top-level targets (delegated roles are not followed)"
        );
        our_client(&served.url, &root, &["clipos/1.0.0/root.erofs.zst"]).unwrap();
    }
    let report = repo_cmd(&["list", path(&repo), "--json"]).json();
    assert_eq!(report["releases"].as_array().unwrap().len(), 1);

    drop(guard);
    publish(&repo, &v2, &keys, &[]).assert_success();
    let served = serve(&repo);
    let got = ngclient(
        &served.url,
        &root,
        &py_work,
        &["clipos/1.1.0/root.erofs.zst"],
    )
    .unwrap();
    assert_eq!(
        unzstd(&got["clipos/1.1.0/root.erofs.zst"]),
        release_file(&v2, "root.erofs")
    );
}

/// `clip repo refresh` re-signs the timestamp alone while the snapshot
/// outlives it, the snapshot too when it would expire first (naming the same
/// targets; both clients accept the result), and refuses when the targets
/// themselves would expire first, which needs the offline key.
#[test]
fn refresh_resigns_the_snapshot_when_needed() {
    let base = scratch("repo_publish-refresh");
    let keys = key_set("repo");
    let repo = base.join("repo");
    init(&repo, &keys);
    let v1 = fake_build(&base, "1.0.0");
    let expiry = [
        "--expires-in",
        "10d",
        "--snapshot-expires-in",
        "2d",
        "--timestamp-expires-in",
        "1d",
    ];
    publish(&repo, &v1, &keys, &expiry).assert_success();
    let refresh = |ts: &str| {
        repo_cmd(&[
            "refresh",
            path(&repo),
            "--keys",
            path(&keys),
            "--timestamp-expires-in",
            ts,
        ])
    };
    let out = refresh("1d");
    out.assert_success();
    assert!(
        out.stdout.contains("timestamp version 3, expires "),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("snapshot version"), "{}", out.stdout);
    assert!(!repo.join("metadata/3.snapshot.json").exists());

    let out = refresh("3d");
    out.assert_success();
    assert!(
        out.stdout.contains("; snapshot version 3"),
        "{}",
        out.stdout
    );
    let snapshot: Value =
        serde_json::from_slice(&fs::read(repo.join("metadata/3.snapshot.json")).unwrap()).unwrap();
    assert_eq!(snapshot["signed"]["meta"]["targets.json"]["version"], 2);
    let targets: Value =
        serde_json::from_slice(&fs::read(repo.join("metadata/2.targets.json")).unwrap()).unwrap();
    // Never past the targets' expiry (--expires-in defaults to 365d).
    assert_eq!(snapshot["signed"]["expires"], targets["signed"]["expires"]);

    let timestamp_before = fs::read(repo.join("metadata/timestamp.json")).unwrap();
    refresh("11d")
        .expect(1)
        .stderr_has(&format!(
            "targets version 2 expires at {}, before the new timestamp would (",
            targets["signed"]["expires"].as_str().unwrap()
        ))
        .stderr_has("publish with the offline key (clip repo publish) to re-sign it");
    assert_eq!(
        fs::read(repo.join("metadata/timestamp.json")).unwrap(),
        timestamp_before
    );

    let root = keys.join("update-root.json");
    let names = ["clipos/1.0.0/release.json"];
    let served = serve(&repo);
    ngclient(&served.url, &root, &base.join("python"), &names).unwrap();
    our_client(&served.url, &root, &names).unwrap();
    repo_cmd(&["list", path(&repo)]).assert_success();
}
