//! Telling the kernel about a partition it did not find itself:
//! `ioctl(disk, BLKPG, {BLKPG_ADD_PARTITION, ...})` (`include/uapi/linux/blkpg.h`;
//! the call `partx --add` and `addpart(8)` make). clip-init uses it when it
//! read a disk's GPT from the backup copy: Linux's own GPT scan uses the
//! backup only when the primary is valid (or `gpt` is on the command line),
//! so a disk with a damaged primary header has no partition devices.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// `_IO(0x12, 105)`.
const BLKPG: libc::Ioctl = 0x1269;
const BLKPG_ADD_PARTITION: libc::c_int = 1;

/// `struct blkpg_partition`.
#[repr(C)]
struct BlkpgPartition {
    /// Byte offset on the disk.
    start: libc::c_longlong,
    /// Bytes.
    length: libc::c_longlong,
    /// Partition number (`vda2` is 2).
    pno: libc::c_int,
    /// Unused by the kernel.
    devname: [libc::c_char; 64],
    volname: [libc::c_char; 64],
}

/// `struct blkpg_ioctl_arg`.
#[repr(C)]
struct BlkpgIoctlArg {
    op: libc::c_int,
    flags: libc::c_int,
    datalen: libc::c_int,
    data: *mut libc::c_void,
}

/// Adds partition `number` (1-based) of `length` bytes at byte `start` of
/// the whole disk open as `disk`. Needs `CAP_SYS_ADMIN`; the kernel refuses
/// (`EBUSY`) a number in use or a range overlapping another partition.
pub fn add_partition(disk: &File, number: u32, start: u64, length: u64) -> io::Result<()> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_owned());
    let mut part = BlkpgPartition {
        start: libc::c_longlong::try_from(start).map_err(|_| invalid("start beyond 2^63"))?,
        length: libc::c_longlong::try_from(length).map_err(|_| invalid("length beyond 2^63"))?,
        pno: libc::c_int::try_from(number).map_err(|_| invalid("partition number beyond 2^31"))?,
        devname: [0; 64],
        volname: [0; 64],
    };
    let mut arg = BlkpgIoctlArg {
        op: BLKPG_ADD_PARTITION,
        flags: 0,
        datalen: libc::c_int::try_from(std::mem::size_of::<BlkpgPartition>())
            .map_err(|_| invalid("struct size"))?,
        data: std::ptr::addr_of_mut!(part).cast(),
    };
    // SAFETY: `arg` and the `part` it points to are live, initialised
    // `repr(C)` values laid out as `struct blkpg_ioctl_arg` and `struct
    // blkpg_partition`, exclusively borrowed for the call; `datalen` is the
    // size of `part`, the bound the kernel copies from. The fd is open for
    // the whole call.
    let rc = unsafe { libc::ioctl(disk.as_raw_fd(), BLKPG, std::ptr::addr_of_mut!(arg)) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structs_have_the_kernels_layout() {
        // x86-64: blkpg_partition is 8 + 8 + 4 + 64 + 64 bytes, padded to 8.
        assert_eq!(std::mem::size_of::<BlkpgPartition>(), 152);
        assert_eq!(std::mem::size_of::<BlkpgIoctlArg>(), 24);
    }

    #[test]
    fn a_regular_file_is_refused_by_the_kernel() {
        let f = File::open("/proc/self/exe").unwrap();
        let e = add_partition(&f, 1, 0, 512).unwrap_err();
        // ENOTTY: not a block device.
        assert_eq!(e.raw_os_error(), Some(libc::ENOTTY), "{e}");
    }
}
