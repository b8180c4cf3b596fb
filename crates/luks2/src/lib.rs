//! LUKS2 headers in pure Rust, compatible both ways with cryptsetup 2.6.
//!
//! Implements the LUKS2 On-Disk Format Specification 1.1.1 (Milan Brož,
//! cryptsetup's docs/on-disk-format-luks2.pdf) as cryptsetup 2.6's
//! lib/luks2 reads and writes it: both header copies with their checksums
//! and `seqid` (§2), the JSON metadata with cryptsetup's validation (§3),
//! `luks2` keyslots with PBKDF2, Argon2i or Argon2id and the LUKS1
//! anti-forensic splitter, encrypted with `aes-xts-plain64` (§3.2, §4.2,
//! §4.3), `pbkdf2` digests (§3.4), `crypt` segments with or without
//! integrity (§3.3), tokens (§3.6), and the activation parameters of the
//! data segment, with the dm-crypt mapping in [`dmcrypt`].
//!
//! The crate is pure: the caller passes the device size and a reader
//! (`read_at(offset, buf)`, like `gpt::Gpt::parse`), randomness (a
//! [`rand_core::CryptoRngCore`]: salts, the AF splitter's stripes, the
//! random fill of a new keyslots area) and the volume key; operations
//! change the [`Header`] in memory and return the [`Write`]s to perform, in
//! order, each synced before the next (see [`header`] for why that order
//! survives a crash). Volume keys and derived keys are zeroed after use.
//!
//! ```text
//! format          -> Header + writes (keyslots area fill, both copies)
//! Header::read    -> Header (falls back to the secondary copy)
//! add_keyslot     -> writes (key material, both copies)
//! remove_keyslot  -> writes (zeros over the area, both copies)
//! unlock          -> (keyslot, VolumeKey)
//! activation      -> cipher spec, sizes, offsets, integrity tag size
//! ```
//!
//! Not supported (refused with an error naming the field): reencryption
//! and any other mandatory requirement (such headers can only be read),
//! keyslot types other than `luks2`, keyslot areas not encrypted with
//! `aes-xts-plain64`, hashes outside the SHA family, AF stripes other than
//! 4000, digests other than `pbkdf2`.

pub mod activation;
mod af;
mod binary;
mod digest;
pub mod dmcrypt;
mod error;
mod format;
mod hash;
pub mod header;
mod json;
mod kdf;
mod key;
mod keyslot;
mod metadata;
mod token;
mod xts;

pub use activation::{Activation, IntegrityParams};
pub use binary::{BINARY_HEADER_SIZE, BinaryHeader, Copy, METADATA_SIZES, has_luks_magic};
pub use dmcrypt::{DmCryptSpec, dm_crypt_spec};
pub use error::Error;
pub use format::{DEFAULT_DATA_OFFSET, DEFAULT_METADATA_SIZE, FormatParams, format};
pub use hash::Hash;
pub use header::{CopyState, Header, Write};
pub use kdf::{KdfParams, MAX_ARGON2_MEMORY, MIN_PBKDF2_ITERATIONS};
pub use key::VolumeKey;
pub use keyslot::KeyslotParams;
pub use metadata::{
    AF_STRIPES, Argon2Type, Config, CryptSegment, Digest, DigestKind, Kdf, Keyslot, KeyslotKind,
    Luks2Keyslot, MAX_KEYSLOTS, MAX_TOKENS, Metadata, Priority, Segment, SegmentIntegrity,
    SegmentKind, Token, af_area_size,
};
pub use token::Tpm2Token;
