//! The `verity` target's parameter string, per
//! `Documentation/admin-guide/device-mapper/verity.rst`, "Construction
//! Parameters":
//!
//! ```text
//! <version> <dev> <hash_dev> <data_block_size> <hash_block_size>
//! <num_data_blocks> <hash_start_block> <algorithm> <digest> <salt>
//! [<#opt_params> <opt_params>]
//! ```
//!
//! Version is always 1 (the normal hash format, as `veritysetup format`
//! writes by default); a salt of `-` means none.

use crate::{Error, Target};

/// What the kernel does on a block that does not match the tree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnCorruption {
    /// No option: the read fails with EIO.
    #[default]
    Error,
    /// `ignore_corruption`: log and return the data anyway.
    Ignore,
    /// `restart_on_corruption`: reboot.
    Restart,
    /// `panic_on_corruption`: panic.
    Panic,
}

/// Optional parameters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerityOptions {
    pub on_corruption: OnCorruption,
    /// `ignore_zero_blocks`: blocks whose hash is zero read as zeroes.
    pub ignore_zero_blocks: bool,
    /// `check_at_most_once`: verify each data block only on its first read.
    pub check_at_most_once: bool,
}

/// One dm-verity mapping. Hashes and salt are hex strings, as they come from
/// the kernel command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerityTable {
    /// Data device: a path (`/dev/vda2`) or `major:minor`.
    pub data_dev: String,
    /// Hash device (may be the data device, with `hash_start_block` past the data).
    pub hash_dev: String,
    pub data_block_size: u32,
    pub hash_block_size: u32,
    pub num_data_blocks: u64,
    /// Offset of the hash tree's root block on the hash device, in hash
    /// blocks (1 when a 4096-byte superblock area precedes it; see
    /// `verity::tree_offset`).
    pub hash_start_block: u64,
    /// Kernel crypto API name, e.g. `sha256`.
    pub algorithm: String,
    /// Root hash, hex.
    pub root_hash: String,
    /// Salt, hex; empty (or `-`) for none.
    pub salt: String,
    pub options: VerityOptions,
}

impl VerityTable {
    /// The parameter string, validated.
    pub fn params(&self) -> Result<String, Error> {
        check_dev("data_dev", &self.data_dev)?;
        check_dev("hash_dev", &self.hash_dev)?;
        check_block_size("data_block_size", self.data_block_size)?;
        check_block_size("hash_block_size", self.hash_block_size)?;
        if self.num_data_blocks == 0 {
            return Err(verity_err("num_data_blocks", "0", "must be at least 1"));
        }
        self.sectors()?;
        check_algorithm(&self.algorithm)?;
        check_hex("root_hash", &self.root_hash)?;
        if self.root_hash.is_empty() {
            return Err(verity_err("root_hash", "", "is empty"));
        }
        if let Some(size) = digest_size(&self.algorithm) {
            if self.root_hash.len() != 2 * size {
                return Err(verity_err(
                    "root_hash",
                    &self.root_hash,
                    "has the wrong length for the algorithm",
                ));
            }
        }
        let salt = if self.salt.is_empty() || self.salt == "-" {
            "-".to_owned()
        } else {
            check_hex("salt", &self.salt)?;
            self.salt.to_ascii_lowercase()
        };
        let mut line = format!(
            "1 {} {} {} {} {} {} {} {} {}",
            self.data_dev,
            self.hash_dev,
            self.data_block_size,
            self.hash_block_size,
            self.num_data_blocks,
            self.hash_start_block,
            self.algorithm,
            self.root_hash.to_ascii_lowercase(),
            salt,
        );
        let opts = &self.options;
        let mut args: Vec<&str> = Vec::new();
        match opts.on_corruption {
            OnCorruption::Error => {}
            OnCorruption::Ignore => args.push("ignore_corruption"),
            OnCorruption::Restart => args.push("restart_on_corruption"),
            OnCorruption::Panic => args.push("panic_on_corruption"),
        }
        if opts.ignore_zero_blocks {
            args.push("ignore_zero_blocks");
        }
        if opts.check_at_most_once {
            args.push("check_at_most_once");
        }
        if !args.is_empty() {
            line.push_str(&format!(" {} {}", args.len(), args.join(" ")));
        }
        Ok(line)
    }

    /// Size of the mapped device in 512-byte sectors: data blocks × block
    /// size / 512.
    pub fn sectors(&self) -> Result<u64, Error> {
        self.num_data_blocks
            .checked_mul(u64::from(self.data_block_size))
            .map(|bytes| bytes / 512)
            .ok_or_else(|| {
                verity_err(
                    "num_data_blocks",
                    &self.num_data_blocks.to_string(),
                    "times the block size overflows 64 bits",
                )
            })
    }

    /// The table's single target, covering the whole mapped device.
    pub fn target(&self) -> Result<Target, Error> {
        Ok(Target {
            sector_start: 0,
            length: self.sectors()?,
            target_type: "verity".into(),
            params: self.params()?,
        })
    }
}

fn verity_err(field: &'static str, value: &str, problem: &'static str) -> Error {
    Error::Table {
        target: "verity",
        field,
        value: value.to_owned(),
        problem,
    }
}

/// Table arguments are split on whitespace by the kernel (`dm_split_args`).
fn check_dev(field: &'static str, dev: &str) -> Result<(), Error> {
    if dev.is_empty() {
        return Err(verity_err(field, dev, "is empty"));
    }
    if !dev.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
        return Err(verity_err(
            field,
            dev,
            "contains whitespace, a NUL, a backslash or a non-ASCII byte",
        ));
    }
    Ok(())
}

/// A power of two from 512 to 4096 (the kernel's bounds are the device's
/// logical block size and the page size).
fn check_block_size(field: &'static str, size: u32) -> Result<(), Error> {
    if !size.is_power_of_two() || !(512..=4096).contains(&size) {
        return Err(verity_err(
            field,
            &size.to_string(),
            "is not a power of two from 512 to 4096",
        ));
    }
    Ok(())
}

fn check_algorithm(name: &str) -> Result<(), Error> {
    let ok = !name.is_empty()
        && name.len() < 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_()".contains(&b));
    if !ok {
        return Err(verity_err(
            "algorithm",
            name,
            "is not a crypto API name (letters, digits, - _ ( ))",
        ));
    }
    Ok(())
}

fn check_hex(field: &'static str, s: &str) -> Result<(), Error> {
    if s.len() % 2 != 0 {
        return Err(verity_err(field, s, "has an odd number of hex digits"));
    }
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(verity_err(field, s, "is not hexadecimal"));
    }
    Ok(())
}

fn digest_size(algorithm: &str) -> Option<usize> {
    match algorithm {
        "sha1" => Some(20),
        "sha256" => Some(32),
        "sha512" => Some(64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "4392712ba01368efdf14b05c76f9e4df0d53664630b5d48632ed17a137f39076";
    const SALT: &str = "1234000000000000000000000000000000000000000000000000000000000000";

    /// The example of verity.rst ("Example"), `dmsetup create vroot ...`.
    fn example() -> VerityTable {
        VerityTable {
            data_dev: "/dev/sda1".into(),
            hash_dev: "/dev/sda2".into(),
            data_block_size: 4096,
            hash_block_size: 4096,
            num_data_blocks: 262144,
            hash_start_block: 1,
            algorithm: "sha256".into(),
            root_hash: ROOT.into(),
            salt: SALT.into(),
            options: VerityOptions::default(),
        }
    }

    #[test]
    fn verity_rst_example() {
        let t = example();
        assert_eq!(
            t.params().unwrap(),
            format!("1 /dev/sda1 /dev/sda2 4096 4096 262144 1 sha256 {ROOT} {SALT}")
        );
        // "0 2097152 verity ..." in the same example.
        let target = t.target().unwrap();
        assert_eq!((target.sector_start, target.length), (0, 2097152));
        assert_eq!(target.target_type, "verity");
    }

    #[test]
    fn empty_salt_and_options() {
        let mut t = example();
        t.salt = String::new();
        t.data_block_size = 512;
        t.num_data_blocks = 3;
        t.options = VerityOptions {
            on_corruption: OnCorruption::Panic,
            ignore_zero_blocks: true,
            check_at_most_once: true,
        };
        assert_eq!(
            t.params().unwrap(),
            format!(
                "1 /dev/sda1 /dev/sda2 512 4096 3 1 sha256 {ROOT} - \
                 3 panic_on_corruption ignore_zero_blocks check_at_most_once"
            )
        );
        assert_eq!(t.sectors().unwrap(), 3);
        t.options = VerityOptions {
            on_corruption: OnCorruption::Restart,
            ..Default::default()
        };
        assert!(t.params().unwrap().ends_with(" - 1 restart_on_corruption"));
        t.options.on_corruption = OnCorruption::Ignore;
        t.salt = "-".into();
        assert!(t.params().unwrap().ends_with(" - 1 ignore_corruption"));
    }

    #[test]
    fn hex_is_lowercased() {
        let mut t = example();
        t.root_hash = ROOT.to_ascii_uppercase();
        t.salt = "AB".into();
        assert_eq!(
            t.params().unwrap(),
            format!("1 /dev/sda1 /dev/sda2 4096 4096 262144 1 sha256 {ROOT} ab")
        );
    }

    #[test]
    fn invalid_fields_are_named() {
        let field_of = |t: VerityTable| match t.params() {
            Err(Error::Table {
                target: "verity",
                field,
                ..
            }) => field,
            other => panic!("{other:?}"),
        };
        type Case = (fn(&mut VerityTable), &'static str);
        let cases: Vec<Case> = vec![
            (|t| t.data_dev = "/dev/sd a".into(), "data_dev"),
            (|t| t.data_dev = String::new(), "data_dev"),
            (|t| t.hash_dev = "/dev/x\0".into(), "hash_dev"),
            (|t| t.data_block_size = 1000, "data_block_size"),
            (|t| t.hash_block_size = 8192, "hash_block_size"),
            (|t| t.hash_block_size = 256, "hash_block_size"),
            (|t| t.num_data_blocks = 0, "num_data_blocks"),
            (|t| t.num_data_blocks = u64::MAX, "num_data_blocks"),
            (|t| t.algorithm = "sha 256".into(), "algorithm"),
            (|t| t.algorithm = String::new(), "algorithm"),
            (|t| t.root_hash = "abc".into(), "root_hash"),
            (|t| t.root_hash = "zz".into(), "root_hash"),
            (|t| t.root_hash = String::new(), "root_hash"),
            // sha256 digests are 32 bytes.
            (|t| t.root_hash = "00".repeat(20), "root_hash"),
            (|t| t.salt = "12 34".into(), "salt"),
            (|t| t.salt = "1".into(), "salt"),
        ];
        for (change, field) in cases {
            let mut t = example();
            change(&mut t);
            assert_eq!(field_of(t), field);
        }
        // Unknown algorithms are passed through without a length check.
        let mut t = example();
        t.algorithm = "blake2b-256".into();
        t.root_hash = "00".repeat(7);
        assert!(t.params().is_ok());
    }
}
