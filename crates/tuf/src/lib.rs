//! The Update Framework (TUF) metadata, specification 1.0.31, for an update
//! repository of static files: the repository side (`clip repo init/publish`)
//! and the client side (the on-device `clip-updated`).
//!
//! * [`canonical`]: canonical JSON, the bytes that are signed (§4.2).
//! * [`metadata`]: the four top-level roles, root (§4.3), snapshot (§4.4),
//!   targets (§4.5), timestamp (§4.6), in their signed envelope (§4.2), with
//!   ed25519 keys and key IDs as python-tuf computes them.
//! * [`repository`]: making and signing metadata, consistent-snapshot file
//!   names (§6.2), root key rotation (§6.1).
//! * [`client`]: the detailed client workflow (§5.2–§5.7) over bytes the
//!   caller fetched: root chain, timestamp, snapshot, targets, target files,
//!   with the refusals of rollback, freeze and mix-and-match attacks.
//!
//! Pure: bytes, keys and the current time in; bytes and verdicts out. No
//! files, no network, no clock, no randomness. Delegated targets roles are
//! not followed (see [`client`]); docs/formats/tuf.md lists the choices.

pub mod canonical;
pub mod client;
pub mod metadata;
pub mod repository;
mod time;

pub use client::{Client, TargetVerifier, TimestampUpdate};
pub use metadata::{
    AnyMetadata, Key, MetaFile, Metadata, Role, RoleKeys, Root, Signature, Snapshot, TargetFile,
    Targets, Timestamp, key_id,
};
pub use time::Time;

/// The specification version this crate writes (python-tuf 7 writes the same).
pub const SPEC_VERSION: &str = "1.0.31";

/// Length bounds for metadata downloads whose length no other metadata gives
/// (python-tuf's `UpdaterConfig` defaults): a downloader stops past these.
pub const ROOT_MAX_LENGTH: u64 = 512_000;
/// See [`ROOT_MAX_LENGTH`].
pub const TIMESTAMP_MAX_LENGTH: u64 = 16_384;
/// See [`ROOT_MAX_LENGTH`]; used when the timestamp gives no snapshot length.
pub const SNAPSHOT_MAX_LENGTH: u64 = 2_000_000;
/// See [`ROOT_MAX_LENGTH`]; used when the snapshot gives no targets length.
pub const TARGETS_MAX_LENGTH: u64 = 5_000_000;
/// How many root versions a client follows in one update (python-tuf's
/// `max_root_rotations`).
pub const MAX_ROOT_ROTATIONS: u64 = 256;

/// Everything refused, each naming what was checked and the values found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{what} is not valid JSON: {error}")]
    Json { what: String, error: String },
    #[error("malformed {what}: {detail}")]
    Malformed { what: String, detail: String },
    #[error("expected {expected} metadata, got _type \"{found}\"")]
    WrongType {
        expected: &'static str,
        found: String,
    },
    #[error("{role} metadata has spec_version \"{found}\"; this implementation reads 1.x")]
    SpecVersion { role: &'static str, found: String },
    #[error("{role} metadata has more than one signature by key {keyid}")]
    DuplicateSignature { role: &'static str, keyid: String },
    #[error("signature threshold not met for role {role}: {valid} of {threshold} valid")]
    Threshold {
        role: &'static str,
        valid: u64,
        threshold: u64,
    },
    #[error("root version {found} is not {expected}, the version after the trusted root's")]
    RootVersion { expected: u64, found: u64 },
    #[error("{role} expired at {expires} (freeze attack?)")]
    Expired { role: &'static str, expires: Time },
    #[error("{role} version {found} is lower than the trusted version {trusted} (rollback)")]
    Rollback {
        role: &'static str,
        found: u64,
        trusted: u64,
    },
    #[error(
        "{role} names {file} version {found}, lower than the version {trusted} the trusted {role} names (rollback)"
    )]
    MetaRollback {
        role: &'static str,
        file: String,
        found: u64,
        trusted: u64,
    },
    #[error("the new snapshot does not name {file}, which the trusted snapshot names")]
    MetaDropped { file: String },
    #[error(
        "{role} version {found} does not match the version {expected} the {named_by} names (mix-and-match)"
    )]
    VersionMismatch {
        role: &'static str,
        found: u64,
        expected: u64,
        named_by: &'static str,
    },
    #[error("{what} is {found} bytes, not the {expected} bytes the {named_by} names")]
    Length {
        what: String,
        found: u64,
        expected: u64,
        named_by: &'static str,
    },
    #[error("{what} is longer than the {limit} bytes allowed")]
    TooLong { what: String, limit: u64 },
    #[error(
        "{what} does not match the {algorithm} hash the {named_by} names: expected {expected}, got {found}"
    )]
    Hash {
        what: String,
        algorithm: String,
        expected: String,
        found: String,
        named_by: &'static str,
    },
    #[error("{what}: unsupported hash algorithm \"{algorithm}\" (sha256 and sha512 are supported)")]
    UnsupportedHash { what: String, algorithm: String },
    #[error("{what} has no hash")]
    NoHash { what: String },
    #[error("the {role} does not name {file}")]
    MissingMeta { role: &'static str, file: String },
    #[error("cannot {action}: {reason}")]
    Order {
        action: &'static str,
        reason: &'static str,
    },
    #[error(
        "target {name} is not listed in the top-level targets (delegated roles are not followed)"
    )]
    UnknownTarget { name: String },
    #[error("the new root rotated the {role} keys: the persisted {role} is no longer trusted")]
    KeysRotated { role: &'static str },
    #[error("cannot sign {role}: {reason}")]
    Sign { role: &'static str, reason: String },
}
