//! `Gpt::read`: the backup copy used when the primary is damaged (UEFI 2.10
//! §5.3.2), which copy was used and why the other was refused; sgdisk as the
//! oracle of what a damaged-primary disk holds.

use std::os::unix::fs::FileExt;
use std::process::Command;

use gpt::{
    Attributes, DiskLayout, Error, Gpt, OtherCopy, PartitionSpec, ReadGpt, Size, Uuid, Which, types,
};

const MIB: u64 = 1 << 20;
const SIZE: usize = 8 << 20;
const LAST_LBA: u64 = (SIZE as u64) / 512 - 1;
/// Byte offsets in an image made by `DiskLayout` of `SIZE` bytes.
const PRIMARY: usize = 512;
const ENTRIES: usize = 1024;
const BACKUP: usize = SIZE - 512;
const BACKUP_ENTRIES: usize = SIZE - 512 - 128 * 128;

fn table() -> Gpt {
    let p = |n: u128, ty, name: &str| PartitionSpec {
        type_guid: ty,
        unique_guid: Uuid::from_u128(0x5eed_0000 + n),
        name: name.into(),
        size: Size::Bytes(MIB),
        attributes: Attributes::default().with_read_only(true),
    };
    DiskLayout::new(SIZE as u64, Uuid::from_u128(0xd15c))
        .partition(p(1, types::ESP, "esp"))
        .partition(p(2, types::ROOT_X86_64, "root-a"))
        .partition(p(3, types::ROOT_X86_64_VERITY, "verity-a"))
        .build()
        .unwrap()
}

fn image(gpt: &Gpt) -> Vec<u8> {
    let mut image = vec![0u8; SIZE];
    for r in gpt.regions().unwrap() {
        let at = usize::try_from(r.offset).unwrap();
        image[at..at + r.bytes.len()].copy_from_slice(&r.bytes);
    }
    image
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

/// Recomputes one header's CRC after an edit of its fields.
fn reseal(image: &mut [u8], header: usize) {
    image[header + 16..header + 20].fill(0);
    let crc = crc32(&image[header..header + 92]);
    image[header + 16..header + 20].copy_from_slice(&crc.to_le_bytes());
}

fn stored_crc(image: &[u8], header: usize) -> u32 {
    u32::from_le_bytes(image[header + 16..header + 20].try_into().unwrap())
}

#[test]
fn intact_copies_agree_and_the_primary_is_used() {
    let gpt = table();
    let read = Gpt::read_image(&image(&gpt)).unwrap();
    assert_eq!(
        read,
        ReadGpt {
            gpt: gpt.clone(),
            used: Which::Primary,
            other: OtherCopy::Agrees
        }
    );
    assert_eq!(read.note(), None);
    assert_eq!(read.header_lba(), 1);
}

#[test]
fn a_flipped_byte_in_the_primary_header_falls_back_to_the_backup() {
    let gpt = table();
    let mut img = image(&gpt);
    let stored = stored_crc(&img, PRIMARY);
    img[PRIMARY + 60] ^= 0x01; // inside the disk GUID
    let computed = crc32(&{
        let mut h = img[PRIMARY..PRIMARY + 92].to_vec();
        h[16..20].fill(0);
        h
    });
    // The strict parser refuses the disk ...
    assert_eq!(
        Gpt::parse_image(&img),
        Err(Error::HeaderCrc {
            offset: 528,
            stored,
            computed
        })
    );
    // ... the fallback reader takes the backup, and says why.
    let read = Gpt::read_image(&img).unwrap();
    assert_eq!(read.gpt, gpt);
    assert_eq!(read.used, Which::Backup);
    assert_eq!(read.header_lba(), LAST_LBA);
    assert_eq!(
        read.other,
        OtherCopy::Damaged(Error::HeaderCrc {
            offset: 528,
            stored,
            computed
        })
    );
    assert_eq!(
        read.note().unwrap(),
        format!(
            "primary GPT is damaged (GPT header CRC32 {stored:#010x} at offset 528, computed \
             {computed:#010x}); using the backup at LBA {LAST_LBA}"
        )
    );
}

#[test]
fn each_primary_check_sends_the_reader_to_the_backup() {
    let gpt = table();
    let entries_crc =
        u32::from_le_bytes(image(&gpt)[PRIMARY + 88..PRIMARY + 92].try_into().unwrap());
    type Damage = fn(&mut Vec<u8>);
    let cases: [(&str, Damage, Error); 6] = [
        (
            "signature",
            |i| {
                i[PRIMARY] = b'X';
            },
            Error::Signature { offset: 512 },
        ),
        (
            "my_lba",
            |i| {
                i[PRIMARY + 24] = 7;
                reseal(i, PRIMARY);
            },
            Error::HeaderField {
                offset: 536,
                field: "my_lba",
                value: 7,
                expected: 1,
            },
        ),
        (
            "entry size",
            |i| {
                i[PRIMARY + 84] = 0;
                i[PRIMARY + 85] = 1;
                reseal(i, PRIMARY);
            },
            Error::EntrySize {
                offset: 596,
                value: 256,
            },
        ),
        (
            "header size",
            |i| {
                i[PRIMARY + 12] = 91;
                reseal(i, PRIMARY);
            },
            Error::HeaderSize {
                offset: 524,
                value: 91,
            },
        ),
        (
            "entries CRC: a byte of an unused entry",
            |i| {
                i[ENTRIES + 127 * 128] = 1;
            },
            Error::EntriesCrc {
                offset: 600,
                stored: 0, // filled in below
                computed: 0,
            },
        ),
        (
            "entry array past the first usable LBA",
            |i| {
                i[PRIMARY + 72] = 3;
                reseal(i, PRIMARY);
            },
            Error::EntryArray {
                offset: 584,
                lba: 3,
                count: 128,
                min: 2,
                limit: 34,
            },
        ),
    ];
    for (what, damage, expected) in cases {
        let mut img = image(&gpt);
        damage(&mut img);
        let expected = match expected {
            Error::EntriesCrc { offset, .. } => Error::EntriesCrc {
                offset,
                stored: entries_crc,
                computed: crc32(&img[ENTRIES..ENTRIES + 128 * 128]),
            },
            e => e,
        };
        let read = Gpt::read_image(&img).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(read.gpt, gpt, "{what}");
        assert_eq!(read.used, Which::Backup, "{what}");
        assert_eq!(read.other, OtherCopy::Damaged(expected), "{what}");
    }
}

#[test]
fn a_damaged_backup_is_reported_and_the_primary_used() {
    let gpt = table();
    let mut img = image(&gpt);
    img[BACKUP_ENTRIES + 16] ^= 0x80; // the ESP's unique GUID, backup array
    let stored = u32::from_le_bytes(img[BACKUP + 88..BACKUP + 92].try_into().unwrap());
    let computed = crc32(&img[BACKUP_ENTRIES..BACKUP_ENTRIES + 128 * 128]);
    let read = Gpt::read_image(&img).unwrap();
    assert_eq!(read.gpt, gpt);
    assert_eq!(read.used, Which::Primary);
    let why = Error::EntriesCrc {
        offset: BACKUP as u64 + 88,
        stored,
        computed,
    };
    assert_eq!(read.other, OtherCopy::Damaged(why.clone()));
    assert_eq!(
        read.note().unwrap(),
        format!("backup GPT at LBA {LAST_LBA} is damaged ({why}); using the primary")
    );
}

#[test]
fn both_copies_damaged_is_an_error_naming_both() {
    let gpt = table();
    let mut img = image(&gpt);
    img[PRIMARY] = b'X';
    img[BACKUP + 24] ^= 1;
    reseal(&mut img, BACKUP);
    let err = Gpt::read_image(&img).unwrap_err();
    assert_eq!(
        err,
        Error::NoValidCopy {
            primary: Box::new(Error::Signature { offset: 512 }),
            backup_lba: LAST_LBA,
            backup: Box::new(Error::HeaderField {
                offset: BACKUP as u64 + 24,
                field: "my_lba",
                value: LAST_LBA ^ 1,
                expected: LAST_LBA,
            }),
        }
    );
    assert_eq!(
        err.to_string(),
        format!(
            "neither GPT copy is valid: primary: no \"EFI PART\" GPT header signature at offset \
             512; backup at LBA {LAST_LBA}: GPT header field my_lba is {} at offset {}, expected \
             {LAST_LBA}",
            LAST_LBA ^ 1,
            BACKUP + 24
        )
    );
}

#[test]
fn valid_copies_that_differ_give_the_primary_and_say_so() {
    let gpt = table();
    let mut other = gpt.clone();
    other.partitions[1].name = "root-b".into();
    let mut img = image(&gpt);
    let backup = image(&other);
    img[BACKUP_ENTRIES..].copy_from_slice(&backup[BACKUP_ENTRIES..]);
    let read = Gpt::read_image(&img).unwrap();
    assert_eq!(read.gpt, gpt);
    assert_eq!(read.used, Which::Primary);
    assert_eq!(
        read.other,
        OtherCopy::Differs {
            field: "partition entries"
        }
    );
    assert_eq!(
        read.note().unwrap(),
        format!(
            "the backup GPT at LBA {LAST_LBA} is valid but its partition entries differs from \
             the primary's; using the primary"
        )
    );
    // The strict parser refuses such a disk.
    assert!(matches!(
        Gpt::parse_image(&img),
        Err(Error::BackupMismatch {
            field: "entries_crc32",
            ..
        })
    ));
}

#[test]
fn no_protective_mbr_is_still_refused() {
    let mut img = image(&table());
    img[510] = 0;
    assert_eq!(
        Gpt::read_image(&img),
        Err(Error::ProtectiveMbr {
            offset: 510,
            what: "no 0x55aa boot signature"
        })
    );
}

/// sgdisk, given the same damaged primary, also rebuilds the table from the
/// backup and lists the same partitions as our reader.
#[test]
fn sgdisk_reads_the_same_table_from_the_backup() {
    let gpt = table();
    let mut img = image(&gpt);
    img[PRIMARY + 60] ^= 0x01;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.img");
    std::fs::File::create(&path)
        .unwrap()
        .write_all_at(&img, 0)
        .unwrap();
    let out = Command::new("sgdisk")
        .args(["-p", path.to_str().unwrap()])
        .output()
        .expect("sgdisk is needed (./dev test installs it)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(
            "Caution: invalid main GPT header, but valid backup; regenerating main header"
        ),
        "{text}"
    );
    assert!(
        text.contains("Main header: ERROR\nBackup header: OK"),
        "{text}"
    );
    let read = Gpt::read_image(&img).unwrap();
    assert_eq!(read.used, Which::Backup);
    // The primary's flipped byte is in the disk GUID: both show the backup's.
    let id = format!(
        "Disk identifier (GUID): {}",
        read.gpt.disk_guid.to_string().to_uppercase()
    );
    assert!(text.contains(&id), "{id:?} not in\n{text}");
    for p in &read.gpt.partitions {
        let line = format!("{:>4}{:>16}{:>16}", p.index + 1, p.first_lba, p.last_lba);
        assert!(text.contains(&line), "{line:?} not in\n{text}");
        assert!(text.contains(&p.name), "{}", p.name);
    }
}
