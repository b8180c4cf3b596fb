//! Reading a disk's GPT as firmware does, falling back to the backup copy
//! (UEFI 2.10 §5.3.2 "GPT Header": "If the primary GPT is corrupt, software
//! must check the last LBA of the device to see if it has a valid GPT Header
//! and point to a valid GPT Partition Entry Array").
//!
//! A copy is a header and the entry array it points to. It is valid when
//! the header passes the §5.3.2 checks (signature, revision, header size,
//! header CRC32, `MyLBA` the LBA it was read from, `AlternateLBA` its twin's,
//! the supported entry size and count), its geometry holds (its array
//! between its header and the usable LBAs), the array's CRC32 is the one the
//! header records (§5.3.3), and the entries make sense (names, bounds, no
//! overlap). The primary copy (header at LBA 1) is used when valid; else the
//! backup (header at the last LBA). When both are valid but differ, the
//! primary wins (§5.3.2: the primary is checked first and a valid primary
//! is used) and the difference is reported. Unlike [`Gpt::parse`], nothing
//! here requires both copies: one valid copy is enough.

use crate::parse::{Header, check_disk, parse_entries, parse_header, read};
use crate::table::entry_array_sectors;
use crate::{Error, Gpt, SECTOR_SIZE};

/// One of the two copies of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Header at LBA 1, entries usually from LBA 2.
    Primary,
    /// Header at the last LBA, entries just before it.
    Backup,
}

impl std::fmt::Display for Which {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Which::Primary => "primary",
            Which::Backup => "backup",
        })
    }
}

/// What became of the copy that was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OtherCopy {
    /// Valid and the same table.
    Agrees,
    /// Refused, for this reason.
    Damaged(Error),
    /// Valid, but a different table (the primary was used): the first field
    /// that differs.
    Differs { field: &'static str },
}

/// A table read with [`Gpt::read`]: which copy it came from and what was
/// wrong with the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadGpt {
    /// The table. When one copy is damaged, the damaged copy's entry array
    /// location is taken to be where every tool puts it (LBA 2 for the
    /// primary, just before the last LBA for the backup): its own header
    /// cannot be trusted to say.
    pub gpt: Gpt,
    pub used: Which,
    pub other: OtherCopy,
}

impl ReadGpt {
    /// LBA of the header that was used.
    pub fn header_lba(&self) -> u64 {
        match self.used {
            Which::Primary => 1,
            Which::Backup => self.gpt.last_lba(),
        }
    }

    /// One sentence for a log when the two copies were not both valid and
    /// identical; `None` when they were.
    pub fn note(&self) -> Option<String> {
        let last = self.gpt.last_lba();
        match (&self.other, self.used) {
            (OtherCopy::Agrees, _) => None,
            (OtherCopy::Damaged(why), Which::Backup) => Some(format!(
                "primary GPT is damaged ({why}); using the backup at LBA {last}"
            )),
            (OtherCopy::Damaged(why), Which::Primary) => Some(format!(
                "backup GPT at LBA {last} is damaged ({why}); using the primary"
            )),
            (OtherCopy::Differs { field }, _) => Some(format!(
                "the backup GPT at LBA {last} is valid but its {field} differs from the \
                 primary's; using the primary"
            )),
        }
    }
}

/// Reads and checks one copy. The other copy's array location, which this
/// copy's header does not record, is set to the usual one.
fn read_copy<F>(read_at: &mut F, which: Which, sector_count: u64) -> Result<Gpt, Error>
where
    F: FnMut(u64, &mut [u8]) -> std::io::Result<()>,
{
    let last_lba = sector_count - 1;
    let (lba, alternate) = match which {
        Which::Primary => (1, last_lba),
        Which::Backup => (last_lba, 1),
    };
    let base = lba * SECTOR_SIZE;
    let h: Header = parse_header(&read(read_at, base, 512)?, base, lba, alternate)?;
    let usual_backup = last_lba.saturating_sub(entry_array_sectors(h.entry_count));
    let mut gpt = Gpt {
        disk_guid: h.disk_guid,
        sector_count,
        first_usable_lba: h.first_usable,
        last_usable_lba: h.last_usable,
        primary_entries_lba: if which == Which::Primary {
            h.entries_lba
        } else {
            2
        },
        backup_entries_lba: if which == Which::Backup {
            h.entries_lba
        } else {
            usual_backup
        },
        entry_count: h.entry_count,
        partitions: Vec::new(),
    };
    gpt.check_entry_count()?;
    gpt.check_usable_range()?;
    match which {
        Which::Primary => gpt.check_primary_array()?,
        Which::Backup => gpt.check_backup_array()?,
    }
    let len = usize::try_from(h.entry_count).unwrap_or(0) * 128;
    let entries_offset = h.entries_lba * SECTOR_SIZE;
    let entries = read(read_at, entries_offset, len)?;
    let computed = crc32fast::hash(&entries);
    if computed != h.entries_crc {
        return Err(Error::EntriesCrc {
            offset: base + 88,
            stored: h.entries_crc,
            computed,
        });
    }
    gpt.partitions = parse_entries(&entries, entries_offset)?;
    gpt.check_partitions_at(h.entries_lba)?;
    Ok(gpt)
}

/// The first field in which two valid copies differ.
fn difference(primary: &Gpt, backup: &Gpt) -> Option<&'static str> {
    [
        ("disk GUID", primary.disk_guid != backup.disk_guid),
        (
            "first usable LBA",
            primary.first_usable_lba != backup.first_usable_lba,
        ),
        (
            "last usable LBA",
            primary.last_usable_lba != backup.last_usable_lba,
        ),
        ("entry count", primary.entry_count != backup.entry_count),
        ("partition entries", primary.partitions != backup.partitions),
    ]
    .into_iter()
    .find_map(|(field, differs)| differs.then_some(field))
}

impl Gpt {
    /// Reads the GPT of a disk of `disk_size` bytes through
    /// `read_at(offset, buf)` (which must fill `buf`), using the backup copy
    /// when the primary is damaged (see the module documentation). The
    /// protective MBR is required, as by [`Gpt::parse`]. A read error on one
    /// copy counts as damage to that copy. Both copies damaged:
    /// [`Error::NoValidCopy`], naming both problems.
    pub fn read<F>(disk_size: u64, mut read_at: F) -> Result<ReadGpt, Error>
    where
        F: FnMut(u64, &mut [u8]) -> std::io::Result<()>,
    {
        let sector_count = check_disk(disk_size, &mut read_at)?;
        let primary = read_copy(&mut read_at, Which::Primary, sector_count);
        let backup = read_copy(&mut read_at, Which::Backup, sector_count);
        match (primary, backup) {
            (Ok(mut gpt), Ok(backup)) => {
                let other = match difference(&gpt, &backup) {
                    None => OtherCopy::Agrees,
                    Some(field) => OtherCopy::Differs { field },
                };
                // The backup's array is where its valid header says, if the
                // primary's array fits there too.
                let usual = gpt.backup_entries_lba;
                gpt.backup_entries_lba = backup.backup_entries_lba;
                if gpt.check_backup_array().is_err() {
                    gpt.backup_entries_lba = usual;
                }
                Ok(ReadGpt {
                    gpt,
                    used: Which::Primary,
                    other,
                })
            }
            (Ok(gpt), Err(why)) => Ok(ReadGpt {
                gpt,
                used: Which::Primary,
                other: OtherCopy::Damaged(why),
            }),
            (Err(why), Ok(gpt)) => Ok(ReadGpt {
                gpt,
                used: Which::Backup,
                other: OtherCopy::Damaged(why),
            }),
            (Err(primary), Err(backup)) => Err(Error::NoValidCopy {
                primary: Box::new(primary),
                backup_lba: sector_count - 1,
                backup: Box::new(backup),
            }),
        }
    }

    /// [`Gpt::read`] over a whole disk image in memory.
    pub fn read_image(image: &[u8]) -> Result<ReadGpt, Error> {
        let size = u64::try_from(image.len()).unwrap_or(u64::MAX);
        Gpt::read(size, crate::parse::image_reader(image))
    }
}
