//! The client workflow (spec §5): the good path, and one test per refusal,
//! each asserting the exact message.

mod common;

use common::*;
use tuf::repository::{self, target_file_name};
use tuf::{Client, Error, Metadata, TimestampUpdate};

fn client(repo: &Repo) -> Client {
    Client::new(&repo.root_bytes(), now()).unwrap()
}

/// A client that trusts timestamp, snapshot and targets of `repo.chain()`.
fn loaded(repo: &Repo) -> Client {
    let (timestamp, snapshot, targets) = repo.chain();
    let mut c = client(repo);
    assert_eq!(
        c.update_timestamp(&timestamp).unwrap(),
        TimestampUpdate::Updated
    );
    c.update_snapshot(&snapshot).unwrap();
    c.update_targets(&targets).unwrap();
    c
}

fn msg<T: std::fmt::Debug>(r: Result<T, Error>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn good_path_and_target() {
    let repo = Repo::new();
    let mut c = client(&repo);
    assert_eq!(c.next_root_request(), ("2.root.json".to_string(), 512_000));
    let (timestamp, snapshot, targets) = repo.chain();
    c.update_timestamp(&timestamp).unwrap();
    let snapshot_len = u64::try_from(snapshot.len()).unwrap();
    assert_eq!(
        c.snapshot_request().unwrap(),
        ("1.snapshot.json".to_string(), snapshot_len)
    );
    c.update_snapshot(&snapshot).unwrap();
    let targets_len = u64::try_from(targets.len()).unwrap();
    assert_eq!(
        c.targets_request().unwrap(),
        ("1.targets.json".to_string(), targets_len)
    );
    c.update_targets(&targets).unwrap();
    let entry = c.target("clip-1.2.3.zst").unwrap();
    assert_eq!(entry.custom.as_ref().unwrap()["version"], "1.2.3");
    let (name, len) = c.target_request("clip-1.2.3.zst").unwrap();
    assert_eq!(
        name,
        target_file_name("clip-1.2.3.zst", &entry.hashes["sha256"])
    );
    assert!(name.ends_with(".clip-1.2.3.zst") && name.len() == 64 + 1 + 14);
    assert_eq!(len, u64::try_from(PAYLOAD.len()).unwrap());
    c.verify_target("clip-1.2.3.zst", PAYLOAD).unwrap();
    // Streamed in pieces.
    let mut v = c.target_verifier("clip-1.2.3.zst").unwrap();
    for chunk in PAYLOAD.chunks(5) {
        v.update(chunk).unwrap();
    }
    v.finish().unwrap();
    assert_eq!(c.trusted_bytes("targets"), Some(targets.as_slice()));
    assert_eq!(c.trusted_bytes("timestamp"), Some(timestamp.as_slice()));
}

#[test]
fn target_bytes_refused() {
    let repo = Repo::new();
    let c = loaded(&repo);
    let n = PAYLOAD.len();
    let mut v = c.target_verifier("clip-1.2.3.zst").unwrap();
    v.update(PAYLOAD).unwrap();
    assert_eq!(
        msg(v.update(b"x")),
        format!("target clip-1.2.3.zst is longer than the {n} bytes allowed")
    );
    assert_eq!(
        msg(c.verify_target("clip-1.2.3.zst", &PAYLOAD[..n - 1])),
        format!(
            "target clip-1.2.3.zst is {} bytes, not the {n} bytes the targets names",
            n - 1
        )
    );
    let mut tampered = PAYLOAD.to_vec();
    tampered[0] ^= 1;
    let m = msg(c.verify_target("clip-1.2.3.zst", &tampered));
    assert!(
        m.starts_with(
            "target clip-1.2.3.zst does not match the sha256 hash the targets names: expected "
        ),
        "{m}"
    );
    assert_eq!(
        msg(c.target("other")),
        "target other is not listed in the top-level targets (delegated roles are not followed)"
    );
}

#[test]
fn root_chain_rotation() {
    let repo = Repo::new();
    let new_root_key = key(11);
    let mut v2 = repo.root.signed.clone();
    v2.version = 2;
    let new = repository::new_root(
        2,
        later(),
        &setup(
            &new_root_key,
            &repo.targets_key,
            &repo.snapshot_key,
            &repo.timestamp_key,
        ),
    )
    .unwrap();
    v2.keys = new.keys.clone();
    v2.roles = new.roles.clone();
    // Signed by the old root key only: the new root's own threshold fails.
    let only_old = Metadata::sign(v2.clone(), &[&repo.root_key])
        .unwrap()
        .to_bytes();
    let mut c = client(&repo);
    assert_eq!(
        msg(c.update_root(&only_old)),
        "signature threshold not met for role root: 0 of 1 valid"
    );
    // Signed by the new key only: the trusted root's threshold fails.
    let only_new = Metadata::sign(v2.clone(), &[&new_root_key])
        .unwrap()
        .to_bytes();
    assert_eq!(
        msg(c.update_root(&only_new)),
        "signature threshold not met for role root: 0 of 1 valid"
    );
    assert_eq!(c.root().version, 1);
    // Both: accepted; the API checks the same.
    let both = repository::sign_root(
        v2.clone(),
        Some(&repo.root.signed),
        &[&repo.root_key, &new_root_key],
    )
    .unwrap();
    assert!(repository::sign_root(v2.clone(), Some(&repo.root.signed), &[&new_root_key]).is_err());
    c.update_root(&both.to_bytes()).unwrap();
    assert_eq!(c.root().version, 2);
    assert_eq!(c.keys_rotated(), (false, false));
    assert_eq!(c.next_root_request().0, "3.root.json");
    // The same root again, or one skipping a version.
    assert_eq!(
        msg(c.update_root(&both.to_bytes())),
        "root version 2 is not 3, the version after the trusted root's"
    );
    let mut v4 = v2.clone();
    v4.version = 4;
    let v4 = Metadata::sign(v4, &[&new_root_key]).unwrap().to_bytes();
    assert_eq!(
        msg(c.update_root(&v4)),
        "root version 4 is not 3, the version after the trusted root's"
    );
    // The old key alone can no longer sign anything for the root.
    let mut v3 = v2.clone();
    v3.version = 3;
    let v3_old = Metadata::sign(v3, &[&repo.root_key]).unwrap().to_bytes();
    assert_eq!(
        msg(c.update_root(&v3_old)),
        "signature threshold not met for role root: 0 of 1 valid"
    );
    // The rest of the chain still verifies under root v2.
    let (timestamp, snapshot, targets) = repo.chain();
    c.update_timestamp(&timestamp).unwrap();
    c.update_snapshot(&snapshot).unwrap();
    c.update_targets(&targets).unwrap();
}

#[test]
fn root_threshold_two_of_three() {
    let repo = Repo::new();
    let (a, b, c3) = (key(21), key(22), key(23));
    let mut s = setup(
        &a,
        &repo.targets_key,
        &repo.snapshot_key,
        &repo.timestamp_key,
    );
    s.root.keys = vec![a.verifying_key(), b.verifying_key(), c3.verifying_key()];
    s.root.threshold = 2;
    let v2 = repository::new_root(2, later(), &s).unwrap();
    let one = Metadata::sign(v2.clone(), &[&repo.root_key, &a])
        .unwrap()
        .to_bytes();
    let mut c = client(&repo);
    assert_eq!(
        msg(c.update_root(&one)),
        "signature threshold not met for role root: 1 of 2 valid"
    );
    let two = Metadata::sign(v2, &[&repo.root_key, &a, &c3])
        .unwrap()
        .to_bytes();
    c.update_root(&two).unwrap();
}

#[test]
fn expired_final_root_refused_intermediate_allowed() {
    let repo = Repo::new();
    let old = t("2026-01-01T00:00:00Z");
    // Root v2 expired, v3 not: the chain passes through v2.
    let mut v2 = repo.root.signed.clone();
    v2.version = 2;
    v2.expires = old;
    let v2b = Metadata::sign(v2.clone(), &[&repo.root_key])
        .unwrap()
        .to_bytes();
    let mut v3 = v2.clone();
    v3.version = 3;
    v3.expires = later();
    let v3b = Metadata::sign(v3, &[&repo.root_key]).unwrap().to_bytes();
    let (timestamp, _, _) = repo.chain();
    let mut c = client(&repo);
    c.update_root(&v2b).unwrap();
    assert_eq!(
        msg(c.update_timestamp(&timestamp)),
        "root expired at 2026-01-01T00:00:00Z (freeze attack?)"
    );
    let mut c = client(&repo);
    c.update_root(&v2b).unwrap();
    c.update_root(&v3b).unwrap();
    c.update_timestamp(&timestamp).unwrap();
}

#[test]
fn rotated_timestamp_keys_forget_persisted() {
    let repo = Repo::new();
    let (timestamp, snapshot, _) = repo.chain();
    let mut v2 = repository::new_root(
        2,
        later(),
        &setup(
            &repo.root_key,
            &repo.targets_key,
            &repo.snapshot_key,
            &key(31),
        ),
    )
    .unwrap();
    v2.version = 2;
    let v2 = Metadata::sign(v2, &[&repo.root_key]).unwrap().to_bytes();
    let mut c = client(&repo);
    c.update_root(&v2).unwrap();
    assert_eq!(c.keys_rotated(), (true, false));
    assert_eq!(
        msg(c.load_persisted_timestamp(&timestamp)),
        "the new root rotated the timestamp keys: the persisted timestamp is no longer trusted"
    );
    // Downloaded, the old-key timestamp fails the threshold.
    assert_eq!(
        msg(c.update_timestamp(&timestamp)),
        "signature threshold not met for role timestamp: 0 of 1 valid"
    );
    assert!(c.timestamp().is_none());
    let _ = snapshot;
    // Without rotation, the persisted timestamp loads.
    let mut c = client(&repo);
    c.load_persisted_timestamp(&timestamp).unwrap();
}

#[test]
fn timestamp_refusals() {
    let repo = Repo::new();
    let targets = repo.targets(1, later());
    let snap5 = repo.snapshot(5, later(), &targets);
    let ts5 = repo.timestamp(5, later(), &snap5).to_bytes();
    let ts3 = repo.timestamp(3, later(), &snap5).to_bytes();
    let snap4 = repo.snapshot(4, later(), &targets);
    let ts6_snap4 = repo.timestamp(6, later(), &snap4).to_bytes();
    let mut c = client(&repo);
    c.load_persisted_timestamp(&ts5).unwrap();
    assert_eq!(
        msg(c.update_timestamp(&ts3)),
        "timestamp version 3 is lower than the trusted version 5 (rollback)"
    );
    assert_eq!(
        msg(c.update_timestamp(&ts6_snap4)),
        "timestamp names snapshot.json version 4, lower than the version 5 the trusted timestamp names (rollback)"
    );
    assert_eq!(
        c.update_timestamp(&ts5).unwrap(),
        TimestampUpdate::Unchanged
    );
    assert_eq!(c.timestamp().unwrap().version, 5);
    // Freeze: an expired timestamp, even a newer one.
    let expired = repo
        .timestamp(7, t("2026-01-01T00:00:00Z"), &snap5)
        .to_bytes();
    assert_eq!(
        msg(c.update_timestamp(&expired)),
        "timestamp expired at 2026-01-01T00:00:00Z (freeze attack?)"
    );
    // ... kept for rollback checks, but no snapshot can follow it.
    assert_eq!(c.timestamp().unwrap().version, 7);
    assert_eq!(
        msg(c.update_snapshot(&snap5.to_bytes())),
        "timestamp expired at 2026-01-01T00:00:00Z (freeze attack?)"
    );
    assert_eq!(
        msg(c.update_timestamp(&ts6_snap4)),
        "timestamp version 6 is lower than the trusted version 7 (rollback)"
    );
    // The same expired version again is refused too (not "unchanged").
    assert_eq!(
        msg(c.update_timestamp(&expired)),
        "timestamp expired at 2026-01-01T00:00:00Z (freeze attack?)"
    );
    // Signed by the snapshot key instead.
    let wrong = repository::new_timestamp(8, later(), &snap5);
    let wrong = Metadata::sign(wrong, &[&repo.snapshot_key])
        .unwrap()
        .to_bytes();
    assert_eq!(
        msg(client(&repo).update_timestamp(&wrong)),
        "signature threshold not met for role timestamp: 0 of 1 valid"
    );
    // A timestamp past the length bound is not even parsed.
    let big = vec![b' '; 16_385];
    assert_eq!(
        msg(client(&repo).update_timestamp(&big)),
        "timestamp metadata is longer than the 16384 bytes allowed"
    );
}

#[test]
fn snapshot_refusals() {
    let repo = Repo::new();
    let targets = repo.targets(1, later());
    let snap = repo.snapshot(1, later(), &targets);
    let ts = repo.timestamp(1, later(), &snap).to_bytes();
    // Same length, other bytes: a later expiry of the same form.
    let other = repo
        .snapshot(1, t("2027-01-02T00:00:00Z"), &targets)
        .to_bytes();
    assert_eq!(other.len(), snap.to_bytes().len());
    let mut c = client(&repo);
    c.update_timestamp(&ts).unwrap();
    let m = msg(c.update_snapshot(&other));
    assert!(
        m.starts_with(
            "snapshot metadata does not match the sha256 hash the timestamp names: expected "
        ),
        "{m}"
    );
    let longer = repo.snapshot(10, later(), &targets).to_bytes();
    assert_eq!(
        msg(c.update_snapshot(&longer)),
        format!(
            "snapshot metadata is longer than the {} bytes allowed",
            snap.to_bytes().len()
        )
    );
    let mut shorter_targets = repo.targets(1, later());
    shorter_targets.signed.targets.clear();
    let shorter = repo
        .snapshot(1, later(), &repo.targets(1, later()))
        .to_bytes();
    let shorter = &shorter[..shorter.len() - 1];
    assert_eq!(
        msg(c.update_snapshot(shorter)),
        format!(
            "snapshot metadata is {} bytes, not the {} bytes the timestamp names",
            shorter.len(),
            snap.to_bytes().len()
        )
    );
    c.update_snapshot(&snap.to_bytes()).unwrap();
}

/// A timestamp naming only the snapshot's version (no length, no hashes),
/// so that the checks after the hash are reached.
fn bare_timestamp(repo: &Repo, version: u64, snapshot_version: u64) -> Vec<u8> {
    let targets = repo.targets(1, later());
    let snap = repo.snapshot(snapshot_version, later(), &targets);
    let mut ts = repository::new_timestamp(version, later(), &snap);
    let meta = ts.meta.get_mut("snapshot.json").unwrap();
    meta.length = None;
    meta.hashes = None;
    Metadata::sign(ts, &[&repo.timestamp_key])
        .unwrap()
        .to_bytes()
}

#[test]
fn snapshot_signature_version_expiry() {
    let repo = Repo::new();
    let targets = repo.targets(1, later());
    let mut c = client(&repo);
    c.update_timestamp(&bare_timestamp(&repo, 1, 5)).unwrap();
    assert_eq!(
        c.snapshot_request().unwrap(),
        ("5.snapshot.json".to_string(), 2_000_000)
    );
    let wrong_key = Metadata::sign(
        repository::new_snapshot(5, later(), &targets),
        &[&repo.targets_key],
    )
    .unwrap();
    assert_eq!(
        msg(c.update_snapshot(&wrong_key.to_bytes())),
        "signature threshold not met for role snapshot: 0 of 1 valid"
    );
    assert_eq!(
        msg(c.update_snapshot(&repo.snapshot(4, later(), &targets).to_bytes())),
        "snapshot version 4 does not match the version 5 the timestamp names (mix-and-match)"
    );
    let mut c = client(&repo);
    c.update_timestamp(&bare_timestamp(&repo, 1, 5)).unwrap();
    assert_eq!(
        msg(c.update_snapshot(
            &repo
                .snapshot(5, t("2026-05-31T23:59:59Z"), &targets)
                .to_bytes()
        )),
        "snapshot expired at 2026-05-31T23:59:59Z (freeze attack?)"
    );
    // Expiry is `now >= expires`.
    let mut c = Client::new(&repo.root_bytes(), t("2026-05-31T23:59:58Z")).unwrap();
    c.update_timestamp(&bare_timestamp(&repo, 1, 5)).unwrap();
    c.update_snapshot(
        &repo
            .snapshot(5, t("2026-05-31T23:59:59Z"), &targets)
            .to_bytes(),
    )
    .unwrap();
}

#[test]
fn snapshot_rollback_of_targets_refused() {
    let repo = Repo::new();
    let targets5 = repo.targets(5, later());
    let targets3 = repo.targets(3, later());
    let persisted = repo.snapshot(1, later(), &targets5).to_bytes();
    let mut c = client(&repo);
    c.update_timestamp(&bare_timestamp(&repo, 2, 2)).unwrap();
    // The persisted snapshot v1 is kept as the rollback reference, though
    // the timestamp now names v2.
    assert_eq!(
        msg(c.load_persisted_snapshot(&persisted)),
        "snapshot version 1 does not match the version 2 the timestamp names (mix-and-match)"
    );
    assert_eq!(
        msg(c.update_snapshot(&repo.snapshot(2, later(), &targets3).to_bytes())),
        "snapshot names targets.json version 3, lower than the version 5 the trusted snapshot names (rollback)"
    );
    let mut dropped = repository::new_snapshot(2, later(), &targets5);
    dropped.meta.clear();
    dropped.meta.insert(
        "other.json".into(),
        tuf::MetaFile {
            version: 1,
            length: None,
            hashes: None,
            unrecognized: Default::default(),
        },
    );
    let dropped = Metadata::sign(dropped, &[&repo.snapshot_key])
        .unwrap()
        .to_bytes();
    assert_eq!(
        msg(c.update_snapshot(&dropped)),
        "the new snapshot does not name targets.json, which the trusted snapshot names"
    );
    c.update_snapshot(&repo.snapshot(2, later(), &targets5).to_bytes())
        .unwrap();
}

#[test]
fn targets_refusals() {
    let repo = Repo::new();
    let targets = repo.targets(2, later());
    // Snapshot naming targets v2 with length and hash.
    let snap = repo.snapshot(1, later(), &targets);
    let ts = repo.timestamp(1, later(), &snap).to_bytes();
    let mut c = client(&repo);
    c.update_timestamp(&ts).unwrap();
    c.update_snapshot(&snap.to_bytes()).unwrap();
    let other = repo.targets(2, t("2027-01-02T00:00:00Z")).to_bytes();
    let m = msg(c.update_targets(&other));
    assert!(
        m.starts_with(
            "targets metadata does not match the sha256 hash the snapshot names: expected "
        ),
        "{m}"
    );
    // A snapshot naming targets v2 by version only.
    let mut bare = repository::new_snapshot(1, later(), &targets);
    let meta = bare.meta.get_mut("targets.json").unwrap();
    meta.length = None;
    meta.hashes = None;
    let bare = Metadata::sign(bare, &[&repo.snapshot_key])
        .unwrap()
        .to_bytes();
    let mut c = client(&repo);
    c.update_timestamp(&bare_timestamp(&repo, 1, 1)).unwrap();
    c.update_snapshot(&bare).unwrap();
    assert_eq!(
        c.targets_request().unwrap(),
        ("2.targets.json".to_string(), 5_000_000)
    );
    assert_eq!(
        msg(c.update_targets(&repo.targets(1, later()).to_bytes())),
        "targets version 1 does not match the version 2 the snapshot names (mix-and-match)"
    );
    let wrong = Metadata::sign(
        repository::new_targets(2, later(), Repo::targets_map()),
        &[&repo.timestamp_key],
    )
    .unwrap();
    assert_eq!(
        msg(c.update_targets(&wrong.to_bytes())),
        "signature threshold not met for role targets: 0 of 1 valid"
    );
    assert_eq!(
        msg(c.update_targets(&repo.targets(2, t("2026-02-03T04:05:06Z")).to_bytes())),
        "targets expired at 2026-02-03T04:05:06Z (freeze attack?)"
    );
    assert!(c.targets().is_none());
    c.update_targets(&targets.to_bytes()).unwrap();
}

#[test]
fn order_refused() {
    let repo = Repo::new();
    let (timestamp, snapshot, targets) = repo.chain();
    let mut c = client(&repo);
    assert_eq!(
        msg(c.update_snapshot(&snapshot)),
        "cannot check the timestamp: no timestamp is trusted yet"
    );
    c.update_timestamp(&timestamp).unwrap();
    assert_eq!(
        msg(c.update_targets(&targets)),
        "cannot check the snapshot: no snapshot is trusted yet"
    );
    assert_eq!(
        msg(c.update_root(&repo.root_bytes())),
        "cannot update the root: a timestamp is already trusted in this session"
    );
    c.update_snapshot(&snapshot).unwrap();
    assert_eq!(
        msg(c.update_timestamp(&timestamp)),
        "cannot update the timestamp: a snapshot is already trusted in this session"
    );
}

#[test]
fn persisted_state_keeps_rollback_protection() {
    let repo = Repo::new();
    let targets = repo.targets(1, later());
    let snap2 = repo.snapshot(2, later(), &targets);
    let ts2 = repo.timestamp(2, later(), &snap2);
    let mut c = client(&repo);
    c.update_timestamp(&ts2.to_bytes()).unwrap();
    c.update_snapshot(&snap2.to_bytes()).unwrap();
    c.update_targets(&targets.to_bytes()).unwrap();
    let saved_ts = c.trusted_bytes("timestamp").unwrap().to_vec();
    let saved_snap = c.trusted_bytes("snapshot").unwrap().to_vec();
    let saved_root = c.trusted_bytes("root").unwrap().to_vec();
    // Next session: the server offers the older v1 chain.
    let (old_ts, _, _) = repo.chain();
    let mut c = Client::new(&saved_root, now()).unwrap();
    c.load_persisted_timestamp(&saved_ts).unwrap();
    assert_eq!(
        msg(c.update_timestamp(&old_ts)),
        "timestamp version 1 is lower than the trusted version 2 (rollback)"
    );
    c.load_persisted_snapshot(&saved_snap).unwrap();
    c.update_targets(&targets.to_bytes()).unwrap();
}

#[test]
fn first_root_must_sign_itself() {
    let repo = Repo::new();
    let unsigned = Metadata::sign(repo.root.signed.clone(), &[&repo.targets_key]).unwrap();
    assert_eq!(
        msg(Client::new(&unsigned.to_bytes(), now())),
        "signature threshold not met for role root: 0 of 1 valid"
    );
    assert_eq!(client(&repo).root().version, 1);
}
