//! Every check the reader, the validator and the operations make, one
//! variant each, with the values involved. Offsets are byte offsets from the
//! start of the device; JSON places are paths such as `keyslots.1.area.size`.
//! No variant ever carries a passphrase, a key or key material.

use crate::binary::Copy;

/// What went wrong, with the values involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("cannot read {len} bytes at offset {offset}: {message}")]
    Read {
        offset: u64,
        len: usize,
        message: String,
    },
    #[error(
        "device of {size} bytes is too small: the LUKS2 header and keyslots area need {needed}"
    )]
    DeviceTooSmall { size: u64, needed: u64 },
    #[error("no LUKS2 {copy} header magic at offset {offset}")]
    Magic { offset: u64, copy: Copy },
    #[error("LUKS2 {copy} header at offset {offset} has version {value}, expected 2")]
    Version { offset: u64, copy: Copy, value: u16 },
    #[error("LUKS2 {copy} header found at offset {offset} says it lives at offset {value}")]
    HeaderOffset { offset: u64, copy: Copy, value: u64 },
    #[error(
        "LUKS2 {copy} header at offset {offset} has header size {value}, \
         expected one of 16 KiB, 32 KiB, ..., 4 MiB{note}"
    )]
    HeaderSize {
        offset: u64,
        copy: Copy,
        value: u64,
        note: &'static str,
    },
    #[error(
        "LUKS2 {copy} header field {field} at offset {offset} is not a NUL-terminated UTF-8 string"
    )]
    HeaderString {
        offset: u64,
        copy: Copy,
        field: &'static str,
    },
    #[error(
        "LUKS2 {copy} header at offset {offset} uses checksum algorithm {name:?}, not supported (sha1, sha256, sha384, sha512)"
    )]
    ChecksumAlgorithm {
        offset: u64,
        copy: Copy,
        name: String,
    },
    #[error(
        "LUKS2 {copy} header checksum ({algorithm}) at offset {offset} does not match the header and JSON area"
    )]
    Checksum {
        offset: u64,
        copy: Copy,
        algorithm: &'static str,
    },
    #[error("LUKS2 {copy} header byte at offset {offset} is {value:#04x}; padding must be zero")]
    Padding { offset: u64, copy: Copy, value: u8 },
    #[error("LUKS2 {copy} JSON area at offset {offset}: {what}")]
    JsonArea {
        offset: u64,
        copy: Copy,
        what: &'static str,
    },
    #[error("LUKS2 {copy} JSON metadata at offset {offset} is not valid JSON: {message}")]
    Json {
        offset: u64,
        copy: Copy,
        message: String,
    },
    #[error("LUKS2 {copy} JSON metadata: {error}")]
    Metadata { copy: Copy, error: Box<Error> },
    #[error("{path} is missing or not {expected}")]
    Field {
        path: String,
        expected: &'static str,
    },
    #[error("{path} is {value}, expected {expected}")]
    Value {
        path: String,
        value: String,
        expected: String,
    },
    #[error("{path} has the id {key:?}, expected a decimal number below {max}")]
    Id { path: String, key: String, max: u32 },
    #[error("{path} refers to {target}, which does not exist")]
    Reference { path: String, target: String },
    #[error("{path} {value:?} is not supported ({supported})")]
    Unsupported {
        path: String,
        value: String,
        supported: &'static str,
    },
    #[error("keyslot {keyslot} area {offset}+{size} is outside the keyslots area {start}..{end}")]
    AreaBounds {
        keyslot: u32,
        offset: u64,
        size: u64,
        start: u64,
        end: u64,
    },
    #[error("keyslot {a} and keyslot {b} areas overlap")]
    AreaOverlap { a: u32, b: u32 },
    #[error("keyslot {keyslot} area of {size} bytes cannot hold {needed} bytes of split key")]
    AreaTooSmall {
        keyslot: u32,
        size: u64,
        needed: u64,
    },
    #[error("segment {a} and segment {b} overlap")]
    SegmentOverlap { a: u32, b: u32 },
    #[error(
        "segment {segment} starts at {offset}, inside the header and keyslots area (which ends at {end})"
    )]
    SegmentInHeader { segment: u32, offset: u64, end: u64 },
    #[error("keyslot {keyslot} is assigned to {count} digests, expected exactly 1")]
    KeyslotDigests { keyslot: u32, count: usize },
    #[error("crypt segment {segment} is not assigned to any digest")]
    SegmentDigest { segment: u32 },
    #[error("JSON metadata of {len} bytes does not fit the {max}-byte JSON area (with its NUL)")]
    JsonTooLarge { len: usize, max: u64 },
    #[error(
        "the header has mandatory requirements {names:?} (e.g. a reencryption in progress), \
         which this implementation does not support: the header is read-only here and cannot be activated"
    )]
    Requirements { names: Vec<String> },
    #[error("no valid LUKS2 header: primary: {primary}; secondary: {secondary}")]
    BothCopies {
        primary: Box<Error>,
        secondary: Box<Error>,
    },
    #[error("keyslot {keyslot} does not exist")]
    NoSuchKeyslot { keyslot: u32 },
    #[error("keyslot {keyslot} is already in use")]
    KeyslotInUse { keyslot: u32 },
    #[error("keyslot number {keyslot} is out of range (0..{max})")]
    KeyslotRange { keyslot: u32, max: u32 },
    #[error("all {max} keyslots are in use")]
    NoFreeKeyslot { max: u32 },
    #[error("no free space of {needed} bytes left in the {size}-byte keyslots area")]
    NoSpace { needed: u64, size: u64 },
    #[error("keyslot {keyslot} has type {kind:?}; only luks2 keyslots can be opened or created")]
    KeyslotType { keyslot: u32, kind: String },
    #[error("keyslot {keyslot} is not bound to the data segment's digest")]
    KeyslotUnbound { keyslot: u32 },
    #[error("no keyslot opens with this passphrase (tried {tried:?})")]
    WrongPassphrase { tried: Vec<u32> },
    #[error("the header has no keyslot that can unlock the data segment")]
    NoKeyslots,
    #[error("the passphrase is empty")]
    EmptyPassphrase,
    #[error("the volume key does not match the data segment's digest")]
    VolumeKeyMismatch,
    #[error("volume key of {len} bytes, expected {expected}")]
    VolumeKeySize { len: usize, expected: usize },
    #[error("key derivation failed: {message}")]
    Kdf { message: String },
    #[error("cannot allocate {bytes} bytes of memory for {what}")]
    OutOfMemory { bytes: u64, what: &'static str },
    #[error("invalid parameter {name}: {problem}")]
    Param { name: &'static str, problem: String },
    #[error("cipher {spec:?} cannot be mapped to a dm-crypt table: {problem}")]
    Cipher { spec: String, problem: &'static str },
    #[error("the header has no data segment")]
    NoSegment,
    #[error("segment {segment} ({offset}+{size}) ends beyond the {device_size}-byte device")]
    SegmentBeyondDevice {
        segment: u32,
        offset: u64,
        size: u64,
        device_size: u64,
    },
    #[error("token {token} does not exist")]
    NoSuchToken { token: u32 },
    #[error("all {max} token ids are in use")]
    NoFreeToken { max: u32 },
    #[error("token field {field}: {problem}")]
    Token {
        field: &'static str,
        problem: String,
    },
}
