//! The boot parameters on the signed kernel command line (issue 4 contract,
//! "Kernel command line"):
//!
//! ```text
//! clip.slot=a clip.verity.roothash=<64 hex> clip.verity.salt=<hex> clip.verity.data_blocks=<N>
//! ```
//!
//! Parsing is strict: each parameter exactly once, lowercase hex of the
//! right length, a positive decimal block count; an unknown `clip.verity.*`
//! parameter is an error too (a typo must not go unnoticed). Other words of
//! the command line are the kernel's business and are ignored, and so is
//! everything after `--`, which the kernel hands to init as arguments
//! (Documentation/admin-guide/kernel-parameters.rst).

use std::fmt;

/// dm-verity data and hash block size (fixed by the contract).
pub const BLOCK_SIZE: u32 = 4096;
/// Longest salt dm-verity and veritysetup accept, in bytes.
pub const MAX_SALT_BYTES: usize = 256;

const SLOT: &str = "clip.slot";
const ROOT_HASH: &str = "clip.verity.roothash";
const SALT: &str = "clip.verity.salt";
const DATA_BLOCKS: &str = "clip.verity.data_blocks";
/// Every parameter of the contract, in the order `clip build` writes them.
pub const PARAMETERS: [&str; 4] = [SLOT, ROOT_HASH, SALT, DATA_BLOCKS];
/// Prefix reserved for the contract: a product may not use it.
pub const RESERVED_PREFIX: &str = "clip.";

/// A command line that breaks the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("kernel parameter {0} is missing")]
    Missing(&'static str),
    #[error("unknown kernel parameter {key} (expected {})", PARAMETERS.join(", "))]
    Unknown { key: String },
    #[error("kernel parameter {0} has no value (expected {0}=...)")]
    NoValue(&'static str),
    #[error("kernel parameter {0} is given more than once")]
    Repeated(&'static str),
    #[error("kernel parameter {SLOT}={0:?} is not \"a\" or \"b\"")]
    Slot(String),
    #[error("kernel parameter {key}={value:?} is not lowercase hexadecimal")]
    NotHex { key: &'static str, value: String },
    #[error("kernel parameter {key}={value:?} has an odd number of hex digits")]
    OddHex { key: &'static str, value: String },
    #[error("kernel parameter {ROOT_HASH} has {0} hex digits, expected 64 (sha256)")]
    RootHashLength(usize),
    #[error("kernel parameter {SALT} is {0} bytes long, at most {MAX_SALT_BYTES} allowed")]
    SaltLength(usize),
    #[error("kernel parameter {DATA_BLOCKS}={0:?} is not a positive block count")]
    DataBlocks(String),
}

/// Which A/B slot was booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub const ALL: [Slot; 2] = [Slot::A, Slot::B];

    pub fn as_str(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }

    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
}

impl serde::Serialize for Slot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Slot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "a" => Ok(Slot::A),
            "b" => Ok(Slot::B),
            other => Err(serde::de::Error::custom(format!(
                "slot {other:?} is not \"a\" or \"b\""
            ))),
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the contract puts on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootParams {
    pub slot: Slot,
    /// sha256 root hash of the root partition's hash tree.
    pub root_hash: [u8; 32],
    /// Salt bytes (may be empty).
    pub salt: Vec<u8>,
    /// Data blocks (of [`BLOCK_SIZE`]) covered by the tree.
    pub data_blocks: u64,
}

impl BootParams {
    pub fn root_hash_hex(&self) -> String {
        hex::encode(self.root_hash)
    }

    /// Parses a command line (the contents of `/proc/cmdline`).
    pub fn parse(cmdline: &str) -> Result<Self, Error> {
        let mut values: [Option<&str>; 4] = [None; 4];
        for word in cmdline.split_ascii_whitespace() {
            if word == "--" {
                break;
            }
            let (key, value) = word.split_once('=').unwrap_or((word, ""));
            let Some(i) = PARAMETERS.iter().position(|k| *k == key) else {
                if key.starts_with("clip.verity.") || key.starts_with(SLOT) {
                    return Err(Error::Unknown { key: key.into() });
                }
                continue;
            };
            if !word.contains('=') {
                return Err(Error::NoValue(PARAMETERS[i]));
            }
            if values[i].replace(value).is_some() {
                return Err(Error::Repeated(PARAMETERS[i]));
            }
        }
        let get = |i: usize| values[i].ok_or(Error::Missing(PARAMETERS[i]));

        let slot = match get(0)? {
            "a" => Slot::A,
            "b" => Slot::B,
            other => return Err(Error::Slot(other.into())),
        };
        let hash_text = get(1)?;
        check_lower_hex(ROOT_HASH, hash_text)?;
        if hash_text.len() != 64 {
            return Err(Error::RootHashLength(hash_text.len()));
        }
        let mut root_hash = [0u8; 32];
        hex::decode_to_slice(hash_text, &mut root_hash).map_err(|_| Error::NotHex {
            key: ROOT_HASH,
            value: hash_text.into(),
        })?;
        let salt = lower_hex(SALT, get(2)?)?;
        if salt.len() > MAX_SALT_BYTES {
            return Err(Error::SaltLength(salt.len()));
        }
        let blocks = get(3)?;
        let data_blocks = (!blocks.is_empty() && blocks.bytes().all(|b| b.is_ascii_digit()))
            .then(|| blocks.parse::<u64>().ok())
            .flatten()
            .filter(|n| valid_data_blocks(*n))
            .ok_or_else(|| Error::DataBlocks(blocks.into()))?;
        Ok(BootParams {
            slot,
            root_hash,
            salt,
            data_blocks,
        })
    }

    /// The parameters as `clip build` appends them to the product's command
    /// line; [`BootParams::parse`] reads them back.
    pub fn render(&self) -> String {
        format!(
            "{SLOT}={} {ROOT_HASH}={} {SALT}={} {DATA_BLOCKS}={}",
            self.slot,
            self.root_hash_hex(),
            hex::encode(&self.salt),
            self.data_blocks
        )
    }
}

/// Whether `n` is a block count the contract allows: positive, and its
/// size in bytes (`n` × [`BLOCK_SIZE`]) fits in a `u64`. [`BootParams::parse`]
/// and [`crate::Release::check`] apply the same rule.
pub fn valid_data_blocks(n: u64) -> bool {
    n > 0 && n.checked_mul(u64::from(BLOCK_SIZE)).is_some()
}

fn check_lower_hex(key: &'static str, value: &str) -> Result<(), Error> {
    if value
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(Error::NotHex {
            key,
            value: value.into(),
        })
    }
}

/// Decodes lowercase hex (an empty value is no bytes).
fn lower_hex(key: &'static str, value: &str) -> Result<Vec<u8>, Error> {
    check_lower_hex(key, value)?;
    if value.len() % 2 == 1 {
        return Err(Error::OddHex {
            key,
            value: value.into(),
        });
    }
    hex::decode(value).map_err(|_| Error::NotHex {
        key,
        value: value.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    const SALT_HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn line(slot: &str, hash: &str, salt: &str, blocks: &str) -> String {
        format!(
            "console=ttyS0 quiet clip.slot={slot} clip.verity.roothash={hash} \
             clip.verity.salt={salt} clip.verity.data_blocks={blocks} panic=10\n"
        )
    }

    fn err(cmdline: &str) -> String {
        BootParams::parse(cmdline).unwrap_err().to_string()
    }

    #[test]
    fn a_builder_command_line_parses() {
        let p = BootParams::parse(&line("b", HASH, SALT_HEX, "12345")).unwrap();
        assert_eq!(p.slot, Slot::B);
        assert_eq!(p.root_hash_hex(), HASH);
        assert_eq!(hex::encode(&p.salt), SALT_HEX);
        assert_eq!(p.data_blocks, 12345);
        let p = BootParams::parse(&line("a", HASH, "", "1")).unwrap();
        assert_eq!(p.slot, Slot::A);
        assert!(p.salt.is_empty());
    }

    #[test]
    fn render_is_what_parse_reads() {
        let p = BootParams::parse(&line("b", HASH, SALT_HEX, "77")).unwrap();
        assert_eq!(
            p.render(),
            format!(
                "clip.slot=b clip.verity.roothash={HASH} clip.verity.salt={SALT_HEX} \
                 clip.verity.data_blocks=77"
            )
        );
        assert_eq!(BootParams::parse(&p.render()).unwrap(), p);
        let unsalted = BootParams { salt: vec![], ..p };
        assert_eq!(BootParams::parse(&unsalted.render()).unwrap(), unsalted);
    }

    #[test]
    fn missing_parameters_are_named() {
        assert_eq!(
            err("console=ttyS0"),
            "kernel parameter clip.slot is missing"
        );
        let no_hash = line("a", HASH, SALT_HEX, "8").replace("clip.verity.roothash=", "x=");
        assert_eq!(
            err(&no_hash),
            "kernel parameter clip.verity.roothash is missing"
        );
        let no_blocks = line("a", HASH, SALT_HEX, "8").replace("clip.verity.data_blocks=8", "");
        assert_eq!(
            err(&no_blocks),
            "kernel parameter clip.verity.data_blocks is missing"
        );
        // After "--" the words belong to init.
        let after = format!("-- {}", line("a", HASH, SALT_HEX, "8"));
        assert_eq!(err(&after), "kernel parameter clip.slot is missing");
    }

    #[test]
    fn malformed_values_are_named() {
        for (bad, what) in [
            (line("c", HASH, SALT_HEX, "8"), "clip.slot=\"c\""),
            (line("A", HASH, SALT_HEX, "8"), "clip.slot=\"A\""),
            (line("a", &HASH[..62], SALT_HEX, "8"), "62 hex digits"),
            (line("a", &HASH[..63], SALT_HEX, "8"), "63 hex digits"),
            (
                line("a", &format!("{HASH}00"), SALT_HEX, "8"),
                "66 hex digits",
            ),
            (
                line("a", &HASH.to_uppercase(), SALT_HEX, "8"),
                "not lowercase",
            ),
            (
                line("a", &HASH.replace('a', "g"), SALT_HEX, "8"),
                "roothash",
            ),
            (line("a", HASH, "abc", "8"), "odd number"),
            (line("a", HASH, &"00".repeat(257), "8"), "257 bytes"),
            (line("a", HASH, SALT_HEX, "0"), "data_blocks=\"0\""),
            (line("a", HASH, SALT_HEX, "-1"), "data_blocks=\"-1\""),
            (line("a", HASH, SALT_HEX, "+1"), "data_blocks=\"+1\""),
            (line("a", HASH, SALT_HEX, "1e3"), "data_blocks"),
            (
                line("a", HASH, SALT_HEX, &u64::MAX.to_string()),
                "data_blocks",
            ),
            (line("a", HASH, SALT_HEX, ""), "data_blocks=\"\""),
        ] {
            let e = err(&bad);
            assert!(e.contains(what), "{bad}: {e}");
        }
    }

    #[test]
    fn duplicates_typos_and_bare_keys_are_refused() {
        let twice = format!("{} clip.slot=a", line("a", HASH, SALT_HEX, "8"));
        assert_eq!(
            err(&twice),
            "kernel parameter clip.slot is given more than once"
        );
        let typo = format!(
            "{} clip.verity.roothash2=00",
            line("a", HASH, SALT_HEX, "8")
        );
        assert!(err(&typo).starts_with("unknown kernel parameter clip.verity.roothash2"));
        let bare = line("a", HASH, SALT_HEX, "8").replace("clip.slot=a", "clip.slot");
        assert_eq!(
            err(&bare),
            "kernel parameter clip.slot has no value (expected clip.slot=...)"
        );
    }
}
