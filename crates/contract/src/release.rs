//! A release: one slot's payload, apart from any disk that holds it.
//!
//! `clip build` makes a release (the EROFS root, its dm-verity area, one
//! signed UKI per slot, the signed boot loader) and assembles a disk from
//! it; `clip repo publish` puts the same files in an update repository; the
//! update daemon writes them into the inactive slot. `release.json` ties
//! the files together: their sizes and SHA-256, the verity parameters the
//! UKIs' command lines carry, and the version the anti-rollback rule
//! compares.
//!
//! The UKIs differ only in `clip.slot=`: a release goes into either slot,
//! and the UKI of the slot it lands in is the one installed.

use serde::{Deserialize, Serialize};

use crate::cmdline::{BLOCK_SIZE, BootParams, MAX_SALT_BYTES, Slot, valid_data_blocks};
use crate::version::Version;

/// File name of the release description, in a release directory.
pub const RELEASE_JSON: &str = "release.json";

/// `format` of [`Release`].
pub const FORMAT: u32 = 1;

/// Longest file name in a release.
const MAX_NAME: usize = 128;

/// A release description that breaks the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("release.json is not valid: {0}")]
    Json(String),
    #[error("release.json has format {found}, this program reads format {FORMAT}")]
    Format { found: u32 },
    #[error("release file name {0:?} is not a plain file name (letters, digits, '.', '-', '_')")]
    Name(String),
    #[error("release file {name}: sha256 {sha256:?} is not 64 lowercase hex digits")]
    Sha256 { name: String, sha256: String },
    #[error("release file {name} is empty")]
    Empty { name: String },
    #[error("release names the file {0} twice")]
    Duplicate(String),
    #[error("release verity root hash {0:?} is not 64 lowercase hex digits")]
    RootHash(String),
    #[error("release verity salt is not lowercase hex or longer than {MAX_SALT_BYTES} bytes")]
    Salt,
    #[error(
        "release verity data_blocks {0} is not a positive count of {BLOCK_SIZE}-byte blocks whose \
         size fits in 64 bits"
    )]
    DataBlocks(u64),
    #[error("release has no UKI for slot {0}")]
    MissingUki(Slot),
    #[error("release has two UKIs for slot {0}")]
    RepeatedUki(Slot),
}

/// One file of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// Plain file name inside the release directory.
    pub name: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// The dm-verity parameters of the root (hash type 1, sha256, 4096-byte
/// blocks, superblock at the start of the verity area: [`crate::cmdline`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verity {
    /// The verity area: superblock block, then the tree.
    pub file: File,
    pub root_hash: String,
    pub salt: String,
    pub data_blocks: u64,
}

/// The signed UKI of one slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Uki {
    pub slot: Slot,
    pub file: File,
    /// The kernel command line signed into it.
    pub cmdline: String,
    /// Predicted PCR 11 values and signed policy (crates/measure), as the
    /// build manifest records them.
    pub pcr11: serde_json::Value,
}

/// `release.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub format: u32,
    /// The product's short name.
    pub product: String,
    pub version: Version,
    /// The EROFS root image.
    pub root: File,
    pub verity: Verity,
    /// One per slot.
    pub ukis: Vec<Uki>,
    /// systemd-boot, signed for Secure Boot.
    pub bootloader: File,
}

fn check_file(f: &File) -> Result<(), Error> {
    let name_ok = !f.name.is_empty()
        && f.name.len() <= MAX_NAME
        && !f.name.starts_with('.')
        && f.name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !name_ok {
        return Err(Error::Name(f.name.clone()));
    }
    if !is_hex(&f.sha256, Some(64)) {
        return Err(Error::Sha256 {
            name: f.name.clone(),
            sha256: f.sha256.clone(),
        });
    }
    if f.size == 0 {
        return Err(Error::Empty {
            name: f.name.clone(),
        });
    }
    Ok(())
}

fn is_hex(s: &str, len: Option<usize>) -> bool {
    len.is_none_or(|n| s.len() == n)
        && s.len() % 2 == 0
        && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Release {
    /// Parses and checks `release.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        // The format first, so an older program names the real problem.
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| Error::Json(e.to_string()))?;
        if let Some(found) = value.get("format").and_then(serde_json::Value::as_u64) {
            if found != u64::from(FORMAT) {
                return Err(Error::Format {
                    found: u32::try_from(found).unwrap_or(u32::MAX),
                });
            }
        }
        let release: Release =
            serde_json::from_value(value).map_err(|e| Error::Json(e.to_string()))?;
        release.check()?;
        Ok(release)
    }

    /// The rules [`Release::from_json`] applies.
    pub fn check(&self) -> Result<(), Error> {
        if self.format != FORMAT {
            return Err(Error::Format { found: self.format });
        }
        let mut names = Vec::new();
        for f in self.files() {
            check_file(f)?;
            if names.contains(&f.name.as_str()) {
                return Err(Error::Duplicate(f.name.clone()));
            }
            names.push(&f.name);
        }
        if !is_hex(&self.verity.root_hash, Some(64)) {
            return Err(Error::RootHash(self.verity.root_hash.clone()));
        }
        if !is_hex(&self.verity.salt, None) || self.verity.salt.len() / 2 > MAX_SALT_BYTES {
            return Err(Error::Salt);
        }
        if !valid_data_blocks(self.verity.data_blocks) {
            return Err(Error::DataBlocks(self.verity.data_blocks));
        }
        for slot in Slot::ALL {
            match self.ukis.iter().filter(|u| u.slot == slot).count() {
                0 => return Err(Error::MissingUki(slot)),
                1 => {}
                _ => return Err(Error::RepeatedUki(slot)),
            }
        }
        Ok(())
    }

    /// Every file, the root first.
    pub fn files(&self) -> impl Iterator<Item = &File> {
        [&self.root, &self.verity.file, &self.bootloader]
            .into_iter()
            .chain(self.ukis.iter().map(|u| &u.file))
    }

    /// The UKI for `slot` (present once [`Release::check`] passed).
    pub fn uki(&self, slot: Slot) -> Option<&Uki> {
        self.ukis.iter().find(|u| u.slot == slot)
    }

    /// What the UKI of `slot` puts on the command line.
    pub fn boot_params(&self, slot: Slot) -> Result<BootParams, Error> {
        let bad_hash = || Error::RootHash(self.verity.root_hash.clone());
        let root_hash: [u8; 32] = hex::decode(&self.verity.root_hash)
            .map_err(|_| bad_hash())?
            .try_into()
            .map_err(|_| bad_hash())?;
        Ok(BootParams {
            slot,
            root_hash,
            salt: hex::decode(&self.verity.salt).map_err(|_| Error::Salt)?,
            data_blocks: self.verity.data_blocks,
        })
    }

    pub fn to_json(&self) -> String {
        // Only strings, numbers and the pcr11 value: cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str) -> File {
        File {
            name: name.into(),
            size: 4096,
            sha256: "ab".repeat(32),
        }
    }

    fn release() -> Release {
        Release {
            format: FORMAT,
            product: "clipos".into(),
            version: Version::parse("2.0.0").unwrap(),
            root: file("root.erofs"),
            verity: Verity {
                file: file("root.verity"),
                root_hash: "12".repeat(32),
                salt: "34".repeat(32),
                data_blocks: 1,
            },
            ukis: Slot::ALL
                .iter()
                .map(|&slot| Uki {
                    slot,
                    file: file(&format!("clipos-{slot}.efi")),
                    cmdline: format!("clip.slot={slot}"),
                    pcr11: serde_json::Value::Null,
                })
                .collect(),
            bootloader: file("systemd-bootx64.efi"),
        }
    }

    #[test]
    fn round_trips() {
        let r = release();
        let text = r.to_json();
        assert_eq!(Release::from_json(text.as_bytes()).unwrap(), r);
        let p = r.boot_params(Slot::B).unwrap();
        assert_eq!(p.slot, Slot::B);
        assert_eq!(p.root_hash, [0x12; 32]);
        assert_eq!(p.salt, vec![0x34; 32]);
    }

    /// A block count whose size in bytes (× 4096) does not fit in 64 bits
    /// would give the UKIs a command line that `BootParams::parse` refuses
    /// (the slot would never boot), and overflow clip-updated's
    /// `data_blocks * BLOCK_SIZE`. Found by the fuzz target `release_json`
    /// (corpus/release_json/crash-data-blocks-overflow).
    #[test]
    fn data_blocks_fit_the_command_line() {
        let mut r = release();
        let most = u64::MAX / u64::from(crate::cmdline::BLOCK_SIZE);
        r.verity.data_blocks = most + 1;
        let err = Release::from_json(r.to_json().as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "release verity data_blocks 4503599627370496 is not a positive count of 4096-byte \
             blocks whose size fits in 64 bits"
        );
        r.verity.data_blocks = most;
        let r = Release::from_json(r.to_json().as_bytes()).unwrap();
        let p = r.boot_params(Slot::A).unwrap();
        assert_eq!(BootParams::parse(&p.render()), Ok(p));
    }

    #[test]
    fn refusals_are_named() {
        type Change = Box<dyn Fn(&mut Release)>;
        let cases: Vec<(Change, &str)> = vec![
            (
                Box::new(|r| r.root.name = "../etc/passwd".into()),
                "release file name \"../etc/passwd\" is not a plain file name",
            ),
            (
                Box::new(|r| r.bootloader.name = "root.erofs".into()),
                "release names the file root.erofs twice",
            ),
            (
                Box::new(|r| r.root.sha256 = "AB".repeat(32)),
                "release file root.erofs: sha256",
            ),
            (
                Box::new(|r| r.root.size = 0),
                "release file root.erofs is empty",
            ),
            (
                Box::new(|r| r.verity.root_hash = "12".repeat(31)),
                "release verity root hash",
            ),
            (
                Box::new(|r| r.verity.salt = "x".into()),
                "release verity salt",
            ),
            (
                Box::new(|r| r.verity.data_blocks = 0),
                "release verity data_blocks 0 is not a positive count",
            ),
            (
                Box::new(|r| r.ukis.truncate(1)),
                "release has no UKI for slot b",
            ),
            (
                Box::new(|r| r.ukis[1].slot = Slot::A),
                "release has two UKIs for slot a",
            ),
        ];
        for (change, expect) in cases {
            let mut r = release();
            change(&mut r);
            let err = Release::from_json(r.to_json().as_bytes()).unwrap_err();
            assert!(err.to_string().starts_with(expect), "{err} vs {expect}");
        }
        let mut v: serde_json::Value = serde_json::from_str(&release().to_json()).unwrap();
        v["format"] = 2.into();
        let err = Release::from_json(v.to_string().as_bytes()).unwrap_err();
        assert_eq!(err, Error::Format { found: 2 });
        v["format"] = 1.into();
        v["version"] = "2.0".into();
        let err = Release::from_json(v.to_string().as_bytes()).unwrap_err();
        assert!(err.to_string().contains("is not a version"), "{err}");
        v["version"] = "2.0.0".into();
        v["extra"] = 1.into();
        assert!(Release::from_json(v.to_string().as_bytes()).is_err());
    }
}
