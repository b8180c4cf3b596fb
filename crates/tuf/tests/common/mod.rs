//! A small repository made with the crate's own repository side, for the
//! client tests: one ed25519 key per role (deterministic), consistent
//! snapshots, expiry in 2027.
#![allow(dead_code)]

use std::collections::BTreeMap;

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use tuf::repository::{self, RoleSetup, RootSetup};
use tuf::{Metadata, Root, Snapshot, TargetFile, Targets, Time, Timestamp, canonical, key_id};

pub fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

pub fn t(text: &str) -> Time {
    Time::parse(text).unwrap()
}

pub fn now() -> Time {
    t("2026-06-01T00:00:00Z")
}

pub fn later() -> Time {
    t("2027-01-01T00:00:00Z")
}

pub const PAYLOAD: &[u8] = b"the release payload, compressed";

#[derive(Debug)]
pub struct Repo {
    pub root_key: SigningKey,
    pub targets_key: SigningKey,
    pub snapshot_key: SigningKey,
    pub timestamp_key: SigningKey,
    pub root: Metadata<Root>,
}

pub fn setup(
    root: &SigningKey,
    targets: &SigningKey,
    snapshot: &SigningKey,
    timestamp: &SigningKey,
) -> RootSetup {
    let one = |k: &SigningKey| RoleSetup {
        keys: vec![k.verifying_key()],
        threshold: 1,
    };
    RootSetup {
        root: one(root),
        targets: one(targets),
        snapshot: one(snapshot),
        timestamp: one(timestamp),
    }
}

impl Repo {
    pub fn new() -> Repo {
        let (root_key, targets_key, snapshot_key, timestamp_key) = (key(1), key(2), key(3), key(4));
        let root = repository::new_root(
            1,
            later(),
            &setup(&root_key, &targets_key, &snapshot_key, &timestamp_key),
        )
        .unwrap();
        let root = repository::sign_root(root, None, &[&root_key]).unwrap();
        Repo {
            root_key,
            targets_key,
            snapshot_key,
            timestamp_key,
            root,
        }
    }

    pub fn root_bytes(&self) -> Vec<u8> {
        self.root.to_bytes()
    }

    pub fn targets_map() -> BTreeMap<String, TargetFile> {
        BTreeMap::from([(
            "clip-1.2.3.zst".to_string(),
            TargetFile::for_bytes(
                PAYLOAD,
                Some(json!({"version": "1.2.3", "verity_root_hash": "ab"})),
            ),
        )])
    }

    pub fn targets(&self, version: u64, expires: Time) -> Metadata<Targets> {
        repository::sign_role(
            &self.root.signed,
            repository::new_targets(version, expires, Self::targets_map()),
            &[&self.targets_key],
        )
        .unwrap()
    }

    pub fn snapshot(
        &self,
        version: u64,
        expires: Time,
        targets: &Metadata<Targets>,
    ) -> Metadata<Snapshot> {
        repository::sign_role(
            &self.root.signed,
            repository::new_snapshot(version, expires, targets),
            &[&self.snapshot_key],
        )
        .unwrap()
    }

    pub fn timestamp(
        &self,
        version: u64,
        expires: Time,
        snapshot: &Metadata<Snapshot>,
    ) -> Metadata<Timestamp> {
        repository::sign_role(
            &self.root.signed,
            repository::new_timestamp(version, expires, snapshot),
            &[&self.timestamp_key],
        )
        .unwrap()
    }

    /// targets v1, snapshot v1, timestamp v1 as bytes.
    pub fn chain(&self) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let targets = self.targets(1, later());
        let snapshot = self.snapshot(1, later(), &targets);
        let timestamp = self.timestamp(1, later(), &snapshot);
        (
            timestamp.to_bytes(),
            snapshot.to_bytes(),
            targets.to_bytes(),
        )
    }
}

/// Signs an arbitrary `signed` JSON object with `keys`, as the envelope.
pub fn sign_value(signed: &Value, keys: &[&SigningKey]) -> Vec<u8> {
    let payload = canonical::encode(signed).unwrap();
    let signatures: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "keyid": key_id(&tuf::Key::ed25519(&k.verifying_key())),
                "sig": hex::encode(k.sign(&payload).to_bytes()),
            })
        })
        .collect();
    canonical::encode(&json!({"signatures": signatures, "signed": signed})).unwrap()
}

/// The `signed` object of metadata bytes.
pub fn signed_of(bytes: &[u8]) -> Value {
    let v: Value = serde_json::from_slice(bytes).unwrap();
    v["signed"].clone()
}
