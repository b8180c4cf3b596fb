//! Pass 1 of writing a disk: placing partitions. Like sfdisk and
//! systemd-repart: a 128-entry array at LBA 2 and before the backup header,
//! each partition starting on a 1 MiB boundary right after the previous one,
//! the last one optionally taking the rest of the disk (ending on a 1 MiB
//! boundary).

use uuid::Uuid;

use crate::{
    ALIGNMENT, Attributes, ENTRY_COUNT, Error, Gpt, NAME_UNITS, Partition, SECTOR_SIZE,
    table::entry_array_sectors,
};

/// How big a partition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Exactly this many bytes, a multiple of 512.
    Bytes(u64),
    /// Up to the last 1 MiB boundary before the backup entries (last
    /// partition only).
    Rest,
}

/// One partition to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSpec {
    pub type_guid: Uuid,
    pub unique_guid: Uuid,
    pub name: String,
    pub size: Size,
    pub attributes: Attributes,
}

/// A disk to partition: its size, GUID and partitions in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskLayout {
    pub disk_size: u64,
    pub disk_guid: Uuid,
    pub partitions: Vec<PartitionSpec>,
}

impl DiskLayout {
    pub fn new(disk_size: u64, disk_guid: Uuid) -> Self {
        Self {
            disk_size,
            disk_guid,
            partitions: Vec::new(),
        }
    }

    /// Appends a partition (slot = position).
    pub fn partition(mut self, spec: PartitionSpec) -> Self {
        self.partitions.push(spec);
        self
    }

    /// Places the partitions; [`Gpt::regions`] then gives the bytes.
    pub fn build(&self) -> Result<Gpt, Error> {
        if self.disk_size % SECTOR_SIZE != 0 {
            return Err(Error::DiskSizeUnaligned {
                size: self.disk_size,
            });
        }
        let array = entry_array_sectors(ENTRY_COUNT);
        let sector_count = self.disk_size / SECTOR_SIZE;
        let min = 2 * array + 3;
        if sector_count < min {
            return Err(Error::DiskTooSmall {
                size: self.disk_size,
                min: min * SECTOR_SIZE,
            });
        }
        if self.partitions.len() > usize::try_from(ENTRY_COUNT).unwrap_or(usize::MAX) {
            return Err(Error::TooManyPartitions {
                count: self.partitions.len(),
                max: ENTRY_COUNT,
            });
        }
        let last_lba = sector_count - 1;
        let backup_entries_lba = last_lba - array;
        let last_usable_lba = backup_entries_lba - 1;
        let align = ALIGNMENT / SECTOR_SIZE;
        // One past the last usable LBA, rounded down to the alignment.
        let aligned_end = (last_usable_lba + 1) / align * align;

        let mut partitions = Vec::with_capacity(self.partitions.len());
        let mut next = align;
        for (i, spec) in self.partitions.iter().enumerate() {
            let units = spec.name.encode_utf16().count();
            if units > NAME_UNITS {
                return Err(Error::NameTooLong {
                    name: spec.name.clone(),
                    units,
                    max: NAME_UNITS,
                });
            }
            let first = next;
            let sectors = match spec.size {
                Size::Bytes(b) if b > 0 && b % SECTOR_SIZE == 0 => b / SECTOR_SIZE,
                Size::Bytes(b) => {
                    return Err(Error::PartitionSize {
                        name: spec.name.clone(),
                        size: b,
                    });
                }
                Size::Rest if i + 1 != self.partitions.len() => {
                    return Err(Error::RestNotLast {
                        name: spec.name.clone(),
                    });
                }
                Size::Rest => aligned_end.saturating_sub(first),
            };
            let end = first.saturating_add(sectors);
            if sectors == 0 || end > last_usable_lba + 1 {
                return Err(Error::DoesNotFit {
                    name: spec.name.clone(),
                    end: end.saturating_mul(SECTOR_SIZE),
                    limit: (last_usable_lba + 1) * SECTOR_SIZE,
                });
            }
            partitions.push(Partition {
                index: u32::try_from(i).unwrap_or(u32::MAX),
                type_guid: spec.type_guid,
                unique_guid: spec.unique_guid,
                first_lba: first,
                last_lba: end - 1,
                attributes: spec.attributes,
                name: spec.name.clone(),
            });
            next = end.div_ceil(align).saturating_mul(align);
        }
        let gpt = Gpt {
            disk_guid: self.disk_guid,
            sector_count,
            first_usable_lba: 2 + array,
            last_usable_lba,
            primary_entries_lba: 2,
            backup_entries_lba,
            entry_count: ENTRY_COUNT,
            partitions,
        };
        gpt.check_geometry()?;
        gpt.check_partitions()?;
        Ok(gpt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types;

    const MIB: u64 = 1 << 20;

    fn spec(name: &str, size: Size) -> PartitionSpec {
        PartitionSpec {
            type_guid: types::LINUX_GENERIC,
            unique_guid: Uuid::from_u128(0x1234),
            name: name.into(),
            size,
            attributes: Attributes::default(),
        }
    }

    #[test]
    fn places_on_mib_boundaries() {
        let gpt = DiskLayout::new(64 * MIB, Uuid::from_u128(1))
            .partition(spec("a", Size::Bytes(MIB + 512)))
            .partition(spec("b", Size::Rest))
            .build()
            .unwrap();
        let p = &gpt.partitions;
        assert_eq!((p[0].first_lba, p[0].last_lba), (2048, 2048 + 2048));
        // After 1 MiB + 512 bytes, the next boundary is 3 MiB.
        assert_eq!(p[1].first_lba, 3 * 2048);
        // 64 MiB disk: the last 1 MiB is cut short by the backup array.
        assert_eq!(p[1].last_lba, 63 * 2048 - 1);
        assert_eq!((gpt.first_usable_lba, gpt.last_usable_lba), (34, 131038));
        assert_eq!(gpt.backup_entries_lba, 131039);
    }

    #[test]
    fn bad_layouts_are_refused() {
        let disk = || DiskLayout::new(64 * MIB, Uuid::from_u128(1));
        let err = |l: DiskLayout| l.build().unwrap_err();
        assert_eq!(
            err(disk().partition(spec("x", Size::Bytes(100)))),
            Error::PartitionSize {
                name: "x".into(),
                size: 100
            }
        );
        assert_eq!(
            err(disk().partition(spec("big", Size::Bytes(63 * MIB)))),
            Error::DoesNotFit {
                name: "big".into(),
                end: 64 * MIB,
                limit: 131039 * 512
            }
        );
        assert!(matches!(
            err(disk()
                .partition(spec("r", Size::Rest))
                .partition(spec("s", Size::Bytes(MIB)))),
            Error::RestNotLast { .. }
        ));
        let long = "a".repeat(37);
        assert!(matches!(
            err(disk().partition(spec(&long, Size::Bytes(MIB)))),
            Error::NameTooLong {
                units: 37,
                max: 36,
                ..
            }
        ));
        // 36 UTF-16 units is fine, even when it is more UTF-8 bytes.
        disk()
            .partition(spec(&"é".repeat(36), Size::Bytes(MIB)))
            .build()
            .unwrap();
        let mut many = disk();
        for _ in 0..129 {
            many = many.partition(spec("p", Size::Bytes(512)));
        }
        assert_eq!(
            err(many),
            Error::TooManyPartitions {
                count: 129,
                max: 128
            }
        );
        assert!(matches!(
            err(DiskLayout::new(1000, Uuid::nil())),
            Error::DiskSizeUnaligned { size: 1000 }
        ));
        assert!(matches!(
            err(DiskLayout::new(8192, Uuid::nil())),
            Error::DiskTooSmall { .. }
        ));
    }
}
