//! python-tuf 7.0.1 as the oracle, both ways (tests/oracle/tuf_oracle.py):
//! (a) python-tuf's ngclient accepts a repository this crate made, downloads
//!     its target, and computes the same canonical bytes and key IDs;
//! (b) this crate's client accepts a repository python-tuf made and signed,
//!     and refuses python-made bad metadata at the same step, for the same
//!     reason (python's exception class), as python-tuf's TrustedMetadataSet.
//!
//! python-tuf lives in a venv that `./dev test` installs (pinned by wheel
//! hashes) under the cache directory, the same rule as `clip build --cache`:
//! $CLIP_CACHE, else $XDG_CACHE_HOME/clip, else $HOME/.cache/clip. Missing,
//! the test fails and says so.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::{Value, json};
use tuf::repository::{self, Publication, RoleSetup, Signers};
use tuf::{Client, Error, Metadata, TargetFile, Time, key_id};

const PYTHON_TUF_VERSION: &str = "7.0.1";

fn cache_dir() -> PathBuf {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("CLIP_CACHE") {
        return dir.into();
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("clip");
    }
    PathBuf::from(var("HOME").expect("HOME is not set")).join(".cache/clip")
}

fn python() -> PathBuf {
    let venv = cache_dir().join("python-tuf").join(PYTHON_TUF_VERSION);
    let python = venv.join("bin/python");
    assert!(
        python.is_file() && venv.join("requirements.txt").is_file(),
        "python-tuf {PYTHON_TUF_VERSION} (the oracle) is missing at {}: run ./dev test, which installs it",
        venv.display()
    );
    python
}

fn oracle(args: &[&str]) -> Vec<u8> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/tuf_oracle.py");
    let out = Command::new(python())
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tuf_oracle.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn system_now() -> Time {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    Time::from_unix(i64::try_from(secs).unwrap())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// (a) A repository made here: root v1 with a 2-of-2 targets role, rotated to
/// root v2 (new root key), two publications, a target in a subdirectory with
/// custom data full of characters canonical JSON treats specially.
#[test]
fn python_tuf_accepts_our_repository() {
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path();
    let meta = repo_dir.join("metadata");
    let expires = system_now().plus_seconds(86_400 * 30);
    let (root_key, new_root_key, t1, t2, snap, ts) =
        (key(41), key(42), key(43), key(44), key(45), key(46));
    let mut roles = setup(&root_key, &t1, &snap, &ts);
    roles.targets = RoleSetup {
        keys: vec![t1.verifying_key(), t2.verifying_key()],
        threshold: 2,
    };
    let root1 = repository::sign_root(
        repository::new_root(1, expires, &roles).unwrap(),
        None,
        &[&root_key],
    )
    .unwrap();
    write(&meta, "1.root.json", &root1.to_bytes());
    roles.root = RoleSetup {
        keys: vec![new_root_key.verifying_key()],
        threshold: 1,
    };
    let root2 = repository::sign_root(
        repository::new_root(2, expires, &roles).unwrap(),
        Some(&root1.signed),
        &[&root_key, &new_root_key],
    )
    .unwrap();
    write(&meta, "2.root.json", &root2.to_bytes());

    let payload = b"our release payload\n".repeat(100);
    let custom = json!({
        "version": "1.2.3",
        "verity_root_hash": "00".repeat(32),
        "notes": "quote \" backslash \\ newline \n tab \t control \u{1} é ✓ 😀",
        "size": 12345678901u64,
        "negative": -5,
        "list": [true, false, null, {}],
    });
    let name = "releases/clip-1.2.3.erofs.zst";
    let mut targets = BTreeMap::from([(
        name.to_string(),
        TargetFile::for_bytes(&payload, Some(custom.clone())),
    )]);
    let signers = Signers {
        targets: &[&t1, &t2],
        snapshot: &[&snap],
        timestamp: &[&ts],
    };
    let mut p = Publication {
        targets_version: 1,
        targets_expires: expires,
        snapshot_version: 1,
        snapshot_expires: expires,
        timestamp_version: 1,
        timestamp_expires: expires,
    };
    for (file, bytes) in repository::publish(&root2.signed, targets.clone(), &p, &signers).unwrap()
    {
        write(&meta, &file, &bytes);
    }
    // A second publication adds a target; versions move on.
    targets.insert("other.bin".into(), TargetFile::for_bytes(b"x", None));
    p.targets_version = 2;
    p.snapshot_version = 2;
    p.timestamp_version = 2;
    for (file, bytes) in repository::publish(&root2.signed, targets, &p, &signers).unwrap() {
        write(&meta, &file, &bytes);
    }
    let hash = hex::encode(sha2_256(&payload));
    write(
        &repo_dir.join("targets"),
        &repository::target_file_name(name, &hash),
        &payload,
    );

    let out: Value =
        serde_json::from_slice(&oracle(&["check-repo", repo_dir.to_str().unwrap(), name])).unwrap();
    assert_eq!(
        out["versions"],
        json!({"root": 2, "timestamp": 2, "snapshot": 2, "targets": 2})
    );
    assert_eq!(out["target"]["length"], payload.len());
    assert_eq!(out["target"]["sha256"], hash);
    assert_eq!(out["target"]["custom"], custom);

    // Canonical bytes of every file's `signed`, and the roots' key IDs.
    let files = out["files"].as_object().unwrap();
    assert_eq!(files.len(), 7, "{:?}", files.keys());
    for (file, entry) in files {
        let bytes = std::fs::read(meta.join(file)).unwrap();
        let ours = match tuf::AnyMetadata::from_bytes(&bytes).unwrap() {
            tuf::AnyMetadata::Root(m) => {
                let mut ids: Vec<String> = m.signed.keys.values().map(key_id).collect();
                ids.sort();
                let theirs: Vec<String> = serde_json::from_value(entry["keyids"].clone()).unwrap();
                assert_eq!(ids, theirs, "{file}");
                let listed: Vec<&String> = m.signed.keys.keys().collect();
                assert_eq!(listed.len(), ids.len());
                m.signed_bytes().to_vec()
            }
            tuf::AnyMetadata::Timestamp(m) => m.signed_bytes().to_vec(),
            tuf::AnyMetadata::Snapshot(m) => m.signed_bytes().to_vec(),
            tuf::AnyMetadata::Targets(m) => m.signed_bytes().to_vec(),
        };
        assert_eq!(
            hex::encode(ours),
            entry["canonical"].as_str().unwrap(),
            "{file}"
        );
    }
    // And our own client agrees with python's verdict.
    let mut c = Client::new(&root1.to_bytes(), system_now()).unwrap();
    c.update_root(&root2.to_bytes()).unwrap();
    c.update_timestamp(&std::fs::read(meta.join("timestamp.json")).unwrap())
        .unwrap();
    let (file, _) = c.snapshot_request().unwrap();
    c.update_snapshot(&std::fs::read(meta.join(file)).unwrap())
        .unwrap();
    let (file, _) = c.targets_request().unwrap();
    c.update_targets(&std::fs::read(meta.join(file)).unwrap())
        .unwrap();
    c.verify_target(name, &payload).unwrap();
}

fn sha2_256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

/// python-tuf's exception class for one of our refusals.
fn python_class(e: &Error) -> &'static str {
    match e {
        Error::Threshold { .. } => "UnsignedMetadataError",
        Error::Expired { .. } => "ExpiredMetadataError",
        Error::Rollback { .. }
        | Error::MetaRollback { .. }
        | Error::VersionMismatch { .. }
        | Error::RootVersion { .. } => "BadVersionNumberError",
        Error::Length { .. } | Error::Hash { .. } | Error::TooLong { .. } => {
            "LengthOrHashMismatchError"
        }
        _ => "RepositoryError",
    }
}

/// (b) A repository python-tuf made and signed; its bad cases.
#[test]
fn our_client_agrees_with_python_tuf() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    oracle(&["make-repo", out.to_str().unwrap()]);
    let cases: Value =
        serde_json::from_slice(&std::fs::read(out.join("cases.json")).unwrap()).unwrap();
    let read = |name: &str| std::fs::read(out.join(name)).unwrap();

    // Key IDs: securesystemslib's, recomputed by us from the keys.
    let root = Metadata::<tuf::Root>::from_bytes(&read("1.root.json")).unwrap();
    for (id, key) in &root.signed.keys {
        assert_eq!(&key_id(key), id);
        assert_eq!(cases["keyids"][id], json!(id));
    }
    assert_eq!(
        root.signed.unrecognized["x-clip-note"],
        "é \"quoted\" \\ back"
    );
    let new_key = Metadata::<tuf::Root>::from_bytes(&read("2.root.json")).unwrap();
    assert!(
        new_key
            .signed
            .keys
            .keys()
            .all(|id| cases["keyids"].get(id).is_some())
    );
    // Canonical bytes of python's `signed`, for every (untampered) file.
    for (file, hex_bytes) in cases["canonical"].as_object().unwrap() {
        let ours = match tuf::AnyMetadata::from_bytes(&read(file)).unwrap() {
            tuf::AnyMetadata::Root(m) => m.signed_bytes().to_vec(),
            tuf::AnyMetadata::Timestamp(m) => m.signed_bytes().to_vec(),
            tuf::AnyMetadata::Snapshot(m) => m.signed_bytes().to_vec(),
            tuf::AnyMetadata::Targets(m) => m.signed_bytes().to_vec(),
        };
        assert_eq!(hex::encode(ours), hex_bytes.as_str().unwrap(), "{file}");
    }

    let target_name = cases["target"]["name"].as_str().unwrap();
    let mut checked = 0;
    for case in cases["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let mut client = Client::new(&read("1.root.json"), system_now()).unwrap();
        let mut refused = None;
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            let (kind, file) = (step[0].as_str().unwrap(), step[1].as_str().unwrap());
            let data = read(file);
            let result = match kind {
                "root" => client.update_root(&data),
                "timestamp" => client.update_timestamp(&data).map(|_| ()),
                "snapshot" => client.update_snapshot(&data),
                "persisted_snapshot" => {
                    let _ = client.load_persisted_snapshot(&data);
                    Ok(())
                }
                "targets" => client.update_targets(&data),
                "target" => client.verify_target(target_name, &data),
                other => panic!("unknown step {other}"),
            };
            if let Err(e) = result {
                refused = Some((i, e));
                break;
            }
        }
        match (&refused, case["refused_at"].as_u64()) {
            (None, None) => {}
            (Some((i, e)), Some(at)) => {
                assert_eq!(u64::try_from(*i).unwrap(), at, "{name}: {e}");
                assert_eq!(
                    python_class(e),
                    case["error"].as_str().unwrap(),
                    "{name}: ours \"{e}\", python-tuf \"{}\"",
                    case["message"]
                );
                eprintln!(
                    "{name}: ours \"{e}\"; python-tuf {}: \"{}\"",
                    case["error"],
                    case["message"].as_str().unwrap()
                );
            }
            _ => panic!("{name}: ours {refused:?}, python-tuf {case}"),
        }
        checked += 1;
    }
    assert_eq!(checked, 16);
}
