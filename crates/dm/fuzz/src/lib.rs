//! The checks behind the fuzz targets, one function per target.
//!
//! `crates/dm/tests/fuzz_corpus.rs` includes this file with `#[path]` and
//! replays the committed corpus through the same functions, so keep it free
//! of dependencies other than `dm`.

use dm::layout::{HEADER_SIZE, TARGET_SPEC_SIZE, flags};
use dm::{Reply, VerityStatus, verity_status};

/// How far an input got, so that the corpus replay can tell that the corpus
/// still reaches the deep end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// The header did not parse.
    Rejected,
    /// The header parsed; the target specs did not, or there were none.
    Header,
    /// At least one target spec parsed; `verity_status` refused the reply.
    Targets,
    /// `verity_status` reported V or C.
    Verity,
}

/// Target `reply`: arbitrary bytes as a returned `dm_ioctl` buffer. Must
/// never panic; whatever parses must lie within the buffer, and
/// `verity_status` must accept exactly the replies its rules describe.
pub fn reply(data: &[u8]) -> Outcome {
    let Ok(reply) = Reply::parse(data) else {
        assert!(verity_status(data).is_err());
        return Outcome::Rejected;
    };
    let data_size = usize::try_from(reply.data_size).unwrap();
    assert!(data_size <= data.len() && data_size >= 305);
    assert!(reply.name.len() < 128 && !reply.name.contains('\0'));
    assert!(reply.uuid.len() < 129 && !reply.uuid.contains('\0'));

    let targets = reply.targets();
    let status = verity_status(data);
    let Ok(targets) = targets else {
        assert!(status.is_err());
        return Outcome::Header;
    };
    assert_eq!(targets.len(), usize::try_from(reply.target_count).unwrap());
    let mut previous_end = usize::try_from(reply.data_start).unwrap();
    assert!(targets.is_empty() || previous_end >= HEADER_SIZE);
    for t in &targets {
        // In order, without overlap, and inside data_size.
        assert!(t.offset >= previous_end);
        assert!(t.target_type.len() < 16 && !t.target_type.contains('\0'));
        assert!(!t.params.contains('\0'));
        previous_end = t.offset + TARGET_SPEC_SIZE + t.params.len() + 1;
        assert!(previous_end <= data_size);
    }

    let usable = reply.flags & flags::ACTIVE_PRESENT != 0
        && reply.flags & flags::SUSPEND == 0
        && reply.flags & flags::READONLY != 0;
    let expected = match targets.as_slice() {
        [t] if usable && t.target_type == "verity" => match t.params.split(' ').next() {
            Some("V") => Some(VerityStatus::Verified),
            Some("C") => Some(VerityStatus::Corrupted),
            _ => None,
        },
        _ => None,
    };
    assert_eq!(status.as_ref().ok(), expected.as_ref(), "{status:?}");
    match (expected, targets.is_empty()) {
        (Some(_), _) => Outcome::Verity,
        (None, false) => Outcome::Targets,
        (None, true) => Outcome::Header,
    }
}

/// Target `integrity_superblock`: arbitrary bytes as the start of a
/// dm-integrity device (the state partition can be written offline). Must
/// never panic; a parsed superblock has the magic and a block size the
/// kernel allows.
pub fn integrity_superblock(data: &[u8]) -> Option<u32> {
    match dm::IntegritySuperblock::parse(data) {
        Ok(Some(sb)) => {
            assert_eq!(&data[..8], dm::INTEGRITY_MAGIC);
            assert!(sb.block_size.is_power_of_two() && (512..=4096).contains(&sb.block_size));
            Some(sb.block_size)
        }
        Ok(None) => {
            assert!(data.len() >= 32 && &data[..8] != dm::INTEGRITY_MAGIC);
            None
        }
        Err(_) => None,
    }
}
