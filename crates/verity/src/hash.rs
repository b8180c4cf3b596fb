//! Hash algorithms and the two ways dm-verity mixes in the salt.

use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};

use crate::error::{Error, HashAlgorithmName};

/// Largest digest of any supported algorithm (SHA-512).
pub(crate) const MAX_DIGEST: usize = 64;

/// A digest algorithm dm-verity can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    Sha1,
    Sha256,
    Sha512,
}

impl HashAlgorithm {
    /// The kernel crypto API name, as stored in the superblock.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, Error> {
        match name {
            "sha1" => Ok(Self::Sha1),
            "sha256" => Ok(Self::Sha256),
            "sha512" => Ok(Self::Sha512),
            other => Err(Error::UnknownAlgorithm(other.to_owned())),
        }
    }

    pub fn digest_size(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    pub(crate) fn display_name(self) -> HashAlgorithmName {
        HashAlgorithmName(self.name())
    }
}

/// Where the salt goes, as the superblock's `hash_type` field says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashType {
    /// Type 0, the original Chrome OS format: `H(block || salt)`, digests packed
    /// without padding inside hash blocks.
    ChromeOs,
    /// Type 1, the default: `H(salt || block)`, each digest padded with zeros to
    /// the next power of two.
    Normal,
}

impl HashType {
    pub fn from_number(n: u64) -> Result<Self, Error> {
        match n {
            0 => Ok(Self::ChromeOs),
            1 => Ok(Self::Normal),
            other => Err(Error::UnknownHashType(other)),
        }
    }

    pub fn number(self) -> u32 {
        match self {
            Self::ChromeOs => 0,
            Self::Normal => 1,
        }
    }
}

/// Hashes one block with the salt; cheap to share between threads.
#[derive(Clone)]
pub(crate) struct BlockHasher {
    salted: Salted,
    salt: Vec<u8>,
    hash_type: HashType,
}

/// A hasher that has already absorbed the salt (type 1) or nothing (type 0).
#[derive(Clone)]
enum Salted {
    Sha1(Sha1),
    Sha256(Sha256),
    Sha512(Sha512),
}

impl BlockHasher {
    pub(crate) fn new(algorithm: HashAlgorithm, hash_type: HashType, salt: &[u8]) -> Self {
        fn prime<D: Digest>(hash_type: HashType, salt: &[u8]) -> D {
            let mut d = D::new();
            if hash_type == HashType::Normal {
                d.update(salt);
            }
            d
        }
        let salted = match algorithm {
            HashAlgorithm::Sha1 => Salted::Sha1(prime(hash_type, salt)),
            HashAlgorithm::Sha256 => Salted::Sha256(prime(hash_type, salt)),
            HashAlgorithm::Sha512 => Salted::Sha512(prime(hash_type, salt)),
        };
        Self {
            salted,
            salt: salt.to_vec(),
            hash_type,
        }
    }

    /// Writes the digest of `block` into the first bytes of `out`.
    pub(crate) fn hash_into(&self, block: &[u8], out: &mut [u8]) {
        fn run<D: Digest + Clone>(d: &D, block: &[u8], tail: &[u8], out: &mut [u8]) {
            let mut d = d.clone();
            d.update(block);
            d.update(tail);
            let digest = d.finalize();
            out[..digest.len()].copy_from_slice(&digest);
        }
        let tail: &[u8] = match self.hash_type {
            HashType::ChromeOs => &self.salt,
            HashType::Normal => &[],
        };
        match &self.salted {
            Salted::Sha1(d) => run(d, block, tail, out),
            Salted::Sha256(d) => run(d, block, tail, out),
            Salted::Sha512(d) => run(d, block, tail, out),
        }
    }
}
