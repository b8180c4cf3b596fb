//! The JSON metadata (spec §3, "LUKS2 JSON Metadata Format") read into
//! typed views, with the validation cryptsetup 2.6 makes
//! (`LUKS2_hdr_validate` in lib/luks2/luks2_json_metadata.c) and a few
//! stricter checks (canonical ids, AF stripes 4000, keyslot areas large
//! enough for the split key, SHA-family hashes only).
//!
//! The JSON value itself is kept: objects and fields this crate does not
//! know (token contents, future flags) survive every update, as §3 asks.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::binary::BINARY_HEADER_SIZE;
use crate::error::Error;
use crate::hash::{self, Hash};
use crate::json::{self, Object, join};

/// Keyslot ids are below this (`LUKS2_KEYSLOTS_MAX`).
pub const MAX_KEYSLOTS: u32 = 32;
/// Token ids are below this (`LUKS2_TOKENS_MAX`).
pub const MAX_TOKENS: u32 = 32;
/// Segment ids are below this (`LUKS2_SEGMENT_MAX`).
pub const MAX_SEGMENTS: u32 = 32;
/// Digest ids are below this (`LUKS2_DIGEST_MAX`).
pub const MAX_DIGESTS: u32 = 8;
/// Largest keyslots area (`LUKS2_MAX_KEYSLOTS_SIZE`, 128 MiB).
pub const MAX_KEYSLOTS_SIZE: u64 = 128 << 20;
/// AF stripes: the only value cryptsetup supports (spec §3.2.4).
pub const AF_STRIPES: u32 = 4000;
/// Largest key a keyslot may hold here (bounds the AF area we allocate).
pub const MAX_KEY_SIZE: u32 = 512;
/// Salt length of keyslot KDFs and digests (`LUKS_SALTSIZE`).
pub const SALT_SIZE: usize = 32;

/// The `config` object (§3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub json_size: u64,
    pub keyslots_size: u64,
    /// Persistent activation flags (`allow-discards`, `no-journal`, ...).
    pub flags: Vec<String>,
    /// `requirements.mandatory`: any entry makes the header read-only here.
    pub requirements: Vec<String>,
}

/// Keyslot priority (§3.2): 0 ignore unless named, 1 normal, 2 preferred.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Ignore,
    Normal,
    Prefer,
}

/// The Argon2 variants LUKS2 uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Argon2Type {
    Argon2i,
    Argon2id,
}

impl Argon2Type {
    pub fn name(self) -> &'static str {
        match self {
            Argon2Type::Argon2i => "argon2i",
            Argon2Type::Argon2id => "argon2id",
        }
    }
}

/// A keyslot's key derivation (§3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kdf {
    Pbkdf2 {
        hash: Hash,
        iterations: u32,
        salt: Vec<u8>,
    },
    Argon2 {
        kind: Argon2Type,
        /// Passes.
        time: u32,
        /// KiB.
        memory: u32,
        /// Lanes.
        cpus: u32,
        salt: Vec<u8>,
    },
}

/// A `luks2` keyslot's own fields (§3.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Luks2Keyslot {
    pub kdf: Kdf,
    pub af_hash: Hash,
    /// Area encryption in dm-crypt notation (`aes-xts-plain64`).
    pub area_encryption: String,
    pub area_key_size: u32,
}

/// A keyslot's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyslotKind {
    Luks2(Luks2Keyslot),
    /// Kept and its area respected, but never opened (`reencrypt`, ...).
    Other(String),
}

/// A keyslot (§3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyslot {
    pub kind: KeyslotKind,
    /// Size of the stored key.
    pub key_size: u32,
    pub area_offset: u64,
    pub area_size: u64,
    pub priority: Priority,
}

/// The `integrity` object of a crypt segment (§3.3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentIntegrity {
    /// `hmac(sha256)`, `aead`, `poly1305`, ...
    pub kind: String,
    pub journal_encryption: String,
    pub journal_integrity: String,
}

/// A `crypt` segment's own fields (§3.3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptSegment {
    pub iv_tweak: u64,
    /// dm-crypt notation: `aes-xts-plain64`.
    pub encryption: String,
    pub sector_size: u32,
    pub integrity: Option<SegmentIntegrity>,
}

/// A segment's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentKind {
    Crypt(CryptSegment),
    /// `linear` (reencryption) or unknown.
    Other(String),
}

/// A segment (§3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub kind: SegmentKind,
    pub offset: u64,
    /// `None`: "dynamic", up to the end of the device.
    pub size: Option<u64>,
    pub flags: Vec<String>,
}

/// A digest's type (§3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DigestKind {
    Pbkdf2 {
        hash: Hash,
        iterations: u32,
        salt: Vec<u8>,
        digest: Vec<u8>,
    },
    Other(String),
}

/// A digest (§3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub keyslots: Vec<u32>,
    pub segments: Vec<u32>,
    pub kind: DigestKind,
}

/// A token (§3.6): its type, keyslots and the whole JSON object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: String,
    pub keyslots: Vec<u32>,
    pub json: Value,
}

/// Validated metadata: the JSON value and typed views of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub(crate) json: Value,
    pub config: Config,
    pub keyslots: BTreeMap<u32, Keyslot>,
    pub segments: BTreeMap<u32, Segment>,
    pub digests: BTreeMap<u32, Digest>,
    pub tokens: BTreeMap<u32, Token>,
}

fn unsupported(path: String, value: &str, supported: &'static str) -> Error {
    Error::Unsupported {
        path,
        value: value.to_owned(),
        supported,
    }
}

fn hash_field(m: &Object, base: &str, key: &str) -> Result<Hash, Error> {
    let name = json::string(m, base, key)?;
    Hash::from_name(name).ok_or_else(|| unsupported(join(base, key), name, hash::SUPPORTED))
}

fn salt(m: &Object, base: &str) -> Result<Vec<u8>, Error> {
    let salt = json::base64(m, base, "salt")?;
    if salt.len() != SALT_SIZE {
        return Err(Error::Value {
            path: join(base, "salt"),
            value: format!("{} bytes", salt.len()),
            expected: format!("{SALT_SIZE} bytes"),
        });
    }
    Ok(salt)
}

/// Bytes of AF-split key material for a key of `key_size` bytes, rounded
/// up to 512-byte sectors (cryptsetup's `AF_split_sectors` × 512).
pub fn af_area_size(key_size: u32) -> u64 {
    (u64::from(key_size) * u64::from(AF_STRIPES)).div_ceil(512) * 512
}

fn parse_kdf(m: &Object, base: &str) -> Result<Kdf, Error> {
    let kind = json::string(m, base, "type")?;
    match kind {
        "pbkdf2" => {
            json::exact_keys(m, base, &["type", "hash", "iterations", "salt"])?;
            Ok(Kdf::Pbkdf2 {
                hash: hash_field(m, base, "hash")?,
                iterations: json::u32_number(m, base, "iterations")?,
                salt: salt(m, base)?,
            })
        }
        "argon2i" | "argon2id" => {
            json::exact_keys(m, base, &["type", "time", "memory", "cpus", "salt"])?;
            Ok(Kdf::Argon2 {
                kind: if kind == "argon2i" {
                    Argon2Type::Argon2i
                } else {
                    Argon2Type::Argon2id
                },
                time: json::u32_number(m, base, "time")?,
                memory: json::u32_number(m, base, "memory")?,
                cpus: json::u32_number(m, base, "cpus")?,
                salt: salt(m, base)?,
            })
        }
        other => Err(unsupported(
            join(base, "type"),
            other,
            "pbkdf2, argon2i, argon2id",
        )),
    }
}

fn parse_keyslot(id: u32, v: &Value) -> Result<Keyslot, Error> {
    let base = format!("keyslots.{id}");
    let m = json::object(v, &base)?;
    let kind = json::string(m, &base, "type")?;
    let key_size = json::u32_number(m, &base, "key_size")?;
    let area_path = join(&base, "area");
    let area = json::sub_object(m, &base, "area")?;
    let area_type = json::string(area, &area_path, "type")?;
    let area_offset = json::u64_string(area, &area_path, "offset")?;
    let area_size = json::u64_string(area, &area_path, "size")?;
    let priority = match m.get("priority") {
        None => Priority::Normal,
        Some(_) => match json::u32_number(m, &base, "priority")? {
            0 => Priority::Ignore,
            1 => Priority::Normal,
            2 => Priority::Prefer,
            n => {
                return Err(Error::Value {
                    path: join(&base, "priority"),
                    value: n.to_string(),
                    expected: "0, 1 or 2".into(),
                });
            }
        },
    };
    let kind = if kind == "luks2" {
        if key_size == 0 || key_size > MAX_KEY_SIZE {
            return Err(Error::Value {
                path: join(&base, "key_size"),
                value: key_size.to_string(),
                expected: format!("1..={MAX_KEY_SIZE}"),
            });
        }
        let kdf_path = join(&base, "kdf");
        let kdf = parse_kdf(json::sub_object(m, &base, "kdf")?, &kdf_path)?;
        let af_path = join(&base, "af");
        let af = json::sub_object(m, &base, "af")?;
        let af_type = json::string(af, &af_path, "type")?;
        if af_type != "luks1" {
            return Err(unsupported(join(&af_path, "type"), af_type, "luks1"));
        }
        let stripes = json::u32_number(af, &af_path, "stripes")?;
        if stripes != AF_STRIPES {
            return Err(unsupported(
                join(&af_path, "stripes"),
                &stripes.to_string(),
                "4000",
            ));
        }
        if area_type != "raw" {
            return Err(unsupported(join(&area_path, "type"), area_type, "raw"));
        }
        let needed = af_area_size(key_size);
        if area_size < needed {
            return Err(Error::AreaTooSmall {
                keyslot: id,
                size: area_size,
                needed,
            });
        }
        KeyslotKind::Luks2(Luks2Keyslot {
            kdf,
            af_hash: hash_field(af, &af_path, "hash")?,
            area_encryption: json::string(area, &area_path, "encryption")?.to_owned(),
            area_key_size: json::u32_number(area, &area_path, "key_size")?,
        })
    } else {
        KeyslotKind::Other(kind.to_owned())
    };
    Ok(Keyslot {
        kind,
        key_size,
        area_offset,
        area_size,
        priority,
    })
}

fn parse_segment(id: u32, v: &Value) -> Result<Segment, Error> {
    let base = format!("segments.{id}");
    let m = json::object(v, &base)?;
    let kind = json::string(m, &base, "type")?;
    let offset = json::u64_string(m, &base, "offset")?;
    let size = match json::string(m, &base, "size")? {
        "dynamic" => None,
        _ => Some(json::u64_string(m, &base, "size")?).filter(|&s| s != 0),
    };
    if json::string(m, &base, "size")? != "dynamic" && size.is_none() {
        return Err(Error::Value {
            path: join(&base, "size"),
            value: "\"0\"".into(),
            expected: "a non-zero size or \"dynamic\"".into(),
        });
    }
    for (key, value) in [("offset", offset), ("size", size.unwrap_or(0))] {
        if value % 512 != 0 {
            return Err(Error::Value {
                path: join(&base, key),
                value: value.to_string(),
                expected: "a multiple of 512".into(),
            });
        }
    }
    let flags = json::optional_strings(m, &base, "flags")?;
    let kind = if kind == "crypt" {
        let iv_tweak = json::u64_string(m, &base, "iv_tweak")?;
        let encryption = json::string(m, &base, "encryption")?.to_owned();
        let sector_size = json::u32_number(m, &base, "sector_size")?;
        if ![512, 1024, 2048, 4096].contains(&sector_size) {
            return Err(Error::Value {
                path: join(&base, "sector_size"),
                value: sector_size.to_string(),
                expected: "512, 1024, 2048 or 4096".into(),
            });
        }
        if size.unwrap_or(0) % u64::from(sector_size) != 0 {
            return Err(Error::Value {
                path: join(&base, "size"),
                value: size.unwrap_or(0).to_string(),
                expected: format!("a multiple of the sector size {sector_size}"),
            });
        }
        let integrity = if m.contains_key("integrity") {
            let path = join(&base, "integrity");
            let i = json::sub_object(m, &base, "integrity")?;
            Some(SegmentIntegrity {
                kind: json::string(i, &path, "type")?.to_owned(),
                journal_encryption: json::string(i, &path, "journal_encryption")?.to_owned(),
                journal_integrity: json::string(i, &path, "journal_integrity")?.to_owned(),
            })
        } else {
            None
        };
        SegmentKind::Crypt(CryptSegment {
            iv_tweak,
            encryption,
            sector_size,
            integrity,
        })
    } else {
        SegmentKind::Other(kind.to_owned())
    };
    Ok(Segment {
        kind,
        offset,
        size,
        flags,
    })
}

/// Backup segments of a reencryption (§3.3) sit after the regular ones.
fn is_backup(s: &Segment) -> bool {
    s.flags.iter().any(|f| f.starts_with("backup-"))
}

fn parse_config(root: &Object, hdr_size: u64) -> Result<Config, Error> {
    let m = json::sub_object(root, "", "config")?;
    let json_size = json::u64_string(m, "config", "json_size")?;
    if json_size != hdr_size - BINARY_HEADER_SIZE {
        return Err(Error::Value {
            path: "config.json_size".into(),
            value: json_size.to_string(),
            expected: format!(
                "{} (the binary header's size less 4096)",
                hdr_size - BINARY_HEADER_SIZE
            ),
        });
    }
    let keyslots_size = json::u64_string(m, "config", "keyslots_size")?;
    if keyslots_size % 4096 != 0 || keyslots_size > MAX_KEYSLOTS_SIZE {
        return Err(Error::Value {
            path: "config.keyslots_size".into(),
            value: keyslots_size.to_string(),
            expected: format!("a multiple of 4096 up to {MAX_KEYSLOTS_SIZE}"),
        });
    }
    let flags = json::optional_strings(m, "config", "flags")?;
    let requirements = match m.get("requirements") {
        None => Vec::new(),
        Some(v) => json::optional_strings(
            json::object(v, "config.requirements")?,
            "config.requirements",
            "mandatory",
        )?,
    };
    Ok(Config {
        json_size,
        keyslots_size,
        flags,
        requirements,
    })
}

fn parse_digest(
    id: u32,
    v: &Value,
    keyslots: &BTreeMap<u32, Keyslot>,
    segments: &BTreeMap<u32, Segment>,
) -> Result<Digest, Error> {
    let base = format!("digests.{id}");
    let m = json::object(v, &base)?;
    let kind = json::string(m, &base, "type")?;
    let keyslots = json::references(m, &base, "keyslots", keyslots, "keyslot")?;
    let segments = json::references(m, &base, "segments", segments, "segment")?;
    let kind = if kind == "pbkdf2" {
        let hash = hash_field(m, &base, "hash")?;
        let digest = json::base64(m, &base, "digest")?;
        if digest.len() != 20 && digest.len() != hash.size() {
            return Err(Error::Value {
                path: join(&base, "digest"),
                value: format!("{} bytes", digest.len()),
                expected: format!("20 or {} bytes", hash.size()),
            });
        }
        DigestKind::Pbkdf2 {
            hash,
            iterations: json::u32_number(m, &base, "iterations")?,
            salt: salt(m, &base)?,
            digest,
        }
    } else {
        DigestKind::Other(kind.to_owned())
    };
    Ok(Digest {
        keyslots,
        segments,
        kind,
    })
}

/// Parses every member of the section `name` with `parse`.
fn section<T>(
    root: &Object,
    name: &str,
    max: u32,
    mut parse: impl FnMut(u32, &Value) -> Result<T, Error>,
) -> Result<BTreeMap<u32, T>, Error> {
    let m = json::sub_object(root, "", name)?;
    let mut out = BTreeMap::new();
    for (key, v) in m {
        let id = json::id(name, key, max)?;
        out.insert(id, parse(id, v)?);
    }
    Ok(out)
}

impl Metadata {
    /// Validates `json` (the JSON area's object) for a header of `hdr_size`.
    pub fn from_json(json: Value, hdr_size: u64) -> Result<Metadata, Error> {
        let root = json::object(&json, "the JSON metadata")?;
        let config = parse_config(root, hdr_size)?;
        let keyslots = section(root, "keyslots", MAX_KEYSLOTS, parse_keyslot)?;
        let segments = section(root, "segments", MAX_SEGMENTS, parse_segment)?;
        let digests = section(root, "digests", MAX_DIGESTS, |id, v| {
            parse_digest(id, v, &keyslots, &segments)
        })?;
        let tokens = section(root, "tokens", MAX_TOKENS, |id, v| {
            let base = format!("tokens.{id}");
            let m = json::object(v, &base)?;
            Ok(Token {
                kind: json::string(m, &base, "type")?.to_owned(),
                keyslots: json::references(m, &base, "keyslots", &keyslots, "keyslot")?,
                json: v.clone(),
            })
        })?;
        let md = Metadata {
            json,
            config,
            keyslots,
            segments,
            digests,
            tokens,
        };
        md.check_areas(hdr_size)?;
        md.check_segments(hdr_size)?;
        md.check_bindings()?;
        Ok(md)
    }

    /// Keyslot areas lie inside the keyslots area and do not overlap
    /// (cryptsetup's `hdr_validate_areas`).
    fn check_areas(&self, hdr_size: u64) -> Result<(), Error> {
        let start = 2 * hdr_size;
        let end = start + self.config.keyslots_size;
        for (&id, k) in &self.keyslots {
            let inside = k.area_offset >= start
                && k.area_size > 0
                && k.area_offset
                    .checked_add(k.area_size)
                    .is_some_and(|e| e <= end);
            if !inside {
                return Err(Error::AreaBounds {
                    keyslot: id,
                    offset: k.area_offset,
                    size: k.area_size,
                    start,
                    end,
                });
            }
        }
        for (&a, ka) in &self.keyslots {
            for (&b, kb) in self.keyslots.range(a + 1..) {
                if ka.area_offset < kb.area_offset + kb.area_size
                    && kb.area_offset < ka.area_offset + ka.area_size
                {
                    return Err(Error::AreaOverlap { a, b });
                }
            }
        }
        Ok(())
    }

    /// Segments: ids 0..n without gaps, backups last, only the last regular
    /// one dynamic, no overlap, none inside the header and keyslots area
    /// (offset 0 is a detached header), crypt segments bound to a digest.
    fn check_segments(&self, hdr_size: u64) -> Result<(), Error> {
        if self.segments.is_empty() {
            return Err(Error::NoSegment);
        }
        let count = u32::try_from(self.segments.len()).unwrap_or(u32::MAX);
        if let Some(last) = self
            .segments
            .keys()
            .next_back()
            .filter(|&&k| k + 1 != count)
        {
            return Err(Error::Value {
                path: "segments".into(),
                value: format!("{count} segments, the last with id {last}"),
                expected: "ids 0, 1, ... without gaps".into(),
            });
        }
        let regular: Vec<(u32, &Segment)> = self
            .segments
            .iter()
            .map(|(&id, s)| (id, s))
            .take_while(|(_, s)| !is_backup(s))
            .collect();
        if regular.is_empty()
            || self
                .segments
                .values()
                .skip(regular.len())
                .any(|s| !is_backup(s))
        {
            return Err(Error::Value {
                path: "segments".into(),
                value: "backup segments before regular ones".into(),
                expected: "regular segments first".into(),
            });
        }
        let header_end = 2 * hdr_size + self.config.keyslots_size;
        for (i, &(id, s)) in regular.iter().enumerate() {
            if s.size.is_none() && i + 1 != regular.len() {
                return Err(Error::Value {
                    path: format!("segments.{id}.size"),
                    value: "\"dynamic\"".into(),
                    expected: "a fixed size: only the last segment may be dynamic".into(),
                });
            }
            if s.offset != 0 && s.offset < header_end {
                return Err(Error::SegmentInHeader {
                    segment: id,
                    offset: s.offset,
                    end: header_end,
                });
            }
            let end = |s: &Segment| {
                s.size
                    .map_or(u64::MAX, |size| s.offset.saturating_add(size))
            };
            for &(other, t) in &regular[i + 1..] {
                if s.offset < end(t) && t.offset < end(s) {
                    return Err(Error::SegmentOverlap { a: id, b: other });
                }
            }
        }
        for (&id, s) in &self.segments {
            if matches!(s.kind, SegmentKind::Crypt(_))
                && !self.digests.values().any(|d| d.segments.contains(&id))
            {
                return Err(Error::SegmentDigest { segment: id });
            }
        }
        Ok(())
    }

    /// Every luks2 keyslot is assigned to exactly one digest.
    fn check_bindings(&self) -> Result<(), Error> {
        for (&id, k) in &self.keyslots {
            if let KeyslotKind::Luks2(_) = k.kind {
                let count = self
                    .digests
                    .values()
                    .filter(|d| d.keyslots.contains(&id))
                    .count();
                if count != 1 {
                    return Err(Error::KeyslotDigests { keyslot: id, count });
                }
            }
        }
        Ok(())
    }

    /// The JSON value (as read, with every unknown field).
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The data segment cryptsetup activates (`LUKS2_get_default_segment`):
    /// the `backup-final` one during a reencryption, else segment 0.
    pub fn default_segment(&self) -> Option<u32> {
        self.segments
            .iter()
            .find(|(_, s)| s.flags.iter().any(|f| f == "backup-final"))
            .map(|(&id, _)| id)
            .or_else(|| self.segments.contains_key(&0).then_some(0))
    }

    /// The digest bound to `segment`.
    pub fn segment_digest(&self, segment: u32) -> Option<u32> {
        self.digests
            .iter()
            .find(|(_, d)| d.segments.contains(&segment))
            .map(|(&id, _)| id)
    }

    /// The digest a keyslot is bound to.
    pub fn keyslot_digest(&self, keyslot: u32) -> Option<u32> {
        self.digests
            .iter()
            .find(|(_, d)| d.keyslots.contains(&keyslot))
            .map(|(&id, _)| id)
    }

    /// Refuses metadata with mandatory requirements (spec §3.5: "must treat
    /// the whole metadata as read-only and must avoid device activation").
    pub fn check_requirements(&self) -> Result<(), Error> {
        if self.config.requirements.is_empty() {
            Ok(())
        } else {
            Err(Error::Requirements {
                names: self.config.requirements.clone(),
            })
        }
    }

    /// Serialises the JSON compactly, as cryptsetup does
    /// (`JSON_C_TO_STRING_PLAIN`), and checks it fits the JSON area.
    pub(crate) fn to_area(&self) -> Result<Vec<u8>, Error> {
        let text = serde_json::to_vec(&self.json).map_err(|e| Error::Param {
            name: "metadata",
            problem: e.to_string(),
        })?;
        let size = usize::try_from(self.config.json_size).unwrap_or(usize::MAX);
        if text.len() >= size {
            return Err(Error::JsonTooLarge {
                len: text.len(),
                max: self.config.json_size,
            });
        }
        let mut area = text;
        area.resize(size, 0);
        Ok(area)
    }

    /// Edits the JSON with `edit`, then validates the result; on error the
    /// metadata is left unchanged.
    pub(crate) fn update(
        &mut self,
        hdr_size: u64,
        edit: impl FnOnce(&mut Object),
    ) -> Result<(), Error> {
        let mut json = self.json.clone();
        if let Some(root) = json.as_object_mut() {
            edit(root);
        }
        let md = Metadata::from_json(json, hdr_size)?;
        md.to_area()?;
        *self = md;
        Ok(())
    }
}
