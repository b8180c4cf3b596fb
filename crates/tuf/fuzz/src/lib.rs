//! The check behind the fuzz target `metadata`.
//!
//! `crates/tuf/tests/fuzz_corpus.rs` includes this file with `#[path]` and
//! replays the committed corpus through the same function, so keep it free
//! of dependencies other than `tuf` and two of its own (`ed25519-dalek`,
//! `serde_json`), which its tests can use too.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use ed25519_dalek::SigningKey;
use tuf::repository::{self, RoleSetup, RootSetup};
use tuf::{AnyMetadata, Client, Metadata, Time};

/// The furthest an input got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Not JSON, or no `signed._type` of a top-level role.
    NotMetadata,
    /// Read as metadata of some role, but refused by the client.
    Parsed,
    /// Accepted by the client at its step (a root as the next root, a
    /// timestamp, snapshot or targets after the seeds before it).
    Verified,
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn now() -> Time {
    Time::from_unix(1_780_272_000) // 2026-06-01T00:00:00Z
}

struct Seeds {
    files: Vec<(&'static str, Vec<u8>)>,
}

/// Root v1 and v2, timestamp, snapshot and targets signed with fixed keys.
/// The timestamp and the snapshot name the next file by version only (no
/// length, no hash), so that changed files reach the signature checks.
fn seeds() -> &'static Seeds {
    static SEEDS: OnceLock<Seeds> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let one = |k: &SigningKey| RoleSetup {
            keys: vec![k.verifying_key()],
            threshold: 1,
        };
        let (root_key, targets_key, snapshot_key, timestamp_key) = (key(1), key(2), key(3), key(4));
        let setup = RootSetup {
            root: one(&root_key),
            targets: one(&targets_key),
            snapshot: one(&snapshot_key),
            timestamp: one(&timestamp_key),
        };
        let expires = Time::from_unix(1_798_761_600); // 2027-01-01T00:00:00Z
        let root1 = repository::new_root(1, expires, &setup).expect("root");
        let root1 = repository::sign_root(root1, None, &[&root_key]).expect("root");
        let root2 = repository::new_root(2, expires, &setup).expect("root");
        let root2 = repository::sign_root(root2, Some(&root1.signed), &[&root_key]).expect("root");
        let target = tuf::TargetFile::for_bytes(
            b"payload",
            Some(serde_json_value(
                r#"{"version":"1.2.3","verity_root_hash":"00ff"}"#,
            )),
        );
        let targets =
            repository::new_targets(1, expires, BTreeMap::from([("a/b.zst".into(), target)]));
        let targets = Metadata::sign(targets, &[&targets_key]).expect("targets");
        let mut snapshot = repository::new_snapshot(1, expires, &targets);
        for meta in snapshot.meta.values_mut() {
            meta.length = None;
            meta.hashes = None;
        }
        let snapshot = Metadata::sign(snapshot, &[&snapshot_key]).expect("snapshot");
        let mut timestamp = repository::new_timestamp(1, expires, &snapshot);
        for meta in timestamp.meta.values_mut() {
            meta.length = None;
            meta.hashes = None;
        }
        let timestamp = Metadata::sign(timestamp, &[&timestamp_key]).expect("timestamp");
        Seeds {
            files: vec![
                ("root", root1.to_bytes()),
                ("root-v2", root2.to_bytes()),
                ("timestamp", timestamp.to_bytes()),
                ("snapshot", snapshot.to_bytes()),
                ("targets", targets.to_bytes()),
            ],
        }
    })
}

fn serde_json_value(text: &str) -> serde_json::Value {
    serde_json::from_str(text).expect("custom JSON")
}

fn seed(name: &str) -> &'static [u8] {
    &seeds()
        .files
        .iter()
        .find(|(n, _)| *n == name)
        .expect("seed")
        .1
}

/// The seed files (`seed-<name>` in the corpus).
pub fn seed_files() -> Vec<(&'static str, Vec<u8>)> {
    seeds().files.clone()
}

fn signed_bytes(m: &AnyMetadata) -> Vec<u8> {
    match m {
        AnyMetadata::Root(m) => m.signed_bytes().to_vec(),
        AnyMetadata::Timestamp(m) => m.signed_bytes().to_vec(),
        AnyMetadata::Snapshot(m) => m.signed_bytes().to_vec(),
        AnyMetadata::Targets(m) => m.signed_bytes().to_vec(),
    }
}

fn to_bytes(m: &AnyMetadata) -> Vec<u8> {
    match m {
        AnyMetadata::Root(m) => m.to_bytes(),
        AnyMetadata::Timestamp(m) => m.to_bytes(),
        AnyMetadata::Snapshot(m) => m.to_bytes(),
        AnyMetadata::Targets(m) => m.to_bytes(),
    }
}

/// Target `metadata`: any bytes as metadata of any role. Never panics; what
/// is read writes back to bytes that read the same; what the client accepts
/// has exactly the signed bytes of a seed (nothing else is signed by the
/// keys it trusts).
pub fn metadata(data: &[u8]) -> Outcome {
    let Ok(parsed) = AnyMetadata::from_bytes(data) else {
        return Outcome::NotMetadata;
    };
    let again = AnyMetadata::from_bytes(&to_bytes(&parsed)).expect("written metadata reads back");
    assert_eq!(signed_bytes(&again), signed_bytes(&parsed));

    let client = || Client::new(seed("root"), now()).expect("seed root");
    let accepted = match &parsed {
        AnyMetadata::Root(_) => {
            // Any self-signed root is a valid starting point (§5.2): that
            // it reads is all there is to check.
            let _ = Client::new(data, now());
            client().update_root(data).is_ok()
        }
        AnyMetadata::Timestamp(_) => client().update_timestamp(data).is_ok(),
        AnyMetadata::Snapshot(_) => {
            let mut c = client();
            c.update_timestamp(seed("timestamp"))
                .expect("seed timestamp");
            c.update_snapshot(data).is_ok()
        }
        AnyMetadata::Targets(_) => {
            let mut c = client();
            c.update_timestamp(seed("timestamp"))
                .expect("seed timestamp");
            c.update_snapshot(seed("snapshot")).expect("seed snapshot");
            let ok = c.update_targets(data).is_ok();
            if ok {
                // Lookups on accepted targets never panic.
                for name in c
                    .targets()
                    .map(|t| t.targets.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    let _ = c.target_request(&name);
                    let _ = c.verify_target(&name, b"payload");
                }
            }
            ok
        }
    };
    if !accepted {
        return Outcome::Parsed;
    }
    let signed = signed_bytes(&parsed);
    assert!(
        seeds().files.iter().any(|(_, seed)| {
            AnyMetadata::from_bytes(seed).map(|m| signed_bytes(&m)) == Ok(signed.clone())
        }),
        "accepted metadata whose signed bytes no seed has"
    );
    Outcome::Verified
}
