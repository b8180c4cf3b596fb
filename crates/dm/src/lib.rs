//! device-mapper ioctl buffers and dm-verity tables, without the ioctls.
//!
//! Implements the Linux kernel's `include/uapi/linux/dm-ioctl.h` (interface
//! version 4: `struct dm_ioctl`, `struct dm_target_spec`, the `DM_*` ioctl
//! numbers and flags) and the table lines of
//! `Documentation/admin-guide/device-mapper/verity.rst` ("Construction
//! Parameters", "Status"), `dm-crypt.rst` and `dm-integrity.rst`. See
//! `docs/formats/dm.md`.
//!
//! The crate is pure: it builds the byte buffers the kernel expects and reads
//! the buffers it writes back. Opening `/dev/mapper/control` and issuing the
//! ioctls belongs to the `sys` crate (issue 4), the one place allowed `unsafe`.
//!
//! * [`request`] builds each request a verity setup needs, as a
//!   [`Request`] (ioctl number + buffer);
//! * [`VerityTable`] writes the `verity` target's parameter string;
//! * [`Reply`] reads a returned buffer, its target specs, and
//!   [`verity_status`] tells a verified device from a corrupted one.
//!
//! Structures are written little-endian, i.e. native on the machines CLIP OS
//! runs on (x86_64, aarch64); big-endian targets do not compile.

#[cfg(target_endian = "big")]
compile_error!("dm writes ioctl structures little-endian; big-endian hosts are not supported");

mod crypt;
mod error;
pub mod layout;
mod reply;
pub mod request;
mod verity;

pub use crypt::{
    CryptTable, INTEGRITY_MAGIC, IntegrityMode, IntegritySuperblock, IntegrityTable, KeyringKey,
};
pub use error::{Error, ReplyError, ReplyErrorKind};
pub use layout::{HEADER_SIZE, TARGET_SPEC_SIZE};
pub use reply::{Reply, TargetStatus, VerityStatus, verity_status};
pub use request::{Request, Target};
pub use verity::{OnCorruption, VerityOptions, VerityTable};
