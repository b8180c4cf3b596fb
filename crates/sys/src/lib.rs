//! The system calls of CLIP OS device programs that Rust's standard library
//! and rustix do not wrap: the device-mapper ioctls (`ioctl(2)` on
//! `/dev/mapper/control`, Linux `Documentation/admin-guide/device-mapper/`),
//! `finit_module(2)`, `add_key(2)`/`keyctl(2)` for dm-crypt's key, and
//! `chroot(2)` in a child before exec, `BLKPG_ADD_PARTITION`, and the calls
//! a hardened kernel must refuse (`probe`).
//!
//! This is the one crate allowed `unsafe`; each block says why it is sound.
//! The buffers themselves are built and parsed by the pure `dm` crate.

#![allow(unsafe_code)]

pub mod blkpg;
pub mod dm;
pub mod keyring;
pub mod module;
pub mod probe;
pub mod process;
