//! Changing partition entries in place so that a write torn at any byte
//! leaves a table that reads (with [`Gpt::read`], UEFI 2.10 §5.3.2's rules)
//! as the complete old one or the complete new one, never a mix and never
//! nothing. The update daemon uses it to rewrite the inactive slot's entries
//! (type GUID, unique GUID carrying the verity root hash, name, attributes)
//! when it installs a release.
//!
//! The plan, for the usual case where the primary copy is the one in use:
//!
//! 1. the backup entry array, then the backup header;
//! 2. barrier (the caller makes everything before it durable: `fdatasync`
//!    of the device);
//! 3. the primary entry array, then the primary header;
//! 4. barrier.
//!
//! Why this order: every reader (firmware, Linux, [`Gpt::read`]) uses the
//! primary copy whenever it is valid and the backup otherwise, and a copy is
//! valid only when its header's CRC32 and its entry array's CRC32 both
//! match, so a copy torn anywhere is refused as a whole.
//!
//! - During 1 the primary is untouched and valid: it wins, whatever state
//!   the backup is in (torn and refused, or complete and new but outvoted),
//!   so the old table is read.
//! - The barrier 2 makes the new backup durable before the primary is
//!   touched; without it a device that reorders writes could leave both
//!   copies torn.
//! - During 3 the backup is complete and new. Once the primary's array
//!   starts changing, its header still records the old array's CRC32,
//!   which no longer matches, so the primary is refused and the new backup
//!   is read; a torn header fails its own CRC32. Only when the header's
//!   last byte lands is the primary valid again, and new. (A device that
//!   reorders the two writes gives a new header over an old or torn array:
//!   refused just the same.) Before the first byte changes, the primary is
//!   the complete old table and is read: old.
//! - The barrier 4 is where the caller may report the update as done.
//!
//! When the table was read from the backup because the primary is damaged,
//! the roles swap: the primary is written first (the valid backup keeps
//! being read until the primary is complete, which then wins), the backup
//! second. Writing the copy in use first would leave no valid copy if the
//! write tore. Both copies are written whole (the full entry array, not just
//! the changed sectors), so a damaged copy is healed by the update.
//!
//! Note for boots after a tear in step 3: Linux's own partition scan reads
//! the backup only when the primary is valid (or with `gpt` on the kernel
//! command line), so the reader that boots the system must fall back itself
//! (clip-init does, with [`Gpt::read`]).

use crate::read::{ReadGpt, Which};
use crate::{Error, Gpt, Partition, Region, SECTOR_SIZE};

/// One step of an [`UpdatePlan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Write these bytes at this byte offset of the disk.
    Write(Region),
    /// Make every write before durable before starting any write after
    /// (`fdatasync` of the block device, or a cache flush).
    Barrier,
}

/// The writes that turn `old` into `new`, in order, with their barriers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdatePlan {
    pub old: Gpt,
    pub new: Gpt,
    /// The copy written first (the one not in use when the table was read).
    pub first: Which,
    pub steps: Vec<Step>,
}

impl Gpt {
    /// The entry array and header of one copy, entries first.
    fn copy_regions(&self, which: Which) -> [Region; 2] {
        let entries = self.entry_array();
        let crc = crc32fast::hash(&entries[..self.entries_len()]);
        let last = self.last_lba();
        let (entries_lba, header_lba, alternate) = match which {
            Which::Primary => (self.primary_entries_lba, 1, last),
            Which::Backup => (self.backup_entries_lba, last, 1),
        };
        [
            Region {
                offset: entries_lba * SECTOR_SIZE,
                bytes: entries,
            },
            Region {
                offset: header_lba * SECTOR_SIZE,
                bytes: self.header(header_lba, alternate, entries_lba, crc),
            },
        ]
    }
}

impl ReadGpt {
    /// The plan that replaces the table's used entries with `partitions`
    /// (everything else kept: disk GUID, usable range, array locations),
    /// after the same checks as [`Gpt::regions`]. See the module
    /// documentation for the order.
    pub fn update_plan(&self, partitions: Vec<Partition>) -> Result<UpdatePlan, Error> {
        let old = self.gpt.clone();
        let new = Gpt {
            partitions,
            ..old.clone()
        };
        new.check_geometry()?;
        new.check_partitions()?;
        let (first, second) = match self.used {
            Which::Primary => (Which::Backup, Which::Primary),
            Which::Backup => (Which::Primary, Which::Backup),
        };
        let mut steps = Vec::with_capacity(6);
        for which in [first, second] {
            steps.extend(new.copy_regions(which).into_iter().map(Step::Write));
            steps.push(Step::Barrier);
        }
        Ok(UpdatePlan {
            old,
            new,
            first,
            steps,
        })
    }
}
