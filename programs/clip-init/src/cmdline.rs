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
//! the command line are the kernel's business and are ignored.

use anyhow::{Context, Result, bail};

/// dm-verity data and hash block size (fixed by the contract).
pub const BLOCK_SIZE: u32 = 4096;
/// Longest salt dm-verity and veritysetup accept, in bytes.
const MAX_SALT_BYTES: usize = 256;

/// Which A/B slot was booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub fn as_str(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }
}

/// Everything clip-init takes from the command line.
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
}

const SLOT: &str = "clip.slot";
const ROOT_HASH: &str = "clip.verity.roothash";
const SALT: &str = "clip.verity.salt";
const DATA_BLOCKS: &str = "clip.verity.data_blocks";
const KNOWN: [&str; 4] = [SLOT, ROOT_HASH, SALT, DATA_BLOCKS];

/// Parses the contents of `/proc/cmdline`.
pub fn parse(cmdline: &str) -> Result<BootParams> {
    let mut values: [Option<&str>; 4] = [None; 4];
    for word in cmdline.split_ascii_whitespace() {
        // Everything after "--" is for init's argv, not a kernel parameter.
        if word == "--" {
            break;
        }
        let (key, value) = word.split_once('=').unwrap_or((word, ""));
        let Some(i) = KNOWN.iter().position(|k| *k == key) else {
            if key.starts_with("clip.verity.") || key.starts_with("clip.slot") {
                bail!(
                    "unknown kernel parameter {key} (expected {})",
                    KNOWN.join(", ")
                );
            }
            continue;
        };
        if !word.contains('=') {
            bail!("kernel parameter {key} has no value (expected {key}=...)");
        }
        if values[i].replace(value).is_some() {
            bail!("kernel parameter {key} is given more than once");
        }
    }
    let get =
        |i: usize| values[i].with_context(|| format!("kernel parameter {} is missing", KNOWN[i]));

    let slot = match get(0)? {
        "a" => Slot::A,
        "b" => Slot::B,
        other => bail!("kernel parameter {SLOT}={other:?} is not \"a\" or \"b\""),
    };
    let hash_text = get(1)?;
    check_lower_hex(ROOT_HASH, hash_text)?;
    if hash_text.len() != 64 {
        bail!(
            "kernel parameter {ROOT_HASH} has {} hex digits, expected 64 (sha256)",
            hash_text.len()
        );
    }
    let mut root_hash = [0u8; 32];
    hex::decode_to_slice(hash_text, &mut root_hash)?;
    let salt = lower_hex(SALT, get(2)?)?;
    if salt.len() > MAX_SALT_BYTES {
        bail!(
            "kernel parameter {SALT} is {} bytes long, at most {MAX_SALT_BYTES} allowed",
            salt.len()
        );
    }
    let blocks = get(3)?;
    let data_blocks: u64 = if !blocks.is_empty() && blocks.bytes().all(|b| b.is_ascii_digit()) {
        blocks.parse::<u64>().ok()
    } else {
        None
    }
    .filter(|n| *n > 0 && n.checked_mul(u64::from(BLOCK_SIZE)).is_some())
    .with_context(|| {
        format!("kernel parameter {DATA_BLOCKS}={blocks:?} is not a positive block count")
    })?;
    Ok(BootParams {
        slot,
        root_hash,
        salt,
        data_blocks,
    })
}

fn check_lower_hex(key: &str, value: &str) -> Result<()> {
    if !value
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        bail!("kernel parameter {key}={value:?} is not lowercase hexadecimal");
    }
    Ok(())
}

/// Decodes lowercase hex (an empty value is no bytes).
fn lower_hex(key: &str, value: &str) -> Result<Vec<u8>> {
    check_lower_hex(key, value)?;
    if value.len() % 2 == 1 {
        bail!("kernel parameter {key}={value:?} has an odd number of hex digits");
    }
    Ok(hex::decode(value)?)
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
        format!("{:#}", parse(cmdline).unwrap_err())
    }

    #[test]
    fn a_builder_command_line_parses() {
        let p = parse(&line("b", HASH, SALT_HEX, "12345")).unwrap();
        assert_eq!(p.slot, Slot::B);
        assert_eq!(p.root_hash_hex(), HASH);
        assert_eq!(hex::encode(&p.salt), SALT_HEX);
        assert_eq!(p.data_blocks, 12345);
        let p = parse(&line("a", HASH, "", "1")).unwrap();
        assert_eq!(p.slot, Slot::A);
        assert!(p.salt.is_empty());
    }

    #[test]
    fn missing_parameters_are_named() {
        assert!(err("console=ttyS0").contains("clip.slot is missing"));
        let no_hash = line("a", HASH, SALT_HEX, "8").replace("clip.verity.roothash=", "x=");
        assert!(err(&no_hash).contains("clip.verity.roothash is missing"));
        let no_blocks = line("a", HASH, SALT_HEX, "8").replace("clip.verity.data_blocks=8", "");
        assert!(err(&no_blocks).contains("clip.verity.data_blocks is missing"));
        // After "--" the words belong to init.
        let after = format!("-- {}", line("a", HASH, SALT_HEX, "8"));
        assert!(err(&after).contains("clip.slot is missing"));
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
        assert!(err(&twice).contains("clip.slot is given more than once"));
        let typo = format!(
            "{} clip.verity.roothash2=00",
            line("a", HASH, SALT_HEX, "8")
        );
        assert!(err(&typo).contains("unknown kernel parameter clip.verity.roothash2"));
        let bare = line("a", HASH, SALT_HEX, "8").replace("clip.slot=a", "clip.slot");
        assert!(err(&bare).contains("clip.slot has no value"));
    }
}
