//! The requests `clip-init` issues to set up dm-verity, compared byte for
//! byte with buffers written out by hand from `include/uapi/linux/dm-ioctl.h`.
//!
//! Expected buffers are zero-filled and then patched at literal offsets with
//! literal little-endian bytes; nothing here uses the crate's constants, so a
//! wrong offset, size or number in the crate shows up as a mismatch. Where the
//! values come from:
//!
//! * offsets: `struct dm_ioctl` — version 0, data_size 12, data_start 16,
//!   target_count 20, flags 28, name 48, uuid 176; size 312 (0x138).
//!   `struct dm_target_spec` — sector_start 0, length 8, next 20,
//!   target_type 24; size 40.
//! * version: 4.0.0 (major 4 is required; minor 0 is accepted by every v4
//!   kernel, `check_version` in dm-ioctl.c).
//! * ioctl numbers: `_IOWR(0xfd, cmd, struct dm_ioctl)` = 0xc0000000 |
//!   312 << 16 | 0xfd << 8 | cmd, with cmd from the header's enum (VERSION 0,
//!   DEV_CREATE 3, DEV_REMOVE 4, DEV_SUSPEND 6, TABLE_LOAD 9, TABLE_STATUS 12).
//! * flags: DM_READONLY_FLAG 1 << 0, DM_STATUS_TABLE_FLAG 1 << 4.
//! * the table line: the example of verity.rst ("0 2097152 verity 1
//!   /dev/sda1 /dev/sda2 4096 4096 262144 1 sha256 4392...9076 1234...0000").

use dm::layout::flags;
use dm::request::{self, STATUS_BUFFER_SIZE};
use dm::{VerityOptions, VerityTable};

const ROOT: &str = "4392712ba01368efdf14b05c76f9e4df0d53664630b5d48632ed17a137f39076";
const SALT: &str = "1234000000000000000000000000000000000000000000000000000000000000";

/// A zeroed buffer of `len` bytes with `patches` written at their offsets.
fn expected(len: usize, patches: &[(usize, &[u8])]) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    for (at, bytes) in patches {
        buf[*at..*at + bytes.len()].copy_from_slice(bytes);
    }
    buf
}

/// version 4.0.0, data_size, data_start 312, flags, name.
fn header<'a>(data_size: &'a [u8], flags: &'a [u8], name: &'a [u8]) -> Vec<(usize, &'a [u8])> {
    vec![
        (0, &[4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        (12, data_size),
        (16, &[0x38, 0x01, 0, 0]),
        (28, flags),
        (48, name),
    ]
}

#[test]
fn version() {
    let req = request::version();
    assert_eq!(req.number, 0xc138_fd00);
    assert_eq!(
        req.buf,
        expected(312, &header(&[0x38, 0x01, 0, 0], &[0; 4], b""))
    );
}

#[test]
fn dev_create() {
    let req = request::dev_create("root", Some("CLIP-verity-root"), flags::READONLY).unwrap();
    assert_eq!(req.number, 0xc138_fd03);
    let mut patches = header(&[0x38, 0x01, 0, 0], &[1, 0, 0, 0], b"root");
    patches.push((176, b"CLIP-verity-root"));
    assert_eq!(req.buf, expected(312, &patches));
}

#[test]
fn table_load() {
    let table = VerityTable {
        data_dev: "/dev/sda1".into(),
        hash_dev: "/dev/sda2".into(),
        data_block_size: 4096,
        hash_block_size: 4096,
        num_data_blocks: 262144,
        hash_start_block: 1,
        algorithm: "sha256".into(),
        root_hash: ROOT.into(),
        salt: SALT.into(),
        options: VerityOptions::default(),
    };
    let req = request::table_load("root", &[table.target().unwrap()], flags::READONLY).unwrap();
    assert_eq!(req.number, 0xc138_fd09);
    // The params are 177 bytes ("1 /dev/sda1 /dev/sda2 4096 4096 262144 1
    // sha256 " is 48, two 64-digit hex strings and a space); with the spec
    // (40) and the NUL: 218, padded to 224 (0xe0). data_size 312 + 224 = 536
    // (0x218).
    let params = format!("1 /dev/sda1 /dev/sda2 4096 4096 262144 1 sha256 {ROOT} {SALT}");
    assert_eq!(params.len(), 177);
    let mut patches = header(&[0x18, 0x02, 0, 0], &[1, 0, 0, 0], b"root");
    patches.extend([
        // target_count 1
        (20, &[1u8, 0, 0, 0][..]),
        // spec at 312: sector_start 0, length 2097152 (0x200000) sectors
        (320, &[0, 0, 0x20, 0, 0, 0, 0, 0][..]),
        // next = 224, from this spec's start
        (332, &[0xe0, 0, 0, 0][..]),
        (336, b"verity"),
        (352, params.as_bytes()),
    ]);
    assert_eq!(req.buf, expected(536, &patches));
}

#[test]
fn resume_and_suspend() {
    let req = request::resume("root").unwrap();
    assert_eq!(req.number, 0xc138_fd06);
    assert_eq!(
        req.buf,
        expected(312, &header(&[0x38, 0x01, 0, 0], &[0; 4], b"root"))
    );
    // Suspend is the same ioctl with DM_SUSPEND_FLAG (1 << 1).
    let req = request::suspend("root").unwrap();
    assert_eq!(req.number, 0xc138_fd06);
    assert_eq!(
        req.buf,
        expected(312, &header(&[0x38, 0x01, 0, 0], &[2, 0, 0, 0], b"root"))
    );
}

#[test]
fn table_status() {
    assert_eq!(STATUS_BUFFER_SIZE, 16384);
    // 16384 = 0x4000; the kernel writes its reply into the zeroed rest.
    for (table, flag) in [(false, 0u8), (true, 0x10)] {
        let req = request::table_status("root", table, STATUS_BUFFER_SIZE).unwrap();
        assert_eq!(req.number, 0xc138_fd0c);
        assert_eq!(
            req.buf,
            expected(16384, &header(&[0, 0x40, 0, 0], &[flag, 0, 0, 0], b"root")),
            "table = {table}"
        );
    }
}

#[test]
fn dev_remove() {
    let req = request::dev_remove("root").unwrap();
    assert_eq!(req.number, 0xc138_fd04);
    assert_eq!(
        req.buf,
        expected(312, &header(&[0x38, 0x01, 0, 0], &[0; 4], b"root"))
    );
}
