//! The `crypt` and `integrity` targets' parameter strings, per
//! `Documentation/admin-guide/device-mapper/dm-crypt.rst` and
//! `dm-integrity.rst` ("Target line"/"Parameters"):
//!
//! ```text
//! crypt     <cipher> <key> <iv_offset> <device> <offset> [<#opt_params> <opt_params>]
//! integrity <device> <offset> <tag_size> <mode> <#opt_params> <opt_params>
//! ```
//!
//! The key is never written into a table: it goes into the kernel keyring
//! (a `logon` key, which user space cannot read back) and the table names
//! it as `:<key_size>:logon:<description>`, as cryptsetup does for LUKS2.
//! So a table, a request buffer or a TABLE_STATUS reply holds no secret.
//!
//! An authenticated LUKS2 segment is two mappings: dm-integrity on the
//! partition stores a tag per sector (`tag_size` bytes, the dm-crypt
//! `integrity:<tag_size>:aead` option), and dm-crypt above it encrypts and
//! authenticates each sector into data + tag.

use crate::{Error, Target};

/// dm-crypt's key, by reference to a `logon` key in the kernel keyring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyringKey {
    /// Key size in bytes (of the whole key, MAC key included).
    pub size: usize,
    /// Description of the `logon` key, `<prefix>:<name>` (the kernel
    /// requires a prefix for logon keys).
    pub description: String,
}

/// One dm-crypt mapping of a whole device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CryptTable {
    /// Kernel crypto API form, e.g. `aes-xts-plain64` or
    /// `capi:authenc(hmac(sha256),xts(aes))-random`.
    pub cipher: String,
    pub key: KeyringKey,
    /// Added to the sector number for the IV (LUKS2 `iv_tweak`).
    pub iv_offset: u64,
    /// Underlying device: a path or `major:minor`.
    pub device: String,
    /// Start of the encrypted data on `device`, in 512-byte sectors.
    pub offset: u64,
    /// Size of the mapped device, in 512-byte sectors.
    pub sectors: u64,
    /// Encryption sector size in bytes (512 to 4096, power of two).
    pub sector_size: u32,
    /// Bytes of authentication data per sector stored by dm-integrity
    /// below (`integrity:<n>:aead`); `None` for plain encryption.
    pub integrity_tag_size: Option<u32>,
    /// `allow_discards` (leaks which blocks are in use; off by default).
    pub allow_discards: bool,
}

impl CryptTable {
    /// The parameter string, validated.
    pub fn params(&self) -> Result<String, Error> {
        check_word("crypt", "cipher", &self.cipher)?;
        check_word("crypt", "device", &self.device)?;
        check_word("crypt", "key description", &self.key.description)?;
        if !self.key.description.contains(':') || self.key.description.starts_with(':') {
            return Err(err(
                "crypt",
                "key description",
                &self.key.description,
                "needs a prefix (logon keys are named <prefix>:<name>)",
            ));
        }
        if self.key.size == 0 || self.key.size > 1024 {
            return Err(err(
                "crypt",
                "key size",
                &self.key.size.to_string(),
                "is not 1 to 1024 bytes",
            ));
        }
        check_sector_size("crypt", self.sector_size)?;
        check_sectors("crypt", self.sectors, self.sector_size)?;
        let mut opts = Vec::new();
        if self.allow_discards {
            opts.push("allow_discards".to_owned());
        }
        if let Some(tag) = self.integrity_tag_size {
            if tag == 0 {
                return Err(err("crypt", "integrity tag size", "0", "must be positive"));
            }
            opts.push(format!("integrity:{tag}:aead"));
        }
        if self.sector_size != 512 {
            opts.push(format!("sector_size:{}", self.sector_size));
        }
        let mut line = format!(
            "{} :{}:logon:{} {} {} {}",
            self.cipher,
            self.key.size,
            self.key.description,
            self.iv_offset,
            self.device,
            self.offset
        );
        if !opts.is_empty() {
            line.push_str(&format!(" {} {}", opts.len(), opts.join(" ")));
        }
        Ok(line)
    }

    pub fn target(&self) -> Result<Target, Error> {
        Ok(Target {
            sector_start: 0,
            length: self.sectors,
            target_type: "crypt".into(),
            params: self.params()?,
        })
    }
}

/// How dm-integrity keeps data and tags consistent across a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrityMode {
    /// `J`: data and tags go through a journal first (cryptsetup's default).
    Journal,
    /// `D`: written in place; a crash can leave a sector whose tag does
    /// not match (it then reads as an I/O error).
    Direct,
}

/// One dm-integrity mapping with tags supplied from above (by dm-crypt's
/// AEAD), i.e. no internal hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrityTable {
    /// Underlying device: a path or `major:minor`.
    pub device: String,
    /// Start of dm-integrity's superblock on `device`, in 512-byte sectors.
    pub offset: u64,
    /// Size of the mapped device (the data dm-integrity provides), in
    /// 512-byte sectors: what its superblock says after formatting.
    pub sectors: u64,
    /// Tag bytes per block.
    pub tag_size: u32,
    pub mode: IntegrityMode,
    /// `block_size:<n>` (512 to 4096): one tag per block of this size.
    pub block_size: u32,
    /// Further options, each a whole `key:value` word, in the kernel's
    /// syntax (e.g. `journal_sectors:…`, `interleave_sectors:…`,
    /// `buffer_sectors:…`, `journal_watermark:…`, `commit_time:…`,
    /// `fix_padding`), written after `block_size`.
    pub options: Vec<String>,
}

impl IntegrityTable {
    pub fn params(&self) -> Result<String, Error> {
        check_word("integrity", "device", &self.device)?;
        check_sector_size("integrity", self.block_size)?;
        if self.tag_size == 0 {
            return Err(err("integrity", "tag size", "0", "must be positive"));
        }
        for o in &self.options {
            check_word("integrity", "option", o)?;
            if o.starts_with("block_size:") || o.starts_with("internal_hash:") {
                return Err(err(
                    "integrity",
                    "option",
                    o,
                    "is set by the table itself, or not supported",
                ));
            }
        }
        let mode = match self.mode {
            IntegrityMode::Journal => "J",
            IntegrityMode::Direct => "D",
        };
        let mut opts = vec![format!("block_size:{}", self.block_size)];
        opts.extend(self.options.iter().cloned());
        Ok(format!(
            "{} {} {} {mode} {} {}",
            self.device,
            self.offset,
            self.tag_size,
            opts.len(),
            opts.join(" ")
        ))
    }

    /// The table's target. A length of 0 sectors is allowed here: loading
    /// such a table onto a blank device makes the kernel format it and
    /// report the size it provides (the `provided_data_sectors` of its
    /// superblock), which the real table then uses.
    pub fn target(&self) -> Result<Target, Error> {
        Ok(Target {
            sector_start: 0,
            length: self.sectors,
            target_type: "integrity".into(),
            params: self.params()?,
        })
    }
}

fn err(target: &'static str, field: &'static str, value: &str, problem: &'static str) -> Error {
    Error::Table {
        target,
        field,
        value: value.to_owned(),
        problem,
    }
}

/// One whitespace-free word (the kernel splits table lines on whitespace).
fn check_word(target: &'static str, field: &'static str, s: &str) -> Result<(), Error> {
    if s.is_empty() {
        return Err(err(target, field, s, "is empty"));
    }
    if !s.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
        return Err(err(
            target,
            field,
            s,
            "contains whitespace, a NUL, a backslash or a non-ASCII byte",
        ));
    }
    Ok(())
}

fn check_sector_size(target: &'static str, size: u32) -> Result<(), Error> {
    if !size.is_power_of_two() || !(512..=4096).contains(&size) {
        return Err(err(
            target,
            "sector size",
            &size.to_string(),
            "is not a power of two from 512 to 4096",
        ));
    }
    Ok(())
}

fn check_sectors(target: &'static str, sectors: u64, sector_size: u32) -> Result<(), Error> {
    let per = u64::from(sector_size / 512);
    if sectors == 0 || sectors % per != 0 {
        return Err(err(
            target,
            "length",
            &sectors.to_string(),
            "is not a positive multiple of the sector size",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crypt() -> CryptTable {
        CryptTable {
            cipher: "capi:authenc(hmac(sha256),xts(aes))-random".into(),
            key: KeyringKey {
                size: 96,
                description: "cryptsetup:1c0c5f4e-0000-4000-8000-000000000001-d0".into(),
            },
            iv_offset: 0,
            device: "253:0".into(),
            offset: 0,
            sectors: 2048,
            sector_size: 4096,
            integrity_tag_size: Some(48),
            allow_discards: false,
        }
    }

    #[test]
    fn authenticated_crypt_line_names_the_key_and_the_tag() {
        assert_eq!(
            crypt().params().unwrap(),
            "capi:authenc(hmac(sha256),xts(aes))-random \
             :96:logon:cryptsetup:1c0c5f4e-0000-4000-8000-000000000001-d0 0 253:0 0 \
             2 integrity:48:aead sector_size:4096"
        );
        let t = crypt().target().unwrap();
        assert_eq!((t.target_type.as_str(), t.length), ("crypt", 2048));
    }

    #[test]
    fn plain_crypt_line_has_no_options() {
        let t = CryptTable {
            cipher: "aes-xts-plain64".into(),
            key: KeyringKey {
                size: 64,
                description: "clip:state".into(),
            },
            sector_size: 512,
            integrity_tag_size: None,
            offset: 32768,
            ..crypt()
        };
        assert_eq!(
            t.params().unwrap(),
            "aes-xts-plain64 :64:logon:clip:state 0 253:0 32768"
        );
    }

    #[test]
    fn bad_crypt_fields_are_named() {
        let mut t = crypt();
        t.key.description = "nocolon".into();
        assert_eq!(
            t.params().unwrap_err().to_string(),
            "crypt table: key description \"nocolon\" needs a prefix (logon keys are named <prefix>:<name>)"
        );
        let mut t = crypt();
        t.sectors = 7;
        assert!(t.params().unwrap_err().to_string().contains("length \"7\""));
        let mut t = crypt();
        t.device = "/dev/x y".into();
        assert!(t.params().unwrap_err().to_string().contains("whitespace"));
        let mut t = crypt();
        t.sector_size = 1000;
        assert!(t.params().unwrap_err().to_string().contains("power of two"));
    }

    #[test]
    fn integrity_superblock() {
        let mut sb = [0u8; 512];
        assert_eq!(IntegritySuperblock::parse(&sb), Ok(None));
        sb[..8].copy_from_slice(INTEGRITY_MAGIC);
        sb[8] = 5;
        sb[10..12].copy_from_slice(&48u16.to_le_bytes());
        sb[16..24].copy_from_slice(&1_000_000u64.to_le_bytes());
        sb[28] = 3;
        assert_eq!(
            IntegritySuperblock::parse(&sb),
            Ok(Some(IntegritySuperblock {
                version: 5,
                tag_size: 48,
                provided_data_sectors: 1_000_000,
                block_size: 4096,
            }))
        );
        sb[28] = 4;
        assert!(IntegritySuperblock::parse(&sb).is_err());
        assert!(IntegritySuperblock::parse(&sb[..16]).is_err());
    }

    #[test]
    fn integrity_line() {
        let t = IntegrityTable {
            device: "254:3".into(),
            offset: 32768,
            sectors: 0,
            tag_size: 48,
            mode: IntegrityMode::Journal,
            block_size: 4096,
            options: vec!["journal_watermark:50".into(), "fix_padding".into()],
        };
        assert_eq!(
            t.params().unwrap(),
            "254:3 32768 48 J 3 block_size:4096 journal_watermark:50 fix_padding"
        );
        let mut bad = t.clone();
        bad.options.push("internal_hash:crc32c".into());
        assert!(
            bad.params()
                .unwrap_err()
                .to_string()
                .contains("not supported")
        );
    }
}

/// What clip-init needs from dm-integrity's on-disk superblock (kernel
/// `drivers/md/dm-integrity.c`, `struct superblock`: magic "integrt\0" at
/// 0, version at 8, tag size (le16) at 10, `provided_data_sectors` (le64)
/// at 16, `log2_sectors_per_block` at 28).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntegritySuperblock {
    pub version: u8,
    pub tag_size: u16,
    /// Sectors of data the device provides (the size of its mapping).
    pub provided_data_sectors: u64,
    /// Bytes per integrity block.
    pub block_size: u32,
}

/// dm-integrity's superblock magic.
pub const INTEGRITY_MAGIC: &[u8; 8] = b"integrt\0";

impl IntegritySuperblock {
    /// Parses the first 512 bytes of a dm-integrity device; `None` when
    /// they hold no superblock (a device the kernel has not formatted).
    pub fn parse(bytes: &[u8]) -> Result<Option<Self>, Error> {
        let bad = |problem| err("integrity", "superblock", "", problem);
        if bytes.len() < 32 {
            return Err(bad("is shorter than 32 bytes"));
        }
        if &bytes[..8] != INTEGRITY_MAGIC {
            return Ok(None);
        }
        let le16 = u16::from_le_bytes([bytes[10], bytes[11]]);
        let mut le64 = [0u8; 8];
        le64.copy_from_slice(&bytes[16..24]);
        let log2 = bytes[28];
        if log2 > 3 {
            return Err(bad("has a block size above 4096 bytes"));
        }
        Ok(Some(Self {
            version: bytes[8],
            tag_size: le16,
            provided_data_sectors: u64::from_le_bytes(le64),
            block_size: 512 << log2,
        }))
    }
}
