//! Every check the parser, the layout builder and the serialiser make, one
//! variant each. Offsets are byte offsets from the start of the disk.

/// What went wrong, with the values involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("cannot read {len} bytes at offset {offset}: {message}")]
    Read {
        offset: u64,
        len: usize,
        message: String,
    },
    #[error("disk size {size} is not a multiple of the 512-byte sector")]
    DiskSizeUnaligned { size: u64 },
    #[error("disk of {size} bytes is too small for a GPT (at least {min} bytes)")]
    DiskTooSmall { size: u64, min: u64 },
    #[error("no protective MBR: {what} (offset {offset})")]
    ProtectiveMbr { offset: u64, what: &'static str },
    #[error("no \"EFI PART\" GPT header signature at offset {offset}")]
    Signature { offset: u64 },
    #[error("GPT header revision {value:#010x} at offset {offset}, expected 0x00010000")]
    Revision { offset: u64, value: u32 },
    #[error("GPT header size {value} at offset {offset}, expected 92..=512")]
    HeaderSize { offset: u64, value: u32 },
    #[error("GPT header CRC32 {stored:#010x} at offset {offset}, computed {computed:#010x}")]
    HeaderCrc {
        offset: u64,
        stored: u32,
        computed: u32,
    },
    #[error("GPT header reserved field {value:#x} at offset {offset}, expected 0")]
    Reserved { offset: u64, value: u32 },
    #[error("GPT header field {field} is {value} at offset {offset}, expected {expected}")]
    HeaderField {
        offset: u64,
        field: &'static str,
        value: u64,
        expected: u64,
    },
    #[error("usable LBAs {first}..={last} (offset {offset}) do not fit between the entry arrays")]
    UsableRange { offset: u64, first: u64, last: u64 },
    #[error(
        "{count}-entry array at LBA {lba} (offset {offset}) does not fit in LBAs {min}..{limit}"
    )]
    EntryArray {
        offset: u64,
        lba: u64,
        count: u32,
        min: u64,
        limit: u64,
    },
    #[error("partition entry size {value} at offset {offset}, only 128 is supported")]
    EntrySize { offset: u64, value: u32 },
    #[error("partition entry count {value} at offset {offset}, expected 1..={max}")]
    EntryCount { offset: u64, value: u32, max: u32 },
    #[error(
        "partition entry array CRC32 {stored:#010x} at offset {offset}, computed {computed:#010x}"
    )]
    EntriesCrc {
        offset: u64,
        stored: u32,
        computed: u32,
    },
    #[error("neither GPT copy is valid: primary: {primary}; backup at LBA {backup_lba}: {backup}")]
    NoValidCopy {
        primary: Box<Error>,
        backup_lba: u64,
        backup: Box<Error>,
    },
    #[error("backup GPT {field} at offset {offset} differs from the primary")]
    BackupMismatch { offset: u64, field: &'static str },
    #[error(
        "partition entry index {index} (offset {offset}) out of order or beyond {count} entries"
    )]
    EntryIndex { offset: u64, index: u32, count: u32 },
    #[error("partition {index} (offset {offset}) has the nil type GUID")]
    NilType { offset: u64, index: u32 },
    #[error(
        "partition {index} LBAs {first}..={last} (offset {offset}) outside the usable \
         {first_usable}..={last_usable}"
    )]
    PartitionBounds {
        offset: u64,
        index: u32,
        first: u64,
        last: u64,
        first_usable: u64,
        last_usable: u64,
    },
    #[error("partition {index} (offset {offset}) overlaps partition {other}")]
    Overlap { offset: u64, index: u32, other: u32 },
    #[error("partition {index} name at offset {offset} is not valid UTF-16 or contains NUL")]
    NameInvalid { offset: u64, index: u32 },
    #[error("partition name {name:?} is {units} UTF-16 code units, at most {max}")]
    NameTooLong {
        name: String,
        units: usize,
        max: usize,
    },
    #[error("{count} partitions, at most {max}")]
    TooManyPartitions { count: usize, max: u32 },
    #[error("partition {name:?}: size {size} is not a positive multiple of 512 bytes")]
    PartitionSize { name: String, size: u64 },
    #[error("partition {name:?}: only the last partition can take the rest of the disk")]
    RestNotLast { name: String },
    #[error("partition {name:?} would end at byte {end}, past the last usable byte {limit}")]
    DoesNotFit { name: String, end: u64, limit: u64 },
    #[error("attribute field {field} value {value} exceeds {max}")]
    AttributeOutOfRange {
        field: &'static str,
        value: u8,
        max: u8,
    },
}
