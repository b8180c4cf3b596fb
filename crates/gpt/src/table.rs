//! The partition table model, its consistency checks and its serialisation
//! (UEFI §5.2.3 protective MBR, §5.3.2 GPT header, §5.3.3 entry array).

use uuid::Uuid;

use crate::Attributes;
use crate::{ENTRY_SIZE, Error, MAX_ENTRY_COUNT, NAME_UNITS, SECTOR_SIZE};

pub(crate) const SIGNATURE: &[u8; 8] = b"EFI PART";
pub(crate) const REVISION: u32 = 0x0001_0000;
pub(crate) const HEADER_SIZE: u32 = 92;
/// Offsets of header fields (UEFI Table 5.5).
pub(crate) mod field {
    pub const CRC: usize = 16;
    pub const MY_LBA: usize = 24;
    pub const ALTERNATE_LBA: usize = 32;
    pub const FIRST_USABLE: usize = 40;
    pub const LAST_USABLE: usize = 48;
    pub const DISK_GUID: usize = 56;
    pub const ENTRIES_LBA: usize = 72;
    pub const ENTRY_COUNT: usize = 80;
    pub const ENTRY_SIZE: usize = 84;
    pub const ENTRIES_CRC: usize = 88;
    /// Within an entry (UEFI Table 5.6).
    pub const ENTRY_FIRST_LBA: usize = 32;
    pub const ENTRY_NAME: usize = 56;
}
const FIELD_ENTRY_COUNT: u64 = 80;
const FIELD_ENTRIES_LBA: u64 = 72;
const FIELD_FIRST_USABLE: u64 = 40;

/// One used slot of the entry array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// Slot in the entry array, from 0 (`sda1` is slot 0).
    pub index: u32,
    pub type_guid: Uuid,
    pub unique_guid: Uuid,
    pub first_lba: u64,
    /// Inclusive.
    pub last_lba: u64,
    pub attributes: Attributes,
    /// Up to 36 UTF-16 code units, without NUL.
    pub name: String,
}

impl Partition {
    /// Start, in bytes from the start of the disk.
    pub fn offset(&self) -> u64 {
        self.first_lba.saturating_mul(SECTOR_SIZE)
    }
    /// Size in bytes.
    pub fn size(&self) -> u64 {
        (self.last_lba.saturating_sub(self.first_lba) + 1).saturating_mul(SECTOR_SIZE)
    }
}

/// A whole partition table: what the primary and backup headers share, the
/// two entry array locations and the used entries, by index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt {
    pub disk_guid: Uuid,
    /// Disk size in 512-byte sectors; the backup header is in the last one.
    pub sector_count: u64,
    pub first_usable_lba: u64,
    pub last_usable_lba: u64,
    pub primary_entries_lba: u64,
    pub backup_entries_lba: u64,
    /// Slots in each entry array (used or not).
    pub entry_count: u32,
    /// Used entries, in increasing `index`.
    pub partitions: Vec<Partition>,
}

/// Bytes to write at a byte offset of the image; everything else is zeros
/// (or the partitions' contents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// Sectors taken by an entry array of `count` entries.
pub(crate) fn entry_array_sectors(count: u32) -> u64 {
    (u64::from(count) * u64::from(ENTRY_SIZE)).div_ceil(SECTOR_SIZE)
}

impl Gpt {
    pub fn last_lba(&self) -> u64 {
        self.sector_count - 1
    }

    pub(crate) fn primary_header_offset() -> u64 {
        SECTOR_SIZE
    }

    pub(crate) fn backup_header_offset(&self) -> u64 {
        self.last_lba() * SECTOR_SIZE
    }

    /// Checks the disk geometry recorded in the headers: entry arrays
    /// after the primary header and before the backup one, the usable range
    /// between them. Offsets name the header field.
    pub(crate) fn check_geometry(&self) -> Result<(), Error> {
        self.check_entry_count()?;
        self.check_primary_array()?;
        self.check_usable_range()?;
        self.check_backup_array()
    }

    pub(crate) fn check_entry_count(&self) -> Result<(), Error> {
        if self.entry_count == 0 || self.entry_count > MAX_ENTRY_COUNT {
            return Err(Error::EntryCount {
                offset: Self::primary_header_offset() + FIELD_ENTRY_COUNT,
                value: self.entry_count,
                max: MAX_ENTRY_COUNT,
            });
        }
        Ok(())
    }

    /// Primary array: from LBA 2, ending before the first usable LBA.
    pub(crate) fn check_primary_array(&self) -> Result<(), Error> {
        let sectors = entry_array_sectors(self.entry_count);
        let ok = self.primary_entries_lba >= 2
            && self
                .primary_entries_lba
                .checked_add(sectors)
                .is_some_and(|end| end <= self.first_usable_lba);
        if !ok {
            return Err(Error::EntryArray {
                offset: Self::primary_header_offset() + FIELD_ENTRIES_LBA,
                lba: self.primary_entries_lba,
                count: self.entry_count,
                min: 2,
                limit: self.first_usable_lba,
            });
        }
        Ok(())
    }

    pub(crate) fn check_usable_range(&self) -> Result<(), Error> {
        if self.first_usable_lba > self.last_usable_lba || self.last_usable_lba >= self.last_lba() {
            return Err(Error::UsableRange {
                offset: Self::primary_header_offset() + FIELD_FIRST_USABLE,
                first: self.first_usable_lba,
                last: self.last_usable_lba,
            });
        }
        Ok(())
    }

    /// Backup array: after the last usable LBA, before the backup header.
    pub(crate) fn check_backup_array(&self) -> Result<(), Error> {
        let sectors = entry_array_sectors(self.entry_count);
        let ok = self.backup_entries_lba > self.last_usable_lba
            && self
                .backup_entries_lba
                .checked_add(sectors)
                .is_some_and(|end| end <= self.last_lba());
        if !ok {
            return Err(Error::EntryArray {
                offset: self.backup_header_offset() + FIELD_ENTRIES_LBA,
                lba: self.backup_entries_lba,
                count: self.entry_count,
                min: self.last_usable_lba + 1,
                limit: self.last_lba(),
            });
        }
        Ok(())
    }

    /// Checks the used entries: slots in range and in order, a type, a name
    /// that fits, inside the usable LBAs, no two overlapping. Offsets point
    /// into the primary entry array.
    pub(crate) fn check_partitions(&self) -> Result<(), Error> {
        self.check_partitions_at(self.primary_entries_lba)
    }

    /// [`Gpt::check_partitions`] with offsets into the array at
    /// `entries_lba` (the backup's, when that is the copy being read).
    pub(crate) fn check_partitions_at(&self, entries_lba: u64) -> Result<(), Error> {
        let entry_offset =
            |index: u32| entries_lba * SECTOR_SIZE + u64::from(index) * u64::from(ENTRY_SIZE);
        let mut previous: Option<u32> = None;
        for p in &self.partitions {
            let offset = entry_offset(p.index);
            if p.index >= self.entry_count || previous.is_some_and(|prev| p.index <= prev) {
                return Err(Error::EntryIndex {
                    offset,
                    index: p.index,
                    count: self.entry_count,
                });
            }
            previous = Some(p.index);
            if p.type_guid.is_nil() {
                return Err(Error::NilType {
                    offset,
                    index: p.index,
                });
            }
            let units = p.name.encode_utf16().count();
            if units > NAME_UNITS {
                return Err(Error::NameTooLong {
                    name: p.name.clone(),
                    units,
                    max: NAME_UNITS,
                });
            }
            if p.name.contains('\0') {
                return Err(Error::NameInvalid {
                    offset: offset + 56,
                    index: p.index,
                });
            }
            if p.first_lba > p.last_lba
                || p.first_lba < self.first_usable_lba
                || p.last_lba > self.last_usable_lba
            {
                return Err(Error::PartitionBounds {
                    offset: offset + 32,
                    index: p.index,
                    first: p.first_lba,
                    last: p.last_lba,
                    first_usable: self.first_usable_lba,
                    last_usable: self.last_usable_lba,
                });
            }
        }
        let mut by_start: Vec<&Partition> = self.partitions.iter().collect();
        by_start.sort_by_key(|p| (p.first_lba, p.index));
        for pair in by_start.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b.first_lba <= a.last_lba {
                let (later, other) = if a.index > b.index { (a, b) } else { (b, a) };
                return Err(Error::Overlap {
                    offset: entry_offset(later.index) + 32,
                    index: later.index,
                    other: other.index,
                });
            }
        }
        Ok(())
    }

    /// The entry array, padded to whole sectors.
    pub(crate) fn entry_array(&self) -> Vec<u8> {
        let sectors = entry_array_sectors(self.entry_count);
        let mut bytes = vec![0u8; usize::try_from(sectors * SECTOR_SIZE).unwrap_or(0)];
        for p in &self.partitions {
            let start = usize::try_from(p.index).unwrap_or(usize::MAX) * 128;
            let e = &mut bytes[start..start + 128];
            e[0..16].copy_from_slice(&p.type_guid.to_bytes_le());
            e[16..32].copy_from_slice(&p.unique_guid.to_bytes_le());
            e[32..40].copy_from_slice(&p.first_lba.to_le_bytes());
            e[40..48].copy_from_slice(&p.last_lba.to_le_bytes());
            e[48..56].copy_from_slice(&p.attributes.0.to_le_bytes());
            for (i, unit) in p.name.encode_utf16().enumerate() {
                e[56 + 2 * i..58 + 2 * i].copy_from_slice(&unit.to_le_bytes());
            }
        }
        bytes
    }

    pub(crate) fn entries_len(&self) -> usize {
        usize::try_from(self.entry_count).unwrap_or(0) * 128
    }

    /// One header sector (UEFI Table 5.5).
    pub(crate) fn header(
        &self,
        my_lba: u64,
        alternate_lba: u64,
        entries_lba: u64,
        entries_crc: u32,
    ) -> Vec<u8> {
        let mut h = vec![0u8; 512];
        h[0..8].copy_from_slice(SIGNATURE);
        h[8..12].copy_from_slice(&REVISION.to_le_bytes());
        h[12..16].copy_from_slice(&HEADER_SIZE.to_le_bytes());
        h[24..32].copy_from_slice(&my_lba.to_le_bytes());
        h[32..40].copy_from_slice(&alternate_lba.to_le_bytes());
        h[40..48].copy_from_slice(&self.first_usable_lba.to_le_bytes());
        h[48..56].copy_from_slice(&self.last_usable_lba.to_le_bytes());
        h[56..72].copy_from_slice(&self.disk_guid.to_bytes_le());
        h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
        h[80..84].copy_from_slice(&self.entry_count.to_le_bytes());
        h[84..88].copy_from_slice(&ENTRY_SIZE.to_le_bytes());
        h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
        let crc = crc32fast::hash(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// The protective MBR (UEFI §5.2.3, Table 5.4): one 0xEE partition from
    /// LBA 1 over the whole disk (capped at 2^32 - 1 sectors).
    fn protective_mbr(&self) -> Vec<u8> {
        let mut m = vec![0u8; 512];
        let size = u32::try_from(self.sector_count - 1).unwrap_or(u32::MAX);
        let record = &mut m[446..462];
        record[1..4].copy_from_slice(&[0x00, 0x02, 0x00]); // CHS of LBA 1
        record[4] = 0xee;
        record[5..8].copy_from_slice(&[0xff, 0xff, 0xff]);
        record[8..12].copy_from_slice(&1u32.to_le_bytes());
        record[12..16].copy_from_slice(&size.to_le_bytes());
        m[510] = 0x55;
        m[511] = 0xaa;
        m
    }

    /// Serialises the table after checking it: the protective MBR and the
    /// primary header (offset 0), the primary entries, the backup entries,
    /// the backup header (last sector). Gaps between them are left alone.
    pub fn regions(&self) -> Result<Vec<Region>, Error> {
        if self.sector_count < crate::parse::MIN_SECTORS {
            return Err(Error::DiskTooSmall {
                size: self.sector_count.saturating_mul(SECTOR_SIZE),
                min: crate::parse::MIN_SECTORS * SECTOR_SIZE,
            });
        }
        self.check_geometry()?;
        self.check_partitions()?;
        let entries = self.entry_array();
        let crc = crc32fast::hash(&entries[..self.entries_len()]);
        let mut head = self.protective_mbr();
        head.extend_from_slice(&self.header(1, self.last_lba(), self.primary_entries_lba, crc));
        Ok(vec![
            Region {
                offset: 0,
                bytes: head,
            },
            Region {
                offset: self.primary_entries_lba * SECTOR_SIZE,
                bytes: entries.clone(),
            },
            Region {
                offset: self.backup_entries_lba * SECTOR_SIZE,
                bytes: entries,
            },
            Region {
                offset: self.backup_header_offset(),
                bytes: self.header(self.last_lba(), 1, self.backup_entries_lba, crc),
            },
        ])
    }
}
