//! Reading a GPT back (UEFI §5.3.2 "GPT Header" validity rules): protective
//! MBR, both headers with their CRCs, both entry arrays, then the entries.
//!
//! Strict on purpose: an image we build or verify must have both copies
//! intact and identical, so a damaged primary is an error here, not a reason
//! to fall back to the backup. Booting and updating a disk read it with
//! [`Gpt::read`] (`read.rs`) instead, which does fall back.

use uuid::Uuid;

use crate::table::{HEADER_SIZE, REVISION, SIGNATURE, field};
use crate::{
    Attributes, ENTRY_SIZE, Error, Gpt, MAX_ENTRY_COUNT, NAME_UNITS, Partition, SECTOR_SIZE,
};

/// MBR, header, one entry sector, one usable sector, one entry sector,
/// header.
pub(crate) const MIN_SECTORS: u64 = 6;

/// The fields of one header after its own checks.
pub(crate) struct Header {
    pub(crate) first_usable: u64,
    pub(crate) last_usable: u64,
    pub(crate) disk_guid: Uuid,
    pub(crate) entries_lba: u64,
    pub(crate) entry_count: u32,
    pub(crate) entries_crc: u32,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

fn guid_at(b: &[u8], at: usize) -> Uuid {
    let mut v = [0u8; 16];
    v.copy_from_slice(&b[at..at + 16]);
    Uuid::from_bytes_le(v)
}

fn off(base: u64, at: usize) -> u64 {
    base + u64::try_from(at).unwrap_or(u64::MAX)
}

/// Checks one header sector read at byte `base`, expected at `my_lba` with
/// its twin at `alternate_lba`.
pub(crate) fn parse_header(
    h: &[u8],
    base: u64,
    my_lba: u64,
    alternate_lba: u64,
) -> Result<Header, Error> {
    if &h[..8] != SIGNATURE {
        return Err(Error::Signature { offset: base });
    }
    let revision = u32_at(h, 8);
    if revision != REVISION {
        return Err(Error::Revision {
            offset: off(base, 8),
            value: revision,
        });
    }
    let size = u32_at(h, 12);
    if !(HEADER_SIZE..=512).contains(&size) {
        return Err(Error::HeaderSize {
            offset: off(base, 12),
            value: size,
        });
    }
    let stored = u32_at(h, field::CRC);
    let mut copy = h[..usize::try_from(size).unwrap_or(512)].to_vec();
    copy[field::CRC..field::CRC + 4].fill(0);
    let computed = crc32fast::hash(&copy);
    if stored != computed {
        return Err(Error::HeaderCrc {
            offset: off(base, field::CRC),
            stored,
            computed,
        });
    }
    let reserved = u32_at(h, 20);
    if reserved != 0 {
        return Err(Error::Reserved {
            offset: off(base, 20),
            value: reserved,
        });
    }
    for (at, name, expected) in [
        (field::MY_LBA, "my_lba", my_lba),
        (field::ALTERNATE_LBA, "alternate_lba", alternate_lba),
    ] {
        let value = u64_at(h, at);
        if value != expected {
            return Err(Error::HeaderField {
                offset: off(base, at),
                field: name,
                value,
                expected,
            });
        }
    }
    let entry_size = u32_at(h, field::ENTRY_SIZE);
    if entry_size != ENTRY_SIZE {
        return Err(Error::EntrySize {
            offset: off(base, field::ENTRY_SIZE),
            value: entry_size,
        });
    }
    let entry_count = u32_at(h, field::ENTRY_COUNT);
    if entry_count == 0 || entry_count > MAX_ENTRY_COUNT {
        return Err(Error::EntryCount {
            offset: off(base, field::ENTRY_COUNT),
            value: entry_count,
            max: MAX_ENTRY_COUNT,
        });
    }
    Ok(Header {
        first_usable: u64_at(h, field::FIRST_USABLE),
        last_usable: u64_at(h, field::LAST_USABLE),
        disk_guid: guid_at(h, field::DISK_GUID),
        entries_lba: u64_at(h, field::ENTRIES_LBA),
        entry_count,
        entries_crc: u32_at(h, field::ENTRIES_CRC),
    })
}

/// Reads `len` bytes at `offset` through the caller's reader.
pub(crate) fn read<F>(read_at: &mut F, offset: u64, len: usize) -> Result<Vec<u8>, Error>
where
    F: FnMut(u64, &mut [u8]) -> std::io::Result<()>,
{
    let mut buf = vec![0u8; len];
    read_at(offset, &mut buf).map_err(|e| Error::Read {
        offset,
        len,
        message: e.to_string(),
    })?;
    Ok(buf)
}

/// The used entries of an entry array read at byte `entries_offset`.
pub(crate) fn parse_entries(entries: &[u8], entries_offset: u64) -> Result<Vec<Partition>, Error> {
    let mut partitions = Vec::new();
    for (i, e) in entries.chunks_exact(128).enumerate() {
        let type_guid = guid_at(e, 0);
        if type_guid.is_nil() {
            continue;
        }
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        let units: Vec<u16> = e[field::ENTRY_NAME..field::ENTRY_NAME + 2 * NAME_UNITS]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        let name = String::from_utf16(&units).map_err(|_| Error::NameInvalid {
            offset: entries_offset + u64::from(index) * 128 + 56,
            index,
        })?;
        partitions.push(Partition {
            index,
            type_guid,
            unique_guid: guid_at(e, 16),
            first_lba: u64_at(e, field::ENTRY_FIRST_LBA),
            last_lba: u64_at(e, 40),
            attributes: Attributes(u64_at(e, 48)),
            name,
        });
    }
    Ok(partitions)
}

/// The disk size and protective MBR (UEFI §5.2.3) checks both readers
/// make; the number of sectors.
pub(crate) fn check_disk<F>(disk_size: u64, read_at: &mut F) -> Result<u64, Error>
where
    F: FnMut(u64, &mut [u8]) -> std::io::Result<()>,
{
    if disk_size % SECTOR_SIZE != 0 {
        return Err(Error::DiskSizeUnaligned { size: disk_size });
    }
    let sector_count = disk_size / SECTOR_SIZE;
    if sector_count < MIN_SECTORS {
        return Err(Error::DiskTooSmall {
            size: disk_size,
            min: MIN_SECTORS * SECTOR_SIZE,
        });
    }

    let mbr = read(read_at, 0, 512)?;
    if mbr[510..512] != [0x55, 0xaa] {
        return Err(Error::ProtectiveMbr {
            offset: 510,
            what: "no 0x55aa boot signature",
        });
    }
    if !(0..4).any(|i| mbr[446 + 16 * i + 4] == 0xee) {
        return Err(Error::ProtectiveMbr {
            offset: 450,
            what: "no partition record of type 0xee",
        });
    }
    Ok(sector_count)
}

impl Gpt {
    /// Parses the GPT of a disk of `disk_size` bytes, reading through
    /// `read_at(offset, buf)` (which must fill `buf`). Only the first and last
    /// sectors and the two entry arrays are read.
    pub fn parse<F>(disk_size: u64, mut read_at: F) -> Result<Gpt, Error>
    where
        F: FnMut(u64, &mut [u8]) -> std::io::Result<()>,
    {
        let sector_count = check_disk(disk_size, &mut read_at)?;
        let last_lba = sector_count - 1;

        let primary = parse_header(
            &read(&mut read_at, SECTOR_SIZE, 512)?,
            SECTOR_SIZE,
            1,
            last_lba,
        )?;
        let backup_base = last_lba * SECTOR_SIZE;
        let backup = parse_header(
            &read(&mut read_at, backup_base, 512)?,
            backup_base,
            last_lba,
            1,
        )?;
        let mismatch = [
            (
                field::FIRST_USABLE,
                "first_usable_lba",
                primary.first_usable != backup.first_usable,
            ),
            (
                field::LAST_USABLE,
                "last_usable_lba",
                primary.last_usable != backup.last_usable,
            ),
            (
                field::DISK_GUID,
                "disk_guid",
                primary.disk_guid != backup.disk_guid,
            ),
            (
                field::ENTRY_COUNT,
                "entry_count",
                primary.entry_count != backup.entry_count,
            ),
            (
                field::ENTRIES_CRC,
                "entries_crc32",
                primary.entries_crc != backup.entries_crc,
            ),
        ];
        if let Some(&(at, name, _)) = mismatch.iter().find(|m| m.2) {
            return Err(Error::BackupMismatch {
                offset: off(backup_base, at),
                field: name,
            });
        }

        let mut gpt = Gpt {
            disk_guid: primary.disk_guid,
            sector_count,
            first_usable_lba: primary.first_usable,
            last_usable_lba: primary.last_usable,
            primary_entries_lba: primary.entries_lba,
            backup_entries_lba: backup.entries_lba,
            entry_count: primary.entry_count,
            partitions: Vec::new(),
        };
        gpt.check_geometry()?;

        let len = usize::try_from(primary.entry_count).unwrap_or(0) * 128;
        let entries_offset = primary.entries_lba * SECTOR_SIZE;
        let entries = read(&mut read_at, entries_offset, len)?;
        let computed = crc32fast::hash(&entries);
        if computed != primary.entries_crc {
            return Err(Error::EntriesCrc {
                offset: SECTOR_SIZE + 88,
                stored: primary.entries_crc,
                computed,
            });
        }
        let backup_offset = backup.entries_lba * SECTOR_SIZE;
        if read(&mut read_at, backup_offset, len)? != entries {
            return Err(Error::BackupMismatch {
                offset: backup_offset,
                field: "partition entries",
            });
        }

        gpt.partitions = parse_entries(&entries, entries_offset)?;
        gpt.check_partitions()?;
        Ok(gpt)
    }

    /// [`Gpt::parse`] over a whole disk image in memory.
    pub fn parse_image(image: &[u8]) -> Result<Gpt, Error> {
        let size = u64::try_from(image.len()).unwrap_or(u64::MAX);
        Gpt::parse(size, image_reader(image))
    }
}

/// A `read_at` over an image in memory.
pub(crate) fn image_reader(image: &[u8]) -> impl FnMut(u64, &mut [u8]) -> std::io::Result<()> {
    move |offset, buf| {
        let start = usize::try_from(offset).map_err(std::io::Error::other)?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| image.get(start..end))
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        buf.copy_from_slice(src);
        Ok(())
    }
}
