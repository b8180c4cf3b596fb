//! The client side: the detailed client workflow of spec 1.0.31 §5, over
//! bytes the caller fetched (no I/O here), in python-tuf's order and with
//! its checks (`TrustedMetadataSet`):
//!
//! 1. §5.2 Start from a trusted root ([`Client::new`]: the root shipped in
//!    the OS image, or the newest one persisted), checked against itself.
//! 2. §5.3 Update the root: fetch `N+1.root.json` (at most
//!    [`crate::ROOT_MAX_LENGTH`] bytes) until there is none, passing each to
//!    [`Client::update_root`]: signed by the trusted root's root threshold
//!    AND its own, version exactly N+1. An intermediate root may be expired;
//!    the final root's expiry is checked on the first timestamp update. When
//!    the new root changes the timestamp or snapshot keys (§5.3.11), the
//!    persisted timestamp and snapshot are no longer trusted
//!    ([`Client::keys_rotated`]; their loaders refuse them).
//! 3. §5.4 Timestamp (`timestamp.json`, at most
//!    [`crate::TIMESTAMP_MAX_LENGTH`] bytes): threshold, no version rollback,
//!    the snapshot version it names not lower than the trusted timestamp's,
//!    not expired (freeze). The same version as the trusted one keeps the
//!    trusted one.
//! 4. §5.5 Snapshot (`N.snapshot.json` with N from the timestamp): length
//!    and hashes the timestamp gives, threshold, no file it names rolled
//!    back or dropped against the trusted snapshot, version equal to the
//!    timestamp's (mix-and-match), not expired.
//! 5. §5.6 Targets (`N.targets.json`): length and hashes the snapshot gives,
//!    threshold, version equal to the snapshot's, not expired.
//! 6. §5.7 Targets are looked up in the top-level targets only. Delegated
//!    roles are not followed (the `delegations` object is read and ignored):
//!    our repositories never delegate, and a target listed at the top level
//!    is what the full preorder search would find first anyway.
//!    [`Client::target`] gives the entry: its exact length bounds the
//!    download *before* it starts, and [`TargetVerifier`] checks streamed
//!    bytes.
//!
//! Rollback protection across restarts: the caller persists
//! [`Client::trusted_bytes`] of each role after each update and passes them
//! back, after the root update, to [`Client::load_persisted_timestamp`],
//! [`Client::load_persisted_snapshot`] and [`Client::update_targets`].
//! Like python-tuf, a persisted timestamp or snapshot that verifies but is
//! expired (or, for the snapshot, no longer the version the timestamp names)
//! is kept as the reference for rollback checks while the error is returned.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256, Sha512};

use crate::metadata::{MetaFile, Metadata, Role, Root, Snapshot, TargetFile, Targets, Timestamp};
use crate::repository::{root_file_name, snapshot_file_name, target_file_name, targets_file_name};
use crate::{
    Error, ROOT_MAX_LENGTH, SNAPSHOT_MAX_LENGTH, TARGETS_MAX_LENGTH, TIMESTAMP_MAX_LENGTH, Time,
};

/// What [`Client::update_timestamp`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampUpdate {
    /// A newer timestamp is now trusted.
    Updated,
    /// The same version as the trusted one: the trusted one is kept.
    Unchanged,
}

#[derive(Debug, Clone)]
struct Trusted<T> {
    metadata: Metadata<T>,
    bytes: Vec<u8>,
}

/// The trusted metadata of one client session (python-tuf's
/// `TrustedMetadataSet`).
#[derive(Debug, Clone)]
pub struct Client {
    now: Time,
    root: Trusted<Root>,
    rotated_timestamp: bool,
    rotated_snapshot: bool,
    timestamp: Option<Trusted<Timestamp>>,
    snapshot: Option<Trusted<Snapshot>>,
    targets: Option<Trusted<Targets>>,
}

fn too_long(what: &str, bytes: &[u8], limit: u64) -> Result<(), Error> {
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
        return Err(Error::TooLong {
            what: what.to_string(),
            limit,
        });
    }
    Ok(())
}

/// Checks `data` against the length and hashes `meta` gives (§5.5.1, §5.6.2).
fn check_meta_file(
    what: &str,
    data: &[u8],
    meta: &MetaFile,
    named_by: &'static str,
) -> Result<(), Error> {
    let found = u64::try_from(data.len()).unwrap_or(u64::MAX);
    if let Some(expected) = meta.length {
        if found != expected {
            return Err(Error::Length {
                what: what.to_string(),
                found,
                expected,
                named_by,
            });
        }
    }
    if let Some(hashes) = &meta.hashes {
        let mut verifier = Hashes::new(what, hashes)?;
        verifier.update(data);
        verifier.check(what, named_by)?;
    }
    Ok(())
}

/// The hashes a metadata file or target must match, computed incrementally.
#[derive(Debug, Clone)]
struct Hashes {
    expected: BTreeMap<String, String>,
    sha256: Option<Sha256>,
    sha512: Option<Sha512>,
}

impl Hashes {
    fn new(what: &str, expected: &BTreeMap<String, String>) -> Result<Hashes, Error> {
        if expected.is_empty() {
            return Err(Error::NoHash {
                what: what.to_string(),
            });
        }
        let mut hashes = Hashes {
            expected: expected.clone(),
            sha256: None,
            sha512: None,
        };
        for algorithm in expected.keys() {
            match algorithm.as_str() {
                "sha256" => hashes.sha256 = Some(Sha256::new()),
                "sha512" => hashes.sha512 = Some(Sha512::new()),
                _ => {
                    return Err(Error::UnsupportedHash {
                        what: what.to_string(),
                        algorithm: algorithm.clone(),
                    });
                }
            }
        }
        Ok(hashes)
    }

    fn update(&mut self, data: &[u8]) {
        if let Some(h) = &mut self.sha256 {
            h.update(data);
        }
        if let Some(h) = &mut self.sha512 {
            h.update(data);
        }
    }

    fn check(self, what: &str, named_by: &'static str) -> Result<(), Error> {
        let mut found = BTreeMap::new();
        if let Some(h) = self.sha256 {
            found.insert("sha256", hex::encode(h.finalize()));
        }
        if let Some(h) = self.sha512 {
            found.insert("sha512", hex::encode(h.finalize()));
        }
        for (algorithm, expected) in &self.expected {
            let got = found.get(algorithm.as_str()).cloned().unwrap_or_default();
            if !got.eq_ignore_ascii_case(expected) {
                return Err(Error::Hash {
                    what: what.to_string(),
                    algorithm: algorithm.clone(),
                    expected: expected.clone(),
                    found: got,
                    named_by,
                });
            }
        }
        Ok(())
    }
}

/// Parses `bytes` as role `T` and checks `root`'s threshold for it.
fn load<T: Role>(root: &Root, bytes: &[u8]) -> Result<Metadata<T>, Error> {
    let metadata = Metadata::<T>::from_bytes(bytes)?;
    root.verify_role(T::TYPE, metadata.signed_bytes(), &metadata.signatures)?;
    Ok(metadata)
}

fn expired<T: Role>(signed: &T, now: Time) -> Result<(), Error> {
    if now >= signed.expires() {
        return Err(Error::Expired {
            role: T::TYPE,
            expires: signed.expires(),
        });
    }
    Ok(())
}

impl Client {
    /// Starts from `trusted_root` (§5.2), which must be signed by its own
    /// root threshold. `now` is the time every expiry is checked against.
    pub fn new(trusted_root: &[u8], now: Time) -> Result<Client, Error> {
        let metadata = Metadata::<Root>::from_bytes(trusted_root)?;
        metadata
            .signed
            .verify_role("root", metadata.signed_bytes(), &metadata.signatures)?;
        Ok(Client {
            now,
            root: Trusted {
                metadata,
                bytes: trusted_root.to_vec(),
            },
            rotated_timestamp: false,
            rotated_snapshot: false,
            timestamp: None,
            snapshot: None,
            targets: None,
        })
    }

    /// The trusted root.
    pub fn root(&self) -> &Root {
        &self.root.metadata.signed
    }

    /// The trusted timestamp, if any.
    pub fn timestamp(&self) -> Option<&Timestamp> {
        self.timestamp.as_ref().map(|t| &t.metadata.signed)
    }

    /// The trusted snapshot, if any.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref().map(|t| &t.metadata.signed)
    }

    /// The trusted targets, if any.
    pub fn targets(&self) -> Option<&Targets> {
        self.targets.as_ref().map(|t| &t.metadata.signed)
    }

    /// The bytes of the trusted metadata of `role` ("root", "timestamp",
    /// "snapshot", "targets"), to persist for the next session.
    pub fn trusted_bytes(&self, role: &str) -> Option<&[u8]> {
        match role {
            "root" => Some(&self.root.bytes),
            "timestamp" => self.timestamp.as_ref().map(|t| t.bytes.as_slice()),
            "snapshot" => self.snapshot.as_ref().map(|t| t.bytes.as_slice()),
            "targets" => self.targets.as_ref().map(|t| t.bytes.as_slice()),
            _ => None,
        }
    }

    /// The file to fetch for the next root (§5.3.2), and its length bound.
    pub fn next_root_request(&self) -> (String, u64) {
        (root_file_name(self.root().version + 1), ROOT_MAX_LENGTH)
    }

    /// Whether a root update changed the (timestamp, snapshot) role keys:
    /// the caller should delete the persisted timestamp and snapshot (§5.3.11).
    pub fn keys_rotated(&self) -> (bool, bool) {
        (self.rotated_timestamp, self.rotated_snapshot)
    }

    /// §5.3.3–§5.3.9: `bytes` as root version N+1.
    pub fn update_root(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.timestamp.is_some() {
            return Err(Error::Order {
                action: "update the root",
                reason: "a timestamp is already trusted in this session",
            });
        }
        too_long("root metadata", bytes, ROOT_MAX_LENGTH)?;
        let old = &self.root.metadata.signed;
        let new = load::<Root>(old, bytes)?;
        let expected = old.version + 1;
        if new.signed.version != expected {
            return Err(Error::RootVersion {
                expected,
                found: new.signed.version,
            });
        }
        new.signed
            .verify_role("root", new.signed_bytes(), &new.signatures)?;
        self.rotated_timestamp |= old.role_keys("timestamp") != new.signed.role_keys("timestamp");
        self.rotated_snapshot |= old.role_keys("snapshot") != new.signed.role_keys("snapshot");
        self.root = Trusted {
            metadata: new,
            bytes: bytes.to_vec(),
        };
        Ok(())
    }

    /// §5.4 with persisted bytes, refused when the keys rotated (§5.3.11).
    pub fn load_persisted_timestamp(&mut self, bytes: &[u8]) -> Result<TimestampUpdate, Error> {
        if self.rotated_timestamp || self.rotated_snapshot {
            return Err(Error::KeysRotated { role: "timestamp" });
        }
        self.update_timestamp(bytes)
    }

    /// §5.4: `bytes` as `timestamp.json`. A verified but expired timestamp
    /// is kept (for rollback checks of the next one) and refused.
    pub fn update_timestamp(&mut self, bytes: &[u8]) -> Result<TimestampUpdate, Error> {
        if self.snapshot.is_some() {
            return Err(Error::Order {
                action: "update the timestamp",
                reason: "a snapshot is already trusted in this session",
            });
        }
        expired(self.root(), self.now)?;
        too_long("timestamp metadata", bytes, TIMESTAMP_MAX_LENGTH)?;
        let new = load::<Timestamp>(self.root(), bytes)?;
        if let Some(trusted) = &self.timestamp {
            let trusted = &trusted.metadata.signed;
            if new.signed.version < trusted.version {
                return Err(Error::Rollback {
                    role: "timestamp",
                    found: new.signed.version,
                    trusted: trusted.version,
                });
            }
            if new.signed.version == trusted.version {
                expired(trusted, self.now)?;
                return Ok(TimestampUpdate::Unchanged);
            }
            let (old_meta, new_meta) = (snapshot_meta(trusted)?, snapshot_meta(&new.signed)?);
            if new_meta.version < old_meta.version {
                return Err(Error::MetaRollback {
                    role: "timestamp",
                    file: "snapshot.json".into(),
                    found: new_meta.version,
                    trusted: old_meta.version,
                });
            }
        }
        self.timestamp = Some(Trusted {
            metadata: new,
            bytes: bytes.to_vec(),
        });
        self.check_final_timestamp()?;
        Ok(TimestampUpdate::Updated)
    }

    fn trusted_timestamp(&self, action: &'static str) -> Result<&Timestamp, Error> {
        self.timestamp().ok_or(Error::Order {
            action,
            reason: "no timestamp is trusted yet",
        })
    }

    fn check_final_timestamp(&self) -> Result<(), Error> {
        expired(self.trusted_timestamp("check the timestamp")?, self.now)
    }

    /// The snapshot file to fetch (§5.5.1) and its length bound: the length
    /// the timestamp gives, else [`SNAPSHOT_MAX_LENGTH`].
    pub fn snapshot_request(&self) -> Result<(String, u64), Error> {
        let meta = snapshot_meta(self.trusted_timestamp("fetch the snapshot")?)?;
        Ok((
            snapshot_file_name(meta.version),
            meta.length.unwrap_or(SNAPSHOT_MAX_LENGTH),
        ))
    }

    /// §5.5 with persisted bytes: not checked against the timestamp's hashes
    /// (it may be an older snapshot), only signatures and rollback; `Ok` when
    /// it is also the snapshot the timestamp names, so no download is needed.
    pub fn load_persisted_snapshot(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.rotated_timestamp || self.rotated_snapshot {
            return Err(Error::KeysRotated { role: "snapshot" });
        }
        self.load_snapshot(bytes, true)
    }

    /// §5.5: `bytes` as the snapshot the timestamp names.
    pub fn update_snapshot(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.load_snapshot(bytes, false)
    }

    fn load_snapshot(&mut self, bytes: &[u8], persisted: bool) -> Result<(), Error> {
        if self.targets.is_some() {
            return Err(Error::Order {
                action: "update the snapshot",
                reason: "targets are already trusted in this session",
            });
        }
        self.check_final_timestamp()?;
        let meta = snapshot_meta(self.trusted_timestamp("update the snapshot")?)?;
        too_long(
            "snapshot metadata",
            bytes,
            meta.length.unwrap_or(SNAPSHOT_MAX_LENGTH),
        )?;
        if !persisted {
            check_meta_file("snapshot metadata", bytes, meta, "timestamp")?;
        }
        let new = load::<Snapshot>(self.root(), bytes)?;
        if let Some(trusted) = &self.snapshot {
            for (file, old) in &trusted.metadata.signed.meta {
                let Some(info) = new.signed.meta.get(file) else {
                    return Err(Error::MetaDropped { file: file.clone() });
                };
                if info.version < old.version {
                    return Err(Error::MetaRollback {
                        role: "snapshot",
                        file: file.clone(),
                        found: info.version,
                        trusted: old.version,
                    });
                }
            }
        }
        self.snapshot = Some(Trusted {
            metadata: new,
            bytes: bytes.to_vec(),
        });
        self.check_final_snapshot()
    }

    fn trusted_snapshot(&self, action: &'static str) -> Result<&Snapshot, Error> {
        self.snapshot().ok_or(Error::Order {
            action,
            reason: "no snapshot is trusted yet",
        })
    }

    fn check_final_snapshot(&self) -> Result<(), Error> {
        let snapshot = self.trusted_snapshot("check the snapshot")?;
        expired(snapshot, self.now)?;
        let meta = snapshot_meta(self.trusted_timestamp("check the snapshot")?)?;
        if snapshot.version != meta.version {
            return Err(Error::VersionMismatch {
                role: "snapshot",
                found: snapshot.version,
                expected: meta.version,
                named_by: "timestamp",
            });
        }
        Ok(())
    }

    fn targets_meta(&self) -> Result<&MetaFile, Error> {
        self.trusted_snapshot("fetch the targets")?
            .meta
            .get("targets.json")
            .ok_or(Error::MissingMeta {
                role: "snapshot",
                file: "targets.json".into(),
            })
    }

    /// The targets file to fetch (§5.6.1) and its length bound: the length
    /// the snapshot gives, else [`TARGETS_MAX_LENGTH`].
    pub fn targets_request(&self) -> Result<(String, u64), Error> {
        let meta = self.targets_meta()?;
        Ok((
            targets_file_name(meta.version),
            meta.length.unwrap_or(TARGETS_MAX_LENGTH),
        ))
    }

    /// §5.6: `bytes` as the targets the snapshot names (downloaded, or
    /// persisted: the same checks apply).
    pub fn update_targets(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.check_final_snapshot()?;
        let meta = self.targets_meta()?;
        too_long(
            "targets metadata",
            bytes,
            meta.length.unwrap_or(TARGETS_MAX_LENGTH),
        )?;
        check_meta_file("targets metadata", bytes, meta, "snapshot")?;
        let expected = meta.version;
        let new = load::<Targets>(self.root(), bytes)?;
        if new.signed.version != expected {
            return Err(Error::VersionMismatch {
                role: "targets",
                found: new.signed.version,
                expected,
                named_by: "snapshot",
            });
        }
        expired(&new.signed, self.now)?;
        self.targets = Some(Trusted {
            metadata: new,
            bytes: bytes.to_vec(),
        });
        Ok(())
    }

    /// §5.7: the entry of target `name` in the trusted top-level targets.
    pub fn target(&self, name: &str) -> Result<&TargetFile, Error> {
        let targets = self.targets().ok_or(Error::Order {
            action: "look up a target",
            reason: "no targets are trusted yet",
        })?;
        targets
            .targets
            .get(name)
            .ok_or_else(|| Error::UnknownTarget {
                name: name.to_string(),
            })
    }

    /// The file to fetch for target `name` (its consistent-snapshot name,
    /// by its SHA-256) and its exact length: stop a download past it.
    pub fn target_request(&self, name: &str) -> Result<(String, u64), Error> {
        let target = self.target(name)?;
        let hash = target.hashes.get("sha256").ok_or_else(|| Error::NoHash {
            what: format!("target {name} (sha256)"),
        })?;
        Ok((target_file_name(name, hash), target.length))
    }

    /// A verifier for the bytes of target `name`, fed as they stream in.
    pub fn target_verifier(&self, name: &str) -> Result<TargetVerifier, Error> {
        TargetVerifier::new(name, self.target(name)?)
    }

    /// Verifies the whole of target `name` (§5.7.3).
    pub fn verify_target(&self, name: &str, data: &[u8]) -> Result<(), Error> {
        let mut verifier = self.target_verifier(name)?;
        verifier.update(data)?;
        verifier.finish()
    }
}

fn snapshot_meta(timestamp: &Timestamp) -> Result<&MetaFile, Error> {
    timestamp.snapshot_meta().ok_or(Error::MissingMeta {
        role: "timestamp",
        file: "snapshot.json".into(),
    })
}

/// Checks a target's bytes as they stream in: refuses the first chunk that
/// goes past its length, and at the end any other length or hash.
#[derive(Debug, Clone)]
pub struct TargetVerifier {
    what: String,
    length: u64,
    seen: u64,
    hashes: Hashes,
}

impl TargetVerifier {
    /// A verifier for `target` (named `name` in messages). Refuses a target
    /// with no hash or a hash algorithm other than sha256 and sha512.
    pub fn new(name: &str, target: &TargetFile) -> Result<TargetVerifier, Error> {
        let what = format!("target {name}");
        Ok(TargetVerifier {
            hashes: Hashes::new(&what, &target.hashes)?,
            what,
            length: target.length,
            seen: 0,
        })
    }

    /// The exact length the targets metadata gives.
    pub fn expected_length(&self) -> u64 {
        self.length
    }

    /// Bytes seen so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Feeds the next chunk; refuses it if the target grows past its length.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let seen = self
            .seen
            .saturating_add(u64::try_from(chunk.len()).unwrap_or(u64::MAX));
        if seen > self.length {
            return Err(Error::TooLong {
                what: self.what.clone(),
                limit: self.length,
            });
        }
        self.seen = seen;
        self.hashes.update(chunk);
        Ok(())
    }

    /// Checks the length and hashes once every byte was fed.
    pub fn finish(self) -> Result<(), Error> {
        if self.seen != self.length {
            return Err(Error::Length {
                what: self.what,
                found: self.seen,
                expected: self.length,
                named_by: "targets",
            });
        }
        self.hashes.check(&self.what, "targets")
    }
}
