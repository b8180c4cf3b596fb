//! The metadata of the four top-level roles (spec 1.0.31 §4.3 root, §4.4
//! snapshot, §4.5 targets, §4.6 timestamp) in the signed envelope of §4.2:
//! `{"signatures": [{"keyid", "sig"}], "signed": {...}}`.
//!
//! * Signatures are over the canonical JSON ([`crate::canonical`]) of the
//!   `signed` object *as received*, unknown fields included; unknown fields
//!   are kept (`unrecognized`) and written back, as python-tuf does, so
//!   metadata from a newer writer verifies and round-trips.
//! * Keys (§4.3 "KEY"): only `{"keytype": "ed25519", "scheme": "ed25519",
//!   "keyval": {"public": hex}}` can verify a signature here; keys of other
//!   types are read and kept but their signatures never count.
//! * Key IDs: the hex SHA-256 of the canonical JSON of `{"keytype",
//!   "scheme", "keyval"}` (securesystemslib's `compute_default_keyid`).
//! * A role's signature threshold counts distinct key IDs of the role whose
//!   signature verifies (python-tuf's `verify_delegate`); two signatures by
//!   the same key ID are refused as malformed, as python-tuf refuses them.
//! * Read as python-tuf reads them: `_type` must be the role's,
//!   `spec_version` `X.Y[.Z]` with major 1, `version` > 0, `threshold` > 0,
//!   role key IDs unique, root names exactly the four top-level roles,
//!   `expires` in the `YYYY-MM-DDTHH:MM:SSZ` form.

use std::collections::BTreeMap;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::time::Time;
use crate::{Error, canonical};

/// The names of the top-level roles, as the root lists them.
pub const TOP_LEVEL_ROLES: [&str; 4] = ["root", "snapshot", "targets", "timestamp"];

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Time, D::Error> {
        let text = String::deserialize(d)?;
        Time::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expires \"{text}\" is not of the form YYYY-MM-DDTHH:MM:SSZ"
            ))
        })
    }
}

/// A public key (§4.3 "KEY").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Key {
    pub keytype: String,
    pub scheme: String,
    pub keyval: Map<String, Value>,
    #[serde(flatten)]
    pub unrecognized: Map<String, Value>,
}

impl Key {
    /// The TUF form of an ed25519 public key.
    pub fn ed25519(key: &VerifyingKey) -> Key {
        let mut keyval = Map::new();
        keyval.insert("public".into(), Value::String(hex::encode(key.as_bytes())));
        Key {
            keytype: "ed25519".into(),
            scheme: "ed25519".into(),
            keyval,
            unrecognized: Map::new(),
        }
    }

    /// The ed25519 key, if this is one (keytype and scheme "ed25519", a
    /// 32-byte hex `public` that is a valid point).
    pub fn ed25519_key(&self) -> Option<VerifyingKey> {
        if self.keytype != "ed25519" || self.scheme != "ed25519" {
            return None;
        }
        let public = self.keyval.get("public")?.as_str()?;
        let bytes: [u8; 32] = hex::decode(public).ok()?.try_into().ok()?;
        VerifyingKey::from_bytes(&bytes).ok()
    }

    /// Whether `sig` (hex) is this key's valid signature of `payload`.
    pub fn verifies(&self, sig: &str, payload: &[u8]) -> bool {
        let Some(key) = self.ed25519_key() else {
            return false;
        };
        let Some(bytes) = hex::decode(sig)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
        else {
            return false;
        };
        let sig = ed25519_dalek::Signature::from_bytes(&bytes);
        key.verify_strict(payload, &sig).is_ok()
    }
}

/// The key ID of `key`: hex SHA-256 of the canonical JSON of its keytype,
/// scheme and keyval (securesystemslib `compute_default_keyid`).
pub fn key_id(key: &Key) -> String {
    let mut object = Map::new();
    object.insert("keytype".into(), Value::String(key.keytype.clone()));
    object.insert("scheme".into(), Value::String(key.scheme.clone()));
    object.insert("keyval".into(), Value::Object(key.keyval.clone()));
    // Strings and objects of strings only: no float can make this fail.
    let bytes = canonical::encode(&Value::Object(object)).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

/// The keys and threshold of a role (§4.3 "ROLE").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoleKeys {
    pub keyids: Vec<String>,
    pub threshold: u64,
    #[serde(flatten)]
    pub unrecognized: Map<String, Value>,
}

/// One signature of the envelope (§4.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub keyid: String,
    pub sig: String,
    #[serde(flatten)]
    pub unrecognized: Map<String, Value>,
}

/// What every role's `signed` object has.
pub trait Role: Serialize + DeserializeOwned + Clone + std::fmt::Debug {
    /// The `_type` and role name.
    const TYPE: &'static str;
    fn version(&self) -> u64;
    fn expires(&self) -> Time;
    fn spec_version(&self) -> &str;
    fn type_field(&self) -> &str;
    /// Role-specific checks after parsing.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

macro_rules! role_common {
    ($t:ty, $name:literal) => {
        impl Role for $t {
            const TYPE: &'static str = $name;
            fn version(&self) -> u64 {
                self.version
            }
            fn expires(&self) -> Time {
                self.expires
            }
            fn spec_version(&self) -> &str {
                &self.spec_version
            }
            fn type_field(&self) -> &str {
                &self.type_
            }
            fn check(&self) -> Result<(), String> {
                self.check_fields()
            }
        }
    };
}

/// Root metadata (§4.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Root {
    #[serde(rename = "_type")]
    pub type_: String,
    pub spec_version: String,
    pub version: u64,
    pub expires: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistent_snapshot: Option<bool>,
    pub keys: BTreeMap<String, Key>,
    pub roles: BTreeMap<String, RoleKeys>,
    #[serde(flatten)]
    pub unrecognized: Map<String, Value>,
}
role_common!(Root, "root");

impl Root {
    fn check_fields(&self) -> Result<(), String> {
        let names: Vec<&str> = self.roles.keys().map(String::as_str).collect();
        if names != TOP_LEVEL_ROLES {
            return Err(format!(
                "roles are {names:?}, not the four top-level roles {TOP_LEVEL_ROLES:?}"
            ));
        }
        for (name, role) in &self.roles {
            if role.threshold == 0 {
                return Err(format!("role {name} has threshold 0"));
            }
            let mut ids = role.keyids.clone();
            ids.sort();
            ids.dedup();
            if ids.len() != role.keyids.len() {
                return Err(format!("role {name} lists a key ID twice"));
            }
        }
        Ok(())
    }

    /// Checks that `signatures` over `payload` meet the threshold this root
    /// sets for the top-level role `role` (§5.3.4, §5.4.2, §5.5.3, §5.6.3).
    pub fn verify_role(
        &self,
        role: &'static str,
        payload: &[u8],
        signatures: &[Signature],
    ) -> Result<(), Error> {
        let keys = self.roles.get(role).ok_or_else(|| Error::Malformed {
            what: "root metadata".into(),
            detail: format!("no role {role}"),
        })?;
        let mut valid = 0u64;
        for keyid in &keys.keyids {
            let (Some(key), Some(sig)) = (
                self.keys.get(keyid),
                signatures.iter().find(|s| &s.keyid == keyid),
            ) else {
                continue;
            };
            if key.verifies(&sig.sig, payload) {
                valid += 1;
            }
        }
        if valid < keys.threshold {
            return Err(Error::Threshold {
                role,
                valid,
                threshold: keys.threshold,
            });
        }
        Ok(())
    }

    /// The key IDs and threshold of a top-level role, to see whether a new
    /// root rotated its keys (§5.3.11).
    pub fn role_keys(&self, role: &str) -> Option<(Vec<&str>, u64)> {
        let keys = self.roles.get(role)?;
        let mut ids: Vec<&str> = keys.keyids.iter().map(String::as_str).collect();
        ids.sort_unstable();
        Some((ids, keys.threshold))
    }
}

/// Version, length and hashes of a metadata file (§4.4 METAFILES).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetaFile {
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub unrecognized: Map<String, Value>,
}

impl MetaFile {
    fn check(&self, file: &str) -> Result<(), String> {
        if self.version == 0 {
            return Err(format!("{file} has version 0"));
        }
        if self.hashes.as_ref().is_some_and(BTreeMap::is_empty) {
            return Err(format!("{file} has an empty hashes object"));
        }
        Ok(())
    }
}

/// Snapshot metadata (§4.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(rename = "_type")]
    pub type_: String,
    pub spec_version: String,
    pub version: u64,
    pub expires: Time,
    pub meta: BTreeMap<String, MetaFile>,
    #[serde(flatten)]
    pub unrecognized: Map<String, Value>,
}
role_common!(Snapshot, "snapshot");

impl Snapshot {
    fn check_fields(&self) -> Result<(), String> {
        self.meta
            .iter()
            .try_for_each(|(file, meta)| meta.check(file))
    }
}

/// Timestamp metadata (§4.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timestamp {
    #[serde(rename = "_type")]
    pub type_: String,
    pub spec_version: String,
    pub version: u64,
    pub expires: Time,
    pub meta: BTreeMap<String, MetaFile>,
    #[serde(flatten)]
    pub unrecognized: Map<String, Value>,
}
role_common!(Timestamp, "timestamp");

impl Timestamp {
    fn check_fields(&self) -> Result<(), String> {
        if self.meta.len() != 1 {
            return Err(format!(
                "meta names {} files, not only snapshot.json",
                self.meta.len()
            ));
        }
        self.snapshot_meta()
            .ok_or_else(|| "meta does not name snapshot.json".to_string())?
            .check("snapshot.json")
    }

    /// What the timestamp says of `snapshot.json`.
    pub fn snapshot_meta(&self) -> Option<&MetaFile> {
        self.meta.get("snapshot.json")
    }
}

/// A target file (§4.5 TARGETS): length, hashes, and `custom` application
/// data (ours: the release's version and verity root hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetFile {
    pub length: u64,
    pub hashes: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<Value>,
    #[serde(flatten)]
    pub unrecognized: Map<String, Value>,
}

impl TargetFile {
    /// The entry for `data`: its length and SHA-256.
    pub fn for_bytes(data: &[u8], custom: Option<Value>) -> TargetFile {
        TargetFile {
            length: u64::try_from(data.len()).unwrap_or(u64::MAX),
            hashes: BTreeMap::from([("sha256".to_string(), hex::encode(Sha256::digest(data)))]),
            custom,
            unrecognized: Map::new(),
        }
    }

    /// The entry for a file already hashed (streamed by the caller).
    pub fn new(length: u64, sha256: [u8; 32], custom: Option<Value>) -> TargetFile {
        TargetFile {
            length,
            hashes: BTreeMap::from([("sha256".to_string(), hex::encode(sha256))]),
            custom,
            unrecognized: Map::new(),
        }
    }
}

/// Targets metadata (§4.5). `delegations` is read and kept as JSON but never
/// followed (see [`crate::client`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    #[serde(rename = "_type")]
    pub type_: String,
    pub spec_version: String,
    pub version: u64,
    pub expires: Time,
    pub targets: BTreeMap<String, TargetFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delegations: Option<Value>,
    #[serde(flatten)]
    pub unrecognized: Map<String, Value>,
}
role_common!(Targets, "targets");

impl Targets {
    fn check_fields(&self) -> Result<(), String> {
        for (name, target) in &self.targets {
            if target.hashes.is_empty() {
                return Err(format!("target {name} has no hashes"));
            }
        }
        Ok(())
    }
}

/// One role's metadata in its signed envelope (§4.2), with the canonical
/// bytes of `signed` as received, which is what the signatures cover.
#[derive(Debug, Clone, PartialEq)]
pub struct Metadata<T> {
    pub signed: T,
    pub signatures: Vec<Signature>,
    signed_value: Value,
    signed_bytes: Vec<u8>,
    unrecognized: Map<String, Value>,
}

fn malformed(role: &str, detail: impl Into<String>) -> Error {
    Error::Malformed {
        what: format!("{role} metadata"),
        detail: detail.into(),
    }
}

/// An envelope's parts: `signed`, its canonical bytes, the signatures, and
/// the envelope's other fields.
type Envelope = (Value, Vec<u8>, Vec<Signature>, Map<String, Value>);

/// Parses the envelope: its `signed` object, canonical bytes and signatures.
fn parse_envelope(role: &'static str, bytes: &[u8]) -> Result<Envelope, Error> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| Error::Json {
        what: format!("{role} metadata"),
        error: e.to_string(),
    })?;
    let Value::Object(mut envelope) = value else {
        return Err(malformed(role, "not a JSON object"));
    };
    let signed = envelope
        .remove("signed")
        .ok_or_else(|| malformed(role, "no \"signed\" object"))?;
    if !signed.is_object() {
        return Err(malformed(role, "\"signed\" is not an object"));
    }
    let signatures = envelope
        .remove("signatures")
        .ok_or_else(|| malformed(role, "no \"signatures\" list"))?;
    let signatures: Vec<Signature> = serde_json::from_value(signatures)
        .map_err(|e| malformed(role, format!("signatures: {e}")))?;
    for (i, sig) in signatures.iter().enumerate() {
        if signatures[..i].iter().any(|s| s.keyid == sig.keyid) {
            return Err(Error::DuplicateSignature {
                role,
                keyid: sig.keyid.clone(),
            });
        }
    }
    let signed_bytes = canonical::encode(&signed).map_err(|e| malformed(role, e.to_string()))?;
    Ok((signed, signed_bytes, signatures, envelope))
}

fn check_common<T: Role>(signed: &T) -> Result<(), Error> {
    if signed.type_field() != T::TYPE {
        return Err(Error::WrongType {
            expected: T::TYPE,
            found: signed.type_field().to_string(),
        });
    }
    let spec = signed.spec_version();
    let parts: Vec<&str> = spec.split('.').collect();
    let digits = parts
        .iter()
        .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !(parts.len() == 2 || parts.len() == 3) || !digits || parts[0] != "1" {
        return Err(Error::SpecVersion {
            role: T::TYPE,
            found: spec.to_string(),
        });
    }
    if signed.version() == 0 {
        return Err(malformed(T::TYPE, "version 0 (versions start at 1)"));
    }
    signed.check().map_err(|detail| malformed(T::TYPE, detail))
}

impl<T: Role> Metadata<T> {
    /// Parses `bytes` as this role's metadata. Signatures are not checked
    /// here: see [`Root::verify_role`] and [`crate::Client`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Metadata<T>, Error> {
        let (signed_value, signed_bytes, signatures, unrecognized) =
            parse_envelope(T::TYPE, bytes)?;
        if let Some(found) = signed_value.get("_type").and_then(Value::as_str) {
            if found != T::TYPE {
                return Err(Error::WrongType {
                    expected: T::TYPE,
                    found: found.to_string(),
                });
            }
        }
        let signed: T = serde_json::from_value(signed_value.clone())
            .map_err(|e| malformed(T::TYPE, e.to_string()))?;
        check_common(&signed)?;
        Ok(Metadata {
            signed,
            signatures,
            signed_value,
            signed_bytes,
            unrecognized,
        })
    }

    /// Signs `signed` with `keys` (each signature under its key ID).
    pub fn sign(signed: T, keys: &[&SigningKey]) -> Result<Metadata<T>, Error> {
        let signed_value = serde_json::to_value(&signed).map_err(|e| Error::Sign {
            role: T::TYPE,
            reason: e.to_string(),
        })?;
        let signed_bytes = canonical::encode(&signed_value).map_err(|e| Error::Sign {
            role: T::TYPE,
            reason: e.to_string(),
        })?;
        check_common(&signed).map_err(|e| Error::Sign {
            role: T::TYPE,
            reason: e.to_string(),
        })?;
        let mut metadata = Metadata {
            signed,
            signatures: Vec::new(),
            signed_value,
            signed_bytes,
            unrecognized: Map::new(),
        };
        for key in keys {
            metadata.add_signature(key);
        }
        Ok(metadata)
    }

    /// Adds (or replaces) the signature of `key`.
    pub fn add_signature(&mut self, key: &SigningKey) {
        let keyid = key_id(&Key::ed25519(&key.verifying_key()));
        let sig = hex::encode(key.sign(&self.signed_bytes).to_bytes());
        self.signatures.retain(|s| s.keyid != keyid);
        self.signatures.push(Signature {
            keyid,
            sig,
            unrecognized: Map::new(),
        });
    }

    /// The canonical JSON of `signed` as received: what the signatures cover.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.signed_bytes
    }

    /// The envelope as written to a file: sorted keys, no whitespace
    /// ([`canonical::to_file`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut envelope = self.unrecognized.clone();
        let signatures = self
            .signatures
            .iter()
            .map(|s| serde_json::to_value(s).unwrap_or(Value::Null))
            .collect();
        envelope.insert("signatures".into(), Value::Array(signatures));
        envelope.insert("signed".into(), self.signed_value.clone());
        // Every part was canonical-encodable when parsed or signed.
        canonical::to_file(&Value::Object(envelope)).unwrap_or_default()
    }
}

/// Metadata of any top-level role, told apart by `signed._type`.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyMetadata {
    Root(Metadata<Root>),
    Timestamp(Metadata<Timestamp>),
    Snapshot(Metadata<Snapshot>),
    Targets(Metadata<Targets>),
}

impl AnyMetadata {
    /// Parses metadata of whichever top-level role `_type` names.
    pub fn from_bytes(bytes: &[u8]) -> Result<AnyMetadata, Error> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| Error::Json {
            what: "metadata".into(),
            error: e.to_string(),
        })?;
        let found = value
            .get("signed")
            .and_then(|s| s.get("_type"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        Ok(match found {
            "root" => AnyMetadata::Root(Metadata::from_bytes(bytes)?),
            "timestamp" => AnyMetadata::Timestamp(Metadata::from_bytes(bytes)?),
            "snapshot" => AnyMetadata::Snapshot(Metadata::from_bytes(bytes)?),
            "targets" => AnyMetadata::Targets(Metadata::from_bytes(bytes)?),
            other => {
                return Err(Error::Malformed {
                    what: "metadata".into(),
                    detail: format!("unknown _type \"{other}\""),
                });
            }
        })
    }
}
