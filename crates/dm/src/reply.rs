//! Reading the buffer the kernel writes back (`dm-ioctl.c`: `ctl_ioctl`,
//! `retrieve_status`).
//!
//! The kernel sets `data_size` to 305 (`offsetof(struct dm_ioctl, data)`) for
//! replies without data (312 on kernels with strict parameter checks), and to
//! `data_start` + the bytes used for `DM_TABLE_STATUS`. A status reply holds
//! `target_count` target specs from `data_start` on, each followed by its
//! NUL-terminated status or table string; each `next` counts from the first
//! spec and is 8-byte aligned.

use crate::Error;
use crate::error::{ReplyError, ReplyErrorKind as Kind};
use crate::layout::{
    HEADER_SIZE, MAX_TYPE_NAME, NAME_LEN, TARGET_SPEC_SIZE, UUID_LEN, VERSION_MAJOR, decode_dev,
    flags, header, spec,
};

/// `offsetof(struct dm_ioctl, data)`: the smallest `data_size` a reply has.
const MIN_DATA_SIZE: usize = header::DATA;

/// A parsed `struct dm_ioctl` reply, borrowing the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    buf: &'a [u8],
    pub version: [u32; 3],
    pub data_size: u32,
    pub data_start: u32,
    pub target_count: u32,
    pub open_count: i32,
    pub flags: u32,
    pub event_nr: u32,
    pub dev: u64,
    pub name: &'a str,
    pub uuid: &'a str,
}

/// One target of a `DM_TABLE_STATUS` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStatus<'a> {
    /// Offset of the spec from the start of the buffer.
    pub offset: usize,
    pub sector_start: u64,
    pub length: u64,
    pub status: i32,
    pub target_type: &'a str,
    /// The status (for verity `V` or `C`, newer kernels add fields) or, with
    /// `DM_STATUS_TABLE_FLAG`, the table line.
    pub params: &'a str,
}

/// What a dm-verity target reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerityStatus {
    /// `V`: no mismatch seen so far.
    Verified,
    /// `C`: a block did not match the tree.
    Corrupted,
}

impl<'a> Reply<'a> {
    /// Checks the header: size, interface major 4, `data_size` within the
    /// buffer, NUL-terminated UTF-8 name and uuid.
    pub fn parse(buf: &'a [u8]) -> Result<Self, ReplyError> {
        if buf.len() < HEADER_SIZE {
            return Err(Kind::Truncated {
                len: buf.len(),
                need: HEADER_SIZE,
            }
            .at(buf.len()));
        }
        let version = [u32_at(buf, 0), u32_at(buf, 4), u32_at(buf, 8)];
        if version[0] != VERSION_MAJOR {
            return Err(Kind::Version(version[0], version[1], version[2]).at(header::VERSION));
        }
        let data_size = u32_at(buf, header::DATA_SIZE);
        if !(MIN_DATA_SIZE..=buf.len()).contains(&to_usize(data_size)) {
            return Err(Kind::DataSize {
                data_size,
                min: MIN_DATA_SIZE,
                max: buf.len(),
            }
            .at(header::DATA_SIZE));
        }
        Ok(Reply {
            buf,
            version,
            data_size,
            data_start: u32_at(buf, header::DATA_START),
            target_count: u32_at(buf, header::TARGET_COUNT),
            open_count: i32::from_le_bytes(array_at(buf, header::OPEN_COUNT)),
            flags: u32_at(buf, header::FLAGS),
            event_nr: u32_at(buf, header::EVENT_NR),
            dev: u64::from_le_bytes(array_at(buf, header::DEV)),
            name: c_str(buf, header::NAME, NAME_LEN, "name")?,
            uuid: c_str(buf, header::UUID, UUID_LEN, "uuid")?,
        })
    }

    /// `dev` as (major, minor).
    pub fn major_minor(&self) -> (u32, u32) {
        decode_dev(self.dev)
    }

    /// The target specs of a `DM_TABLE_STATUS` reply, each bounds-checked.
    pub fn targets(&self) -> Result<Vec<TargetStatus<'a>>, ReplyError> {
        if self.flags & flags::BUFFER_FULL != 0 {
            return Err(Kind::BufferFull.at(header::FLAGS));
        }
        if self.target_count == 0 {
            return Ok(Vec::new());
        }
        let data_size = to_usize(self.data_size);
        let start = to_usize(self.data_start);
        if !(HEADER_SIZE..=data_size).contains(&start) {
            return Err(Kind::DataStart {
                data_start: self.data_start,
                min: HEADER_SIZE,
                max: data_size,
            }
            .at(header::DATA_START));
        }
        let data = &self.buf[start..data_size];
        // Each spec takes at least 40 bytes and a NUL.
        if to_usize(self.target_count) > data.len() / (TARGET_SPEC_SIZE + 1) {
            return Err(Kind::TargetCount(self.target_count).at(header::TARGET_COUNT));
        }
        let mut targets = Vec::new();
        let mut rel = 0usize;
        for index in 0..self.target_count {
            let at = start + rel;
            let Some(s) = data.get(rel..rel + TARGET_SPEC_SIZE) else {
                return Err(Kind::SpecOutOfBounds { index }.at(at));
            };
            let target_type = c_str(
                self.buf,
                at + spec::TARGET_TYPE,
                MAX_TYPE_NAME,
                "target_type",
            )?;
            let params_at = rel + TARGET_SPEC_SIZE;
            let params =
                c_str(data, params_at, data.len() - params_at, "target params").map_err(|e| {
                    ReplyError {
                        offset: e.offset + start,
                        ..e
                    }
                })?;
            targets.push(TargetStatus {
                offset: at,
                sector_start: u64::from_le_bytes(array_at(s, spec::SECTOR_START)),
                length: u64::from_le_bytes(array_at(s, spec::LENGTH)),
                status: i32::from_le_bytes(array_at(s, spec::STATUS)),
                target_type,
                params,
            });
            if index + 1 < self.target_count {
                let next = u32_at(s, spec::NEXT);
                let end = params_at + params.len() + 1;
                if to_usize(next) < end {
                    return Err(Kind::SpecNext { index, next, end }.at(at + spec::NEXT));
                }
                if next % 8 != 0 {
                    return Err(Kind::SpecAlignment { index, next }.at(at + spec::NEXT));
                }
                rel = to_usize(next);
            }
        }
        Ok(targets)
    }
}

/// Reads a `DM_TABLE_STATUS` reply (without `DM_STATUS_TABLE_FLAG`) for a
/// dm-verity device: active, resumed, read-only, one `verity` target, whose
/// status starts with `V` (verified) or `C` (corruption detected).
pub fn verity_status(reply: &[u8]) -> Result<VerityStatus, Error> {
    let reply = Reply::parse(reply)?;
    let flag_error = |kind: Kind| Error::Reply(kind.at(header::FLAGS));
    if reply.flags & flags::ACTIVE_PRESENT == 0 {
        return Err(flag_error(Kind::NoActiveTable));
    }
    if reply.flags & flags::SUSPEND != 0 {
        return Err(flag_error(Kind::Suspended));
    }
    if reply.flags & flags::READONLY == 0 {
        return Err(flag_error(Kind::Writable));
    }
    let targets = reply.targets()?;
    let [target] = targets.as_slice() else {
        return Err(Kind::TargetCountNotOne(reply.target_count)
            .at(header::TARGET_COUNT)
            .into());
    };
    if target.target_type != "verity" {
        return Err(Kind::NotVerity(target.target_type.into())
            .at(target.offset + spec::TARGET_TYPE)
            .into());
    }
    // "V" on older kernels, "V -" or "V <corrected>" once FEC counts were added.
    match target.params.split(' ').next() {
        Some("V") => Ok(VerityStatus::Verified),
        Some("C") => Ok(VerityStatus::Corrupted),
        _ => Err(Kind::VerityStatus(target.params.into())
            .at(target.offset + TARGET_SPEC_SIZE)
            .into()),
    }
}

/// The NUL-terminated UTF-8 string in `buf[at..at + max]`.
fn c_str<'a>(
    buf: &'a [u8],
    at: usize,
    max: usize,
    field: &'static str,
) -> Result<&'a str, ReplyError> {
    let area = &buf[at..at + max];
    let Some(len) = area.iter().position(|&b| b == 0) else {
        return Err(Kind::Unterminated { field }.at(at));
    };
    std::str::from_utf8(&area[..len]).map_err(|e| Kind::NotUtf8 { field }.at(at + e.valid_up_to()))
}

fn array_at<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    buf[at..at + N].try_into().expect("caller checked bounds")
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(array_at(buf, at))
}

/// u32 to usize: lossless on the 32- and 64-bit targets Rust's std supports
/// for Linux; saturates otherwise (and the bounds checks then fail).
fn to_usize(v: u32) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}
