use std::fmt;

/// Everything that can go wrong when describing, building or reading a tree.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("{which} block size {size} is not a power of two between 512 and 4096")]
    BlockSize { which: &'static str, size: u64 },
    #[error("unknown hash algorithm {0:?} (known: sha1, sha256, sha512)")]
    UnknownAlgorithm(String),
    #[error("unknown hash format type {0} (known: 0 for Chrome OS, 1 for normal)")]
    UnknownHashType(u64),
    #[error("salt is {0} bytes; the superblock holds at most 256")]
    SaltTooLong(usize),
    #[error("there are no data blocks to protect")]
    NoData,
    #[error("{0} data blocks need a hash tree too large to address")]
    TooLarge(u64),
    #[error("hash offset {0} leaves no room for the hash tree")]
    HashOffsetTooLarge(u64),
    #[error("hash offset {offset} is not a multiple of {align} bytes")]
    HashOffsetAlignment { offset: u64, align: u64 },
    #[error("data is {len} bytes, not a whole number of {block_size}-byte blocks")]
    PartialBlock { len: usize, block_size: u32 },
    #[error("received {got} data blocks, expected {expected}")]
    DataBlockCount { got: u64, expected: u64 },
    #[error("stored hash tree is {got} bytes, expected {expected}")]
    TreeSize { got: usize, expected: u64 },
    #[error("root hash is {got} bytes, {algorithm} digests are {expected}")]
    RootHashLength {
        got: usize,
        expected: usize,
        algorithm: HashAlgorithmName,
    },
    #[error(transparent)]
    Superblock(#[from] SuperblockError),
    /// The data or the stored tree does not match the root hash.
    #[error(transparent)]
    Corrupt(#[from] crate::tree::Mismatch),
    /// A hash block that matches its digest has non-zero bytes where the
    /// parameters leave it unused: the tree was made for other parameters,
    /// typically more data blocks than claimed.
    #[error(transparent)]
    SpareArea(#[from] crate::tree::SpareArea),
    #[error("the hash tree needs {0} bytes of memory, more than can be allocated")]
    OutOfMemory(u64),
}

/// Name of a hash algorithm, carried in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashAlgorithmName(pub &'static str);

impl fmt::Display for HashAlgorithmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A superblock that cannot be used, with the byte offset of the bad field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid verity superblock at byte {offset}: {kind}")]
pub struct SuperblockError {
    pub kind: SuperblockErrorKind,
    /// Offset of the offending field from the start of the superblock.
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuperblockErrorKind {
    #[error("too short ({0} bytes, need 512)")]
    Truncated(usize),
    #[error("no \"verity\" signature")]
    Signature,
    #[error("unsupported version {0}")]
    Version(u32),
    #[error("unknown hash type {0}")]
    HashType(u32),
    #[error("hash algorithm name is not NUL-terminated ASCII")]
    AlgorithmName,
    #[error("unknown hash algorithm {0:?}")]
    Algorithm(String),
    #[error("block size {0} is not a power of two between 512 and 4096")]
    BlockSize(u32),
    #[error("data block count is zero")]
    NoData,
    #[error("salt size {0} exceeds 256")]
    SaltSize(u16),
    #[error("reserved bytes are not zero")]
    Padding,
}
