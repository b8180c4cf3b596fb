//! Damaged and inconsistent tables: each gives the error naming the check
//! and the byte offset of the bad field, never a panic.

use gpt::{Attributes, DiskLayout, Error, Gpt, PartitionSpec, Size, Uuid, types};

const MIB: u64 = 1 << 20;
const SIZE: usize = 8 << 20;
/// Byte offsets in an image made by `DiskLayout` of `SIZE` bytes.
const PRIMARY: usize = 512;
const ENTRIES: usize = 1024;
const BACKUP: usize = SIZE - 512;
const BACKUP_ENTRIES: usize = SIZE - 512 - 128 * 128;

fn image() -> Vec<u8> {
    let p = |n: u128, name: &str| PartitionSpec {
        type_guid: types::ROOT_X86_64,
        unique_guid: Uuid::from_u128(n),
        name: name.into(),
        size: Size::Bytes(MIB),
        attributes: Attributes::default().with_read_only(true),
    };
    let gpt = DiskLayout::new(8 * MIB, Uuid::from_u128(7))
        .partition(p(1, "a"))
        .partition(p(2, "b"))
        .build()
        .unwrap();
    let mut image = vec![0u8; SIZE];
    for r in gpt.regions().unwrap() {
        let at = usize::try_from(r.offset).unwrap();
        image[at..at + r.bytes.len()].copy_from_slice(&r.bytes);
    }
    assert_eq!(Gpt::parse_image(&image).unwrap(), gpt);
    image
}

/// Recomputes the entry array CRC and both header CRCs, so that only the
/// semantic check is left to fail.
fn fix_crcs(image: &mut [u8]) {
    let crc = crc32(&image[ENTRIES..ENTRIES + 128 * 128]);
    for header in [PRIMARY, BACKUP] {
        image[header + 88..header + 92].copy_from_slice(&crc.to_le_bytes());
        image[header + 16..header + 20].fill(0);
        let crc = crc32(&image[header..header + 92]);
        image[header + 16..header + 20].copy_from_slice(&crc.to_le_bytes());
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    // Bitwise CRC-32 (IEEE, reflected), independent of the crate's.
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                crc >> 1 ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Edits both entry arrays the same way, then fixes the CRCs.
fn patch_entries(image: &mut [u8], at: usize, bytes: &[u8]) {
    for base in [ENTRIES, BACKUP_ENTRIES] {
        image[base + at..base + at + bytes.len()].copy_from_slice(bytes);
    }
    fix_crcs(image);
}

#[test]
fn fixing_crcs_of_an_untouched_image_changes_nothing() {
    let mut img = image();
    let before = img.clone();
    fix_crcs(&mut img);
    assert_eq!(img, before);
}

#[test]
fn flipped_header_crc() {
    let mut img = image();
    img[PRIMARY + 16] ^= 1;
    assert!(matches!(
        Gpt::parse_image(&img),
        Err(Error::HeaderCrc { offset: 528, .. })
    ));
    let mut img = image();
    img[BACKUP + 40] ^= 1; // first usable LBA, not covered by a fixed CRC
    let err = Gpt::parse_image(&img).unwrap_err();
    assert!(matches!(err, Error::HeaderCrc { offset, .. } if offset == 8 * MIB - 512 + 16));
    assert!(err.to_string().contains("CRC32"), "{err}");
}

#[test]
fn flipped_entry_byte() {
    let mut img = image();
    img[ENTRIES + 128 + 60] ^= 1;
    assert!(matches!(
        Gpt::parse_image(&img),
        Err(Error::EntriesCrc { offset: 600, .. })
    ));
    // The backup array alone damaged: the copies differ.
    let mut img = image();
    img[BACKUP_ENTRIES + 3] ^= 1;
    assert_eq!(
        Gpt::parse_image(&img),
        Err(Error::BackupMismatch {
            offset: u64::try_from(BACKUP_ENTRIES).unwrap(),
            field: "partition entries"
        })
    );
}

#[test]
fn overlapping_partitions() {
    let mut img = image();
    // Partition 1 (2 MiB..3 MiB) now starts inside partition 0 (1..2 MiB).
    patch_entries(&mut img, 128 + 32, &3000u64.to_le_bytes());
    let err = Gpt::parse_image(&img).unwrap_err();
    assert_eq!(
        err,
        Error::Overlap {
            offset: 1024 + 128 + 32,
            index: 1,
            other: 0
        }
    );
    assert_eq!(
        err.to_string(),
        "partition 1 (offset 1184) overlaps partition 0"
    );
}

#[test]
fn partition_past_the_end() {
    let mut img = image();
    let last_usable = u64::try_from(SIZE / 512 - 34).unwrap();
    patch_entries(&mut img, 128 + 40, &(last_usable + 1).to_le_bytes());
    assert_eq!(
        Gpt::parse_image(&img),
        Err(Error::PartitionBounds {
            offset: 1024 + 128 + 32,
            index: 1,
            first: 4096,
            last: last_usable + 1,
            first_usable: 34,
            last_usable,
        })
    );
    // Ending before it starts.
    let mut img = image();
    patch_entries(&mut img, 40, &100u64.to_le_bytes());
    assert!(matches!(
        Gpt::parse_image(&img),
        Err(Error::PartitionBounds { index: 0, .. })
    ));
}

#[test]
fn bad_name() {
    let mut img = image();
    patch_entries(&mut img, 56, &0xd800u16.to_le_bytes()); // lone surrogate
    assert_eq!(
        Gpt::parse_image(&img),
        Err(Error::NameInvalid {
            offset: 1024 + 56,
            index: 0
        })
    );
}

#[test]
fn bad_headers() {
    let mut img = image();
    img[PRIMARY] = b'X';
    assert_eq!(
        Gpt::parse_image(&img),
        Err(Error::Signature { offset: 512 })
    );

    let mut img = image();
    img[510] = 0;
    assert!(matches!(
        Gpt::parse_image(&img),
        Err(Error::ProtectiveMbr { offset: 510, .. })
    ));

    // Too many entries, CRCs fixed: refused before anything is read.
    let mut img = image();
    img[PRIMARY + 80..PRIMARY + 84].copy_from_slice(&5000u32.to_le_bytes());
    fix_crcs(&mut img);
    assert_eq!(
        Gpt::parse_image(&img),
        Err(Error::EntryCount {
            offset: 592,
            value: 5000,
            max: 1024
        })
    );

    // A disk GUID that differs between the copies.
    let mut img = image();
    img[BACKUP + 60] ^= 0xff;
    fix_crcs(&mut img);
    assert!(matches!(
        Gpt::parse_image(&img),
        Err(Error::BackupMismatch {
            field: "disk_guid",
            ..
        })
    ));

    // Primary entry array claimed to run into the usable area.
    let mut img = image();
    img[PRIMARY + 72..PRIMARY + 80].copy_from_slice(&20u64.to_le_bytes());
    fix_crcs(&mut img);
    assert!(matches!(
        Gpt::parse_image(&img),
        Err(Error::EntryArray {
            offset: 584,
            lba: 20,
            ..
        })
    ));

    // Truncated image: the primary header points past the end.
    let err = Gpt::parse_image(&image()[..SIZE - 512]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "GPT header field alternate_lba is 16383 at offset 544, expected 16382"
    );
    assert!(matches!(
        Gpt::parse_image(&image()[..SIZE - 1]),
        Err(Error::DiskSizeUnaligned { .. })
    ));
    assert!(matches!(
        Gpt::parse_image(&[0u8; 1024]),
        Err(Error::DiskTooSmall { .. })
    ));
}

#[test]
fn serialising_refuses_an_inconsistent_table() {
    let mut gpt = Gpt::parse_image(&image()).unwrap();
    gpt.partitions[1].first_lba = gpt.partitions[0].last_lba;
    assert!(matches!(
        gpt.regions(),
        Err(Error::Overlap {
            index: 1,
            other: 0,
            ..
        })
    ));
    let mut gpt = Gpt::parse_image(&image()).unwrap();
    gpt.partitions[0].name = "x".repeat(37);
    assert!(matches!(
        gpt.regions(),
        Err(Error::NameTooLong { units: 37, .. })
    ));
}
