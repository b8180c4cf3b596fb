//! PE/COFF images as UEFI firmware loads them (Microsoft "PE Format"
//! specification), for building and signing unified kernel images.
//!
//! The crate is pure: bytes in, bytes out.
//!
//! * [`PeFile::parse`] checks the MS-DOS stub, PE signature, COFF header,
//!   optional header (PE32+; PE32 read too), data directories and section
//!   table, every offset against the file size ([`FormatError`] names the
//!   byte offset of a bad field);
//! * [`authenticode_sha256`] is the Authenticode image digest, [`pe_checksum`]
//!   the optional header CheckSum;
//! * [`with_certificate_table`] / [`without_certificate_table`] attach or
//!   drop the attribute certificate table (signatures);
//! * [`add_sections`] appends sections to an image (how a unified kernel
//!   image is assembled from the systemd stub).
//!
//! Module map: `raw` (field offsets with the specification's names), `read`
//! (checked parsing), `authenticode` (digest, checksum, certificate table),
//! `write` (adding sections).

mod authenticode;
mod error;
pub mod raw;
mod read;
#[cfg(test)]
mod testimage;
mod write;

pub use authenticode::{
    Gaps, authenticode_hash, authenticode_sha256, authenticode_sha256_with, pe_checksum,
    prepare_for_signing, with_certificate_table, without_certificate_table,
};
pub use error::{Error, FormatError, FormatErrorKind, Gap};
pub use read::{Format, PeFile, Section};
pub use write::{Edits, NewSection, Plan, add_sections, edit_sections, plan, write};
