//! Request buffers, one builder per ioctl a dm-verity setup issues.
//!
//! Every buffer starts with a `struct dm_ioctl` (see [`crate::layout`]):
//! version 4.0.0, `data_start` = 312 (the payload follows the header, which
//! is already 8-byte aligned), `data_size` = the whole buffer. Devices are
//! named by `name`; `uuid` is only set at creation (the kernel looks a device
//! up by uuid when one is given, so later requests leave it empty).

use crate::Error;
use crate::layout::{
    self, HEADER_SIZE, MAX_TYPE_NAME, NAME_LEN, REQUEST_VERSION, TARGET_SPEC_SIZE, UUID_LEN, flags,
    header, spec,
};

/// Buffer size [`table_status`] callers should start with; on
/// [`crate::ReplyErrorKind::BufferFull`] retry with a larger one.
pub const STATUS_BUFFER_SIZE: usize = 16 * 1024;

/// One ioctl to issue on `/dev/mapper/control`: `ioctl(fd, number, buf)`.
/// The kernel writes its reply into `buf`; read it with [`crate::Reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The ioctl request number, e.g. [`layout::DM_TABLE_LOAD`].
    pub number: u32,
    pub buf: Vec<u8>,
}

/// One line of a table: `<sector_start> <length> <target_type> <params>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// First sector (512 bytes) of the mapped device this target covers.
    pub sector_start: u64,
    /// Sectors covered.
    pub length: u64,
    /// e.g. `verity`.
    pub target_type: String,
    pub params: String,
}

/// `DM_VERSION`: asks for the kernel's interface version (reply: `version`).
pub fn version() -> Request {
    header_only(layout::DM_VERSION, "", None, 0).expect("no name to check")
}

/// `DM_DEV_CREATE`: a new device with no table, suspended. `flags` may hold
/// [`flags::READONLY`]; the table's own read-only flag is the one dm-verity
/// checks (see [`table_load`]).
pub fn dev_create(name: &str, uuid: Option<&str>, flags: u32) -> Result<Request, Error> {
    check_name(name)?;
    if let Some(uuid) = uuid {
        check_uuid(uuid)?;
    }
    header_only(layout::DM_DEV_CREATE, name, uuid, flags)
}

/// `DM_TABLE_LOAD`: loads `targets` into the device's inactive slot. dm-verity
/// needs `flags` to include [`flags::READONLY`].
pub fn table_load(name: &str, targets: &[Target], flags: u32) -> Result<Request, Error> {
    check_name(name)?;
    if targets.is_empty() {
        return Err(Error::NoTargets);
    }
    let mut buf = header_only(layout::DM_TABLE_LOAD, name, None, flags)?.buf;
    for target in targets {
        let ty = target.target_type.as_bytes();
        if ty.is_empty() || ty.len() >= MAX_TYPE_NAME || ty.contains(&0) {
            return Err(Error::TargetType(target.target_type.clone()));
        }
        if target.params.as_bytes().contains(&0) {
            return Err(Error::TargetParams(target.params.clone()));
        }
        // Spec, parameters, their NUL, zero padding to the next 8 bytes.
        let len = (TARGET_SPEC_SIZE + target.params.len() + 1).next_multiple_of(8);
        // In a load request `next` counts from the start of this spec.
        let next = u32::try_from(len).map_err(|_| Error::TooLarge(len))?;
        let start = buf.len();
        buf.resize(start + len, 0);
        let s = &mut buf[start..];
        put_u64(s, spec::SECTOR_START, target.sector_start);
        put_u64(s, spec::LENGTH, target.length);
        put_u32(s, spec::NEXT, next);
        s[spec::TARGET_TYPE..][..ty.len()].copy_from_slice(ty);
        s[TARGET_SPEC_SIZE..][..target.params.len()].copy_from_slice(target.params.as_bytes());
    }
    let count = u32::try_from(targets.len()).map_err(|_| Error::TooLarge(buf.len()))?;
    put_u32(&mut buf, header::TARGET_COUNT, count);
    set_data_size(&mut buf)?;
    Ok(Request {
        number: layout::DM_TABLE_LOAD,
        buf,
    })
}

/// `DM_DEV_SUSPEND` without [`flags::SUSPEND`]: resume, which swaps the
/// loaded table in and makes the device usable.
pub fn resume(name: &str) -> Result<Request, Error> {
    check_name(name)?;
    header_only(layout::DM_DEV_SUSPEND, name, None, 0)
}

/// `DM_DEV_SUSPEND` with [`flags::SUSPEND`].
pub fn suspend(name: &str) -> Result<Request, Error> {
    check_name(name)?;
    header_only(layout::DM_DEV_SUSPEND, name, None, flags::SUSPEND)
}

/// `DM_TABLE_STATUS` for the active table: each target's status (`table` =
/// false: for verity `V` or `C`) or its table line (`table` = true,
/// [`flags::STATUS_TABLE`]). `capacity` is the whole buffer the kernel may
/// fill, e.g. [`STATUS_BUFFER_SIZE`].
pub fn table_status(name: &str, table: bool, capacity: usize) -> Result<Request, Error> {
    check_name(name)?;
    let min = HEADER_SIZE + TARGET_SPEC_SIZE + 8;
    if capacity < min {
        return Err(Error::BufferSize { got: capacity, min });
    }
    let flags = if table { flags::STATUS_TABLE } else { 0 };
    let mut buf = header_only(layout::DM_TABLE_STATUS, name, None, flags)?.buf;
    buf.resize(capacity, 0);
    set_data_size(&mut buf)?;
    Ok(Request {
        number: layout::DM_TABLE_STATUS,
        buf,
    })
}

/// `DM_DEV_REMOVE`: removes the device and its tables.
pub fn dev_remove(name: &str) -> Result<Request, Error> {
    check_name(name)?;
    header_only(layout::DM_DEV_REMOVE, name, None, 0)
}

/// A bare `struct dm_ioctl`; `name` and `uuid` must have been checked.
fn header_only(number: u32, name: &str, uuid: Option<&str>, flags: u32) -> Result<Request, Error> {
    let mut buf = vec![0; HEADER_SIZE];
    for (i, v) in REQUEST_VERSION.iter().enumerate() {
        put_u32(&mut buf, header::VERSION + 4 * i, *v);
    }
    put_u32(&mut buf, header::DATA_START, HEADER_SIZE_U32);
    put_u32(&mut buf, header::FLAGS, flags);
    buf[header::NAME..][..name.len()].copy_from_slice(name.as_bytes());
    if let Some(uuid) = uuid {
        buf[header::UUID..][..uuid.len()].copy_from_slice(uuid.as_bytes());
    }
    set_data_size(&mut buf)?;
    Ok(Request { number, buf })
}

const HEADER_SIZE_U32: u32 = 312;
const _: () = assert!(HEADER_SIZE_U32 as usize == HEADER_SIZE);

fn set_data_size(buf: &mut [u8]) -> Result<(), Error> {
    let size = u32::try_from(buf.len()).map_err(|_| Error::TooLarge(buf.len()))?;
    put_u32(buf, header::DATA_SIZE, size);
    Ok(())
}

/// Names as the kernel accepts them (`dm-ioctl.c`: `check_name`,
/// `invalid_str`): 1 to 127 bytes, no `/`, no NUL, not `.` or `..`.
fn check_name(name: &str) -> Result<(), Error> {
    let problem = if name.is_empty() {
        "is empty"
    } else if name.len() >= NAME_LEN {
        "is longer than 127 bytes"
    } else if name.contains('/') {
        "contains '/'"
    } else if name.contains('\0') {
        "contains a NUL byte"
    } else if name == "." || name == ".." {
        "is reserved"
    } else {
        return Ok(());
    };
    Err(Error::Name {
        name: name.to_owned(),
        problem,
    })
}

/// UUIDs: up to 128 bytes, no NUL (an empty one means none).
fn check_uuid(uuid: &str) -> Result<(), Error> {
    let problem = if uuid.len() >= UUID_LEN {
        "is longer than 128 bytes"
    } else if uuid.contains('\0') {
        "contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(Error::Uuid {
        uuid: uuid.to_owned(),
        problem,
    })
}

fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(buf: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(buf[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn names_are_checked() {
        for bad in ["", ".", "..", "a/b", "a\0b", &"x".repeat(128)] {
            assert!(
                matches!(dev_create(bad, None, 0), Err(Error::Name { .. })),
                "{bad:?}"
            );
            assert!(matches!(resume(bad), Err(Error::Name { .. })), "{bad:?}");
        }
        let longest = "x".repeat(127);
        let req = dev_create(&longest, None, 0).unwrap();
        assert_eq!(
            &req.buf[header::NAME..][..128],
            format!("{longest}\0").as_bytes()
        );
    }

    #[test]
    fn uuids_are_checked() {
        assert!(matches!(
            dev_create("a", Some(&"u".repeat(129)), 0),
            Err(Error::Uuid { .. })
        ));
        assert!(matches!(
            dev_create("a", Some("u\0"), 0),
            Err(Error::Uuid { .. })
        ));
        let longest = "u".repeat(128);
        let req = dev_create("a", Some(&longest), 0).unwrap();
        assert_eq!(&req.buf[header::UUID..][..128], longest.as_bytes());
        assert_eq!(req.buf[header::UUID + 128], 0);
    }

    #[test]
    fn table_load_rejects_bad_targets() {
        let t = |ty: &str, params: &str| Target {
            sector_start: 0,
            length: 8,
            target_type: ty.into(),
            params: params.into(),
        };
        assert_eq!(table_load("a", &[], 0), Err(Error::NoTargets));
        for ty in ["", "sixteen-bytes-xx", "a\0"] {
            assert!(matches!(
                table_load("a", &[t(ty, "")], 0),
                Err(Error::TargetType(_))
            ));
        }
        assert!(matches!(
            table_load("a", &[t("zero", "x\0")], 0),
            Err(Error::TargetParams(_))
        ));
    }

    #[test]
    fn table_load_chains_specs_relative_to_each_spec() {
        let targets = [
            Target {
                sector_start: 0,
                length: 8,
                target_type: "zero".into(),
                params: String::new(),
            },
            Target {
                sector_start: 8,
                length: 8,
                target_type: "error".into(),
                params: "1234567".into(),
            },
        ];
        let req = table_load("a", &targets, 0).unwrap();
        assert_eq!(u32_at(&req.buf, header::TARGET_COUNT), 2);
        // Spec 0: 40 + "" + NUL = 41 -> 48. Spec 1: 40 + 7 + NUL = 48.
        assert_eq!(u32_at(&req.buf, HEADER_SIZE + spec::NEXT), 48);
        assert_eq!(u32_at(&req.buf, HEADER_SIZE + 48 + spec::NEXT), 48);
        assert_eq!(req.buf.len(), HEADER_SIZE + 96);
        assert_eq!(u32_at(&req.buf, header::DATA_SIZE), 408);
    }

    #[test]
    fn table_status_capacity() {
        assert!(matches!(
            table_status("a", false, 359),
            Err(Error::BufferSize { got: 359, .. })
        ));
        let req = table_status("a", true, STATUS_BUFFER_SIZE).unwrap();
        assert_eq!(req.buf.len(), STATUS_BUFFER_SIZE);
        assert_eq!(u32_at(&req.buf, header::DATA_SIZE), 16384);
        assert_eq!(u32_at(&req.buf, header::FLAGS), flags::STATUS_TABLE);
    }
}
