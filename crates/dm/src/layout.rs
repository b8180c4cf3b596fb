//! Layout of `struct dm_ioctl` and `struct dm_target_spec`, the ioctl numbers
//! and the flags, from `include/uapi/linux/dm-ioctl.h` (interface 4).
//!
//! ```text
//! struct dm_ioctl {                 offset  size
//!     __u32 version[3];                  0    12   in/out: major, minor, patch
//!     __u32 data_size;                  12     4   whole buffer, this struct included
//!     __u32 data_start;                 16     4   payload offset from the struct start
//!     __u32 target_count;               20     4   in/out
//!     __s32 open_count;                 24     4   out
//!     __u32 flags;                      28     4   in/out, DM_*_FLAG
//!     __u32 event_nr;                   32     4   in/out (udev cookie on input)
//!     __u32 padding;                    36     4
//!     __u64 dev;                        40     8   in/out, new_encode_dev(major, minor)
//!     char  name[DM_NAME_LEN];          48   128   NUL-terminated
//!     char  uuid[DM_UUID_LEN];         176   129   NUL-terminated
//!     char  data[7];                   305     7   padding up to the 8-byte alignment
//! };                                   size 312
//!
//! struct dm_target_spec {
//!     __u64 sector_start;                0     8
//!     __u64 length;                      8     8   in 512-byte sectors
//!     __s32 status;                     16     4   out only
//!     __u32 next;                       20     4   see below
//!     char  target_type[16];            24    16   NUL-terminated
//! };                                   size 40, followed by the NUL-terminated
//!                                      parameter string, padded to 8 bytes
//! ```
//!
//! `next` differs by direction: in a `DM_TABLE_LOAD` request it counts from
//! the start of the current spec; in a `DM_TABLE_STATUS` reply, from the start
//! of the first spec (`data_start`).

/// `sizeof(struct dm_ioctl)`.
pub const HEADER_SIZE: usize = 312;
/// `sizeof(struct dm_target_spec)`.
pub const TARGET_SPEC_SIZE: usize = 40;
/// `DM_NAME_LEN`: the name field, terminating NUL included.
pub const NAME_LEN: usize = 128;
/// `DM_UUID_LEN`: the uuid field, terminating NUL included.
pub const UUID_LEN: usize = 129;
/// `DM_MAX_TYPE_NAME`: the target type field, terminating NUL included.
pub const MAX_TYPE_NAME: usize = 16;

/// Field offsets in `struct dm_ioctl`.
pub mod header {
    pub const VERSION: usize = 0;
    pub const DATA_SIZE: usize = 12;
    pub const DATA_START: usize = 16;
    pub const TARGET_COUNT: usize = 20;
    pub const OPEN_COUNT: usize = 24;
    pub const FLAGS: usize = 28;
    pub const EVENT_NR: usize = 32;
    pub const PADDING: usize = 36;
    pub const DEV: usize = 40;
    pub const NAME: usize = 48;
    pub const UUID: usize = 176;
    pub const DATA: usize = 305;
}

/// Field offsets in `struct dm_target_spec`.
pub mod spec {
    pub const SECTOR_START: usize = 0;
    pub const LENGTH: usize = 8;
    pub const STATUS: usize = 16;
    pub const NEXT: usize = 20;
    pub const TARGET_TYPE: usize = 24;
}

/// `DM_VERSION_MAJOR`. The kernel refuses any other major, and any minor
/// above its own; requests send minor 0 so that every v4 kernel takes them.
pub const VERSION_MAJOR: u32 = 4;
/// The version requests carry: 4.0.0.
pub const REQUEST_VERSION: [u32; 3] = [VERSION_MAJOR, 0, 0];

/// `DM_IOCTL`, the ioctl type byte.
pub const DM_IOCTL: u32 = 0xfd;

/// Command numbers (the enum in dm-ioctl.h, in order).
pub mod cmd {
    pub const VERSION: u32 = 0;
    pub const REMOVE_ALL: u32 = 1;
    pub const LIST_DEVICES: u32 = 2;
    pub const DEV_CREATE: u32 = 3;
    pub const DEV_REMOVE: u32 = 4;
    pub const DEV_RENAME: u32 = 5;
    pub const DEV_SUSPEND: u32 = 6;
    pub const DEV_STATUS: u32 = 7;
    pub const DEV_WAIT: u32 = 8;
    pub const TABLE_LOAD: u32 = 9;
    pub const TABLE_CLEAR: u32 = 10;
    pub const TABLE_DEPS: u32 = 11;
    pub const TABLE_STATUS: u32 = 12;
    pub const LIST_VERSIONS: u32 = 13;
    pub const TARGET_MSG: u32 = 14;
    pub const DEV_SET_GEOMETRY: u32 = 15;
}

/// `_IOWR(type, nr, size)` as `include/uapi/asm-generic/ioctl.h` encodes it:
/// direction (read|write = 3) in bits 30-31, size in bits 16-29, type in
/// bits 8-15, number in bits 0-7. (powerpc, mips and sparc use 3 direction
/// bits at 29 and 13 size bits, which gives the same value for read|write
/// and a 312-byte struct.)
pub const fn iowr(ty: u32, nr: u32, size: u32) -> u32 {
    const IOC_READ_WRITE: u32 = 3;
    (IOC_READ_WRITE << 30) | ((size & 0x3fff) << 16) | ((ty & 0xff) << 8) | (nr & 0xff)
}

// 312 fits in the 14-bit size field; the cast cannot truncate.
#[allow(clippy::cast_possible_truncation)]
const HEADER_SIZE_U32: u32 = HEADER_SIZE as u32;
const _: () = assert!(HEADER_SIZE < 1 << 14);

const fn dm_iowr(nr: u32) -> u32 {
    iowr(DM_IOCTL, nr, HEADER_SIZE_U32)
}

pub const DM_VERSION: u32 = dm_iowr(cmd::VERSION);
pub const DM_REMOVE_ALL: u32 = dm_iowr(cmd::REMOVE_ALL);
pub const DM_LIST_DEVICES: u32 = dm_iowr(cmd::LIST_DEVICES);
pub const DM_DEV_CREATE: u32 = dm_iowr(cmd::DEV_CREATE);
pub const DM_DEV_REMOVE: u32 = dm_iowr(cmd::DEV_REMOVE);
pub const DM_DEV_RENAME: u32 = dm_iowr(cmd::DEV_RENAME);
pub const DM_DEV_SUSPEND: u32 = dm_iowr(cmd::DEV_SUSPEND);
pub const DM_DEV_STATUS: u32 = dm_iowr(cmd::DEV_STATUS);
pub const DM_DEV_WAIT: u32 = dm_iowr(cmd::DEV_WAIT);
pub const DM_TABLE_LOAD: u32 = dm_iowr(cmd::TABLE_LOAD);
pub const DM_TABLE_CLEAR: u32 = dm_iowr(cmd::TABLE_CLEAR);
pub const DM_TABLE_DEPS: u32 = dm_iowr(cmd::TABLE_DEPS);
pub const DM_TABLE_STATUS: u32 = dm_iowr(cmd::TABLE_STATUS);
pub const DM_LIST_VERSIONS: u32 = dm_iowr(cmd::LIST_VERSIONS);
pub const DM_TARGET_MSG: u32 = dm_iowr(cmd::TARGET_MSG);
pub const DM_DEV_SET_GEOMETRY: u32 = dm_iowr(cmd::DEV_SET_GEOMETRY);

/// Flags (`DM_*_FLAG`).
pub mod flags {
    /// In/out: the table (and so the device) is read-only. dm-verity refuses
    /// a table loaded without it ("Device must be readonly").
    pub const READONLY: u32 = 1 << 0;
    /// In/out: suspend (in), the device is suspended (out).
    pub const SUSPEND: u32 = 1 << 1;
    /// In: create with the device number in `dev`.
    pub const PERSISTENT_DEV: u32 = 1 << 3;
    /// In: `DM_TABLE_STATUS` returns the table lines instead of the status.
    pub const STATUS_TABLE: u32 = 1 << 4;
    /// Out: the device has an active table.
    pub const ACTIVE_PRESENT: u32 = 1 << 5;
    /// Out: the device has an inactive (loaded, not yet resumed) table.
    pub const INACTIVE_PRESENT: u32 = 1 << 6;
    /// Out: the buffer was too small for the reply; retry with a bigger one.
    pub const BUFFER_FULL: u32 = 1 << 8;
    /// In: do not freeze filesystems when suspending.
    pub const SKIP_LOCKFS: u32 = 1 << 10;
    /// In: suspend without flushing queued I/O.
    pub const NOFLUSH: u32 = 1 << 11;
    /// In: report on the inactive table.
    pub const QUERY_INACTIVE_TABLE: u32 = 1 << 12;
    /// Out: a uevent was generated.
    pub const UEVENT_GENERATED: u32 = 1 << 13;
    /// In: rename sets the uuid.
    pub const UUID: u32 = 1 << 14;
    /// In: wipe kernel buffers after use.
    pub const SECURE_DATA: u32 = 1 << 15;
    /// Out: the reply carries data (`DM_TARGET_MSG`).
    pub const DATA_OUT: u32 = 1 << 16;
}

/// Splits `dm_ioctl.dev` (the kernel's `huge_encode_dev`, i.e.
/// `new_encode_dev`: minor bits 0-7 and 20-31, major bits 8-19) into
/// (major, minor).
pub fn decode_dev(dev: u64) -> (u32, u32) {
    let low = dev & 0xffff_ffff;
    let major = (low & 0xfff00) >> 8;
    let minor = (low & 0xff) | ((low >> 12) & 0xfff00);
    // Both are masked to at most 20 bits.
    (
        u32::try_from(major).unwrap_or(u32::MAX),
        u32::try_from(minor).unwrap_or(u32::MAX),
    )
}

/// The inverse of [`decode_dev`] (`new_encode_dev`): major up to 12 bits,
/// minor up to 20 bits; higher bits are dropped as the kernel drops them.
pub fn encode_dev(major: u32, minor: u32) -> u64 {
    let major = u64::from(major & 0xfff);
    let minor = u64::from(minor & 0xf_ffff);
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_offsets_follow_c_layout() {
        // Each field starts where the previous one ends (plus alignment):
        // recomputed here from the sizes in dm-ioctl.h.
        let mut at = 0usize;
        let mut field = |size: usize, align: usize| {
            at = at.next_multiple_of(align);
            let start = at;
            at += size;
            start
        };
        assert_eq!(field(12, 4), header::VERSION);
        assert_eq!(field(4, 4), header::DATA_SIZE);
        assert_eq!(field(4, 4), header::DATA_START);
        assert_eq!(field(4, 4), header::TARGET_COUNT);
        assert_eq!(field(4, 4), header::OPEN_COUNT);
        assert_eq!(field(4, 4), header::FLAGS);
        assert_eq!(field(4, 4), header::EVENT_NR);
        assert_eq!(field(4, 4), header::PADDING);
        assert_eq!(field(8, 8), header::DEV);
        assert_eq!(field(NAME_LEN, 1), header::NAME);
        assert_eq!(field(UUID_LEN, 1), header::UUID);
        assert_eq!(field(7, 1), header::DATA);
        // The struct's alignment is that of __u64.
        assert_eq!(at.next_multiple_of(8), HEADER_SIZE);
        assert_eq!(HEADER_SIZE, 312);
    }

    #[test]
    fn target_spec_offsets_follow_c_layout() {
        assert_eq!(spec::SECTOR_START, 0);
        assert_eq!(spec::LENGTH, 8);
        assert_eq!(spec::STATUS, 16);
        assert_eq!(spec::NEXT, 20);
        assert_eq!(spec::TARGET_TYPE, 24);
        assert_eq!(spec::TARGET_TYPE + MAX_TYPE_NAME, TARGET_SPEC_SIZE);
        assert_eq!(TARGET_SPEC_SIZE, 40);
    }

    #[test]
    fn ioctl_numbers() {
        // 0xc0000000 (read|write) | 312 << 16 (0x01380000) | 0xfd << 8 | cmd.
        assert_eq!(DM_VERSION, 0xc138_fd00);
        assert_eq!(DM_LIST_DEVICES, 0xc138_fd02);
        assert_eq!(DM_DEV_CREATE, 0xc138_fd03);
        assert_eq!(DM_DEV_REMOVE, 0xc138_fd04);
        assert_eq!(DM_DEV_SUSPEND, 0xc138_fd06);
        assert_eq!(DM_DEV_STATUS, 0xc138_fd07);
        assert_eq!(DM_TABLE_LOAD, 0xc138_fd09);
        assert_eq!(DM_TABLE_STATUS, 0xc138_fd0c);
        assert_eq!(DM_LIST_VERSIONS, 0xc138_fd0d);
        assert_eq!(DM_DEV_SET_GEOMETRY, 0xc138_fd0f);
    }

    #[test]
    fn dev_numbers() {
        // 253:0 is the usual first device-mapper device.
        assert_eq!(encode_dev(253, 0), 0xfd00);
        assert_eq!(decode_dev(0xfd00), (253, 0));
        // Minors from 256 on move to bits 20-31.
        assert_eq!(encode_dev(253, 0x12345), 0x1230_fd45);
        assert_eq!(decode_dev(0x1230_fd45), (253, 0x12345));
        assert_eq!(decode_dev(encode_dev(0xfff, 0xf_ffff)), (0xfff, 0xf_ffff));
    }
}
