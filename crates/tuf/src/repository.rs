//! The repository side: making and signing the top-level metadata of a
//! repository of static files (spec 1.0.31 §6.1 "Key management and
//! migration", §6.2 "Consistent snapshots"). Pure: the caller passes keys,
//! versions and expiry times in, and writes the returned files.
//!
//! * Consistent snapshots always (`consistent_snapshot: true`): metadata is
//!   published as `N.root.json`, `N.targets.json`, `N.snapshot.json` and
//!   `timestamp.json`; a target `dir/name` as `dir/<sha256 hex>.name`.
//!   `N.root.json` files are kept forever (clients walk the chain from the
//!   root they ship with); a current `root.json` may be written as well.
//! * The snapshot names `targets.json` with its version, length and SHA-256;
//!   the timestamp names `snapshot.json` likewise (§4.4, §4.6 allow both).
//! * Root rotation (§6.1): root N+1 is signed by the keys of root N (meeting
//!   its root threshold) and by its own (meeting its own threshold);
//!   [`sign_root`] checks both before returning.

use std::collections::BTreeMap;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde_json::Map;
use sha2::{Digest, Sha256};

use crate::metadata::{
    Key, MetaFile, Metadata, Role, RoleKeys, Root, Snapshot, Targets, Timestamp, key_id,
};
use crate::{Error, SPEC_VERSION, Time};

/// The name of the timestamp file: the one file name that never changes.
pub const TIMESTAMP_FILE: &str = "timestamp.json";

/// `N.root.json`.
pub fn root_file_name(version: u64) -> String {
    format!("{version}.root.json")
}

/// `N.targets.json`.
pub fn targets_file_name(version: u64) -> String {
    format!("{version}.targets.json")
}

/// `N.snapshot.json`.
pub fn snapshot_file_name(version: u64) -> String {
    format!("{version}.snapshot.json")
}

/// The consistent-snapshot name of target `name`: `<sha256 hex>.<name>`, the
/// hash prefixed to the last path component (`dir/<hash>.file`), as
/// python-tuf's `Updater` asks for it.
pub fn target_file_name(name: &str, sha256_hex: &str) -> String {
    match name.rsplit_once('/') {
        Some((dir, base)) => format!("{dir}/{sha256_hex}.{base}"),
        None => format!("{sha256_hex}.{name}"),
    }
}

/// The keys and threshold of one top-level role in a new root.
#[derive(Debug, Clone)]
pub struct RoleSetup {
    pub keys: Vec<VerifyingKey>,
    pub threshold: u64,
}

/// The four top-level roles of a new root.
#[derive(Debug, Clone)]
pub struct RootSetup {
    pub root: RoleSetup,
    pub targets: RoleSetup,
    pub snapshot: RoleSetup,
    pub timestamp: RoleSetup,
}

/// A root (unsigned) of `version` with these roles, expiring at `expires`.
pub fn new_root(version: u64, expires: Time, setup: &RootSetup) -> Result<Root, Error> {
    let mut keys = BTreeMap::new();
    let mut roles = BTreeMap::new();
    for (name, role) in [
        ("root", &setup.root),
        ("targets", &setup.targets),
        ("snapshot", &setup.snapshot),
        ("timestamp", &setup.timestamp),
    ] {
        if role.threshold == 0 || role.threshold > u64::try_from(role.keys.len()).unwrap_or(0) {
            return Err(Error::Sign {
                role: "root",
                reason: format!(
                    "role {name} has threshold {} with {} keys",
                    role.threshold,
                    role.keys.len()
                ),
            });
        }
        let mut keyids = Vec::new();
        for public in &role.keys {
            let key = Key::ed25519(public);
            let id = key_id(&key);
            if keyids.contains(&id) {
                return Err(Error::Sign {
                    role: "root",
                    reason: format!("role {name} lists key {id} twice"),
                });
            }
            keyids.push(id.clone());
            keys.insert(id, key);
        }
        roles.insert(
            name.to_string(),
            RoleKeys {
                keyids,
                threshold: role.threshold,
                unrecognized: Map::new(),
            },
        );
    }
    Ok(Root {
        type_: "root".into(),
        spec_version: SPEC_VERSION.into(),
        version,
        expires,
        consistent_snapshot: Some(true),
        keys,
        roles,
        unrecognized: Map::new(),
    })
}

/// Signs root `new` with `keys` and checks that it verifies: against its
/// own root role and, when `previous` is given (a rotation, §6.1), against
/// the previous root's root role, its version being the next one.
pub fn sign_root(
    new: Root,
    previous: Option<&Root>,
    keys: &[&SigningKey],
) -> Result<Metadata<Root>, Error> {
    let metadata = Metadata::sign(new, keys)?;
    let check = |signer: &Root| {
        signer
            .verify_role("root", metadata.signed_bytes(), &metadata.signatures)
            .map_err(|e| Error::Sign {
                role: "root",
                reason: format!("version {}: {e}", signer.version),
            })
    };
    if let Some(previous) = previous {
        if metadata.signed.version != previous.version + 1 {
            return Err(Error::Sign {
                role: "root",
                reason: format!(
                    "version {} does not follow version {}",
                    metadata.signed.version, previous.version
                ),
            });
        }
        check(previous)?;
    }
    check(&metadata.signed)?;
    Ok(metadata)
}

/// Signs `signed` (targets, snapshot or timestamp) with `keys` and checks
/// that the signatures meet `root`'s threshold for the role.
pub fn sign_role<T: Role>(
    root: &Root,
    signed: T,
    keys: &[&SigningKey],
) -> Result<Metadata<T>, Error> {
    let metadata = Metadata::sign(signed, keys)?;
    root.verify_role(T::TYPE, metadata.signed_bytes(), &metadata.signatures)
        .map_err(|e| Error::Sign {
            role: T::TYPE,
            reason: e.to_string(),
        })?;
    Ok(metadata)
}

/// Targets metadata (unsigned) listing `targets`.
pub fn new_targets(
    version: u64,
    expires: Time,
    targets: BTreeMap<String, crate::TargetFile>,
) -> Targets {
    Targets {
        type_: "targets".into(),
        spec_version: SPEC_VERSION.into(),
        version,
        expires,
        targets,
        delegations: None,
        unrecognized: Map::new(),
    }
}

fn meta_for(version: u64, bytes: &[u8]) -> MetaFile {
    MetaFile {
        version,
        length: Some(u64::try_from(bytes.len()).unwrap_or(u64::MAX)),
        hashes: Some(BTreeMap::from([(
            "sha256".to_string(),
            hex::encode(Sha256::digest(bytes)),
        )])),
        unrecognized: Map::new(),
    }
}

/// Snapshot metadata (unsigned) naming the signed targets file `targets`.
pub fn new_snapshot(version: u64, expires: Time, targets: &Metadata<Targets>) -> Snapshot {
    Snapshot {
        type_: "snapshot".into(),
        spec_version: SPEC_VERSION.into(),
        version,
        expires,
        meta: BTreeMap::from([(
            "targets.json".to_string(),
            meta_for(targets.signed.version, &targets.to_bytes()),
        )]),
        unrecognized: Map::new(),
    }
}

/// Timestamp metadata (unsigned) naming the signed snapshot file `snapshot`.
pub fn new_timestamp(version: u64, expires: Time, snapshot: &Metadata<Snapshot>) -> Timestamp {
    Timestamp {
        type_: "timestamp".into(),
        spec_version: SPEC_VERSION.into(),
        version,
        expires,
        meta: BTreeMap::from([(
            "snapshot.json".to_string(),
            meta_for(snapshot.signed.version, &snapshot.to_bytes()),
        )]),
        unrecognized: Map::new(),
    }
}

/// Versions and expiry times of one publication of targets, snapshot and
/// timestamp.
#[derive(Debug, Clone, Copy)]
pub struct Publication {
    pub targets_version: u64,
    pub targets_expires: Time,
    pub snapshot_version: u64,
    pub snapshot_expires: Time,
    pub timestamp_version: u64,
    pub timestamp_expires: Time,
}

/// The signing keys of the three non-root top-level roles.
#[derive(Debug, Clone, Copy)]
pub struct Signers<'a> {
    pub targets: &'a [&'a SigningKey],
    pub snapshot: &'a [&'a SigningKey],
    pub timestamp: &'a [&'a SigningKey],
}

/// Signs targets, snapshot and timestamp for `targets` and returns the
/// metadata files to write, by their consistent-snapshot names: first
/// `N.targets.json`, then `N.snapshot.json`, then `timestamp.json` (write
/// them in this order so a client never sees a timestamp naming a missing
/// snapshot).
pub fn publish(
    root: &Root,
    targets: BTreeMap<String, crate::TargetFile>,
    p: &Publication,
    signers: &Signers<'_>,
) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let targets = sign_role(
        root,
        new_targets(p.targets_version, p.targets_expires, targets),
        signers.targets,
    )?;
    let snapshot = sign_role(
        root,
        new_snapshot(p.snapshot_version, p.snapshot_expires, &targets),
        signers.snapshot,
    )?;
    let timestamp = sign_role(
        root,
        new_timestamp(p.timestamp_version, p.timestamp_expires, &snapshot),
        signers.timestamp,
    )?;
    Ok(vec![
        (targets_file_name(p.targets_version), targets.to_bytes()),
        (snapshot_file_name(p.snapshot_version), snapshot.to_bytes()),
        (TIMESTAMP_FILE.to_string(), timestamp.to_bytes()),
    ])
}
