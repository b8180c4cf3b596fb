//! GUID Partition Tables, UEFI Specification 2.10 §5.3 ("GUID Partition Table
//! (GPT) Disk Layout"), with the partition types and attribute flags of the
//! UAPI Discoverable Partitions Specification and A/B slot metadata in the
//! type-specific attribute bits.
//!
//! Pure: [`DiskLayout`] places partitions (pass 1) into a [`Gpt`], whose
//! [`Gpt::regions`] serialises the protective MBR, the primary header and
//! entries and the backup entries and header (pass 2) as `(offset, bytes)`
//! regions, so that a multi-GiB image file can stay sparse. [`Gpt::parse`]
//! reads them back and checks every field, naming the byte offset of the bad
//! one. [`Gpt::read`] reads a disk to boot or update it: it uses the backup
//! copy when the primary is damaged (§5.3.2), and says so.
//! [`ReadGpt::update_plan`] gives the ordered writes and barriers that change
//! partition entries so that a torn write leaves the old or the new table.
//! GUIDs are inputs: nothing here is random.
//!
//! Sectors are 512 bytes; partitions are aligned to 1 MiB.

mod attributes;
mod error;
mod layout;
mod parse;
mod read;
mod table;
pub mod types;
mod update;

pub use attributes::Attributes;
pub use error::Error;
pub use layout::{DiskLayout, PartitionSpec, Size};
pub use read::{OtherCopy, ReadGpt, Which};
pub use table::{Gpt, Partition, Region};
pub use update::{Step, UpdatePlan};
pub use uuid::Uuid;

/// Logical block size: the only one supported.
pub const SECTOR_SIZE: u64 = 512;
/// Partition start and size alignment used by [`DiskLayout`] (as sfdisk,
/// sgdisk and systemd-repart do).
pub const ALIGNMENT: u64 = 1 << 20;
/// Size of one partition entry; the only one supported (UEFI §5.3.2 allows
/// larger powers of two, nobody writes them).
pub const ENTRY_SIZE: u32 = 128;
/// Number of entries [`DiskLayout`] writes: the minimum 16 KiB array.
pub const ENTRY_COUNT: u32 = 128;
/// Largest entry array [`Gpt::parse`] accepts (bounds the memory a hostile
/// header can make it read).
pub const MAX_ENTRY_COUNT: u32 = 1024;
/// Longest partition name, in UTF-16 code units.
pub const NAME_UNITS: usize = 36;
