//! Partition sizes: `"<digits>M"` or `"<digits>G"` (binary: MiB, GiB), and
//! the dm-verity hash partition size derived from a root size.

use crate::validate::Problem;

const MIB: u64 = 1 << 20;
/// dm-verity parameters the image builder uses: 4096-byte data and hash
/// blocks, SHA-256 (32-byte digests), a 4096-byte superblock block in front.
const BLOCK: u64 = 4096;
const DIGESTS_PER_BLOCK: u64 = BLOCK / 32;

/// Parses a size strictly: no sign, no leading zero, no space, no fraction,
/// suffix `M` (MiB) or `G` (GiB) required. Sizes are whole MiB so that
/// partitions stay 1 MiB aligned.
pub fn parse_size(s: &str) -> Result<u64, Problem> {
    let bad = |why: &'static str| Problem::BadSize {
        value: s.to_owned(),
        why,
    };
    let (digits, unit) = match s.as_bytes().last() {
        Some(b'M') => (&s[..s.len() - 1], MIB),
        Some(b'G') => (&s[..s.len() - 1], 1024 * MIB),
        _ => return Err(bad("must end in M (MiB) or G (GiB)")),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("must be decimal digits followed by M or G"));
    }
    if digits.starts_with('0') {
        return Err(bad("must not be zero or start with 0"));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .ok_or_else(|| bad("is too large"))
}

/// Writes a byte count as a size string (`G` when whole GiB, else `M`).
/// `bytes` must be a multiple of 1 MiB (as [`parse_size`] returns).
pub fn format_size(bytes: u64) -> String {
    if bytes % (1024 * MIB) == 0 {
        format!("{}G", bytes / (1024 * MIB))
    } else {
        format!("{}M", bytes / MIB)
    }
}

/// The hash partition size for a root partition of `root` bytes: the
/// superblock block plus every hash tree level, rounded up to whole MiB.
pub fn verity_size(root: u64) -> u64 {
    let mut blocks = root.div_ceil(BLOCK);
    let mut total = 1; // superblock
    loop {
        blocks = blocks.div_ceil(DIGESTS_PER_BLOCK);
        total += blocks;
        if blocks <= 1 {
            break;
        }
    }
    (total * BLOCK).div_ceil(MIB) * MIB
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strictly() {
        assert_eq!(parse_size("256M").unwrap(), 256 * MIB);
        assert_eq!(parse_size("2G").unwrap(), 2048 * MIB);
        for bad in [
            "",
            "M",
            "0M",
            "012M",
            "2",
            "2g",
            "2GiB",
            " 2G",
            "2G ",
            "-1G",
            "1.5G",
            "2K",
            "+2G",
            "99999999999999999999G",
            "17179869184G",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn formats_back() {
        for s in ["256M", "2G", "1536M", "1M"] {
            assert_eq!(format_size(parse_size(s).unwrap()), s);
        }
    }

    #[test]
    fn verity_size_matches_tree_geometry() {
        // 2 GiB root: 524288 data blocks -> 4096 + 32 + 1 hash blocks,
        // + 1 superblock = 4130 blocks = 16.1 MiB -> 17 MiB.
        assert_eq!(verity_size(2048 * MIB), 17 * MIB);
        // One data block: one hash block + superblock -> 1 MiB.
        assert_eq!(verity_size(BLOCK), MIB);
        // 128 data blocks fill exactly one hash block.
        assert_eq!(verity_size(128 * BLOCK), MIB);
    }
}
