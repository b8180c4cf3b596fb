//! dm-verity hash trees, byte-compatible with `veritysetup format` (cryptsetup 2.6).
//!
//! Implements the on-disk format described in the Linux kernel's
//! `Documentation/admin-guide/device-mapper/verity.rst` ("Hash tree" and
//! "On-disk format" sections) and cryptsetup's `lib/verity` (the optional
//! 512-byte `verity` superblock, hash format types 0 and 1).
//!
//! The crate is pure: callers hand it bytes and get bytes back. Reading files,
//! writing the hash device and choosing random salts or UUIDs are left to the
//! caller, so the same code serves the build CLI and on-device programs.
//!
//! * [`Params`] and [`Geometry`] describe a tree and where each level lives;
//! * [`TreeBuilder`] streams data blocks in and produces a [`HashTree`]
//!   (hashing spreads over every core with rayon);
//! * [`HashTree::verify`] and [`HashTree::check_data`] check a stored tree
//!   held in memory top-down from the root hash, then data against the
//!   trusted tree;
//! * [`Verifier`] checks data while reading the hash blocks that vouch for
//!   it on demand (through a reader the caller supplies), each checked
//!   before use, so memory stays bounded however large the tree;
//! * [`Superblock`] parses and encodes the 512-byte header.
//!
//! Not supported: forward error correction (`--fec-*`) and root hash signatures.

mod error;
mod geometry;
mod hash;
mod superblock;
mod tree;
mod verifier;

pub use error::{Error, SuperblockError, SuperblockErrorKind};
pub use geometry::{Geometry, Level, MAX_BLOCK_SIZE, MAX_SALT_SIZE, MIN_BLOCK_SIZE, Params};
pub use hash::{HashAlgorithm, HashType};
pub use superblock::{SUPERBLOCK_SIZE, Superblock, tree_offset};
pub use tree::{Area, HashTree, Mismatch, SpareArea, TreeBuilder};
pub use verifier::{Verifier, VerifyError};
