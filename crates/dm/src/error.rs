/// Everything that can go wrong building a request or reading a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("device name {name:?} {problem}")]
    Name { name: String, problem: &'static str },
    #[error("device uuid {uuid:?} {problem}")]
    Uuid { uuid: String, problem: &'static str },
    #[error("target type {0:?} must be 1 to 15 bytes, without NUL")]
    TargetType(String),
    #[error("target parameters {0:?} contain a NUL byte")]
    TargetParams(String),
    #[error("a table needs at least one target")]
    NoTargets,
    #[error("request of {0} bytes is larger than dm_ioctl.data_size can describe")]
    TooLarge(usize),
    #[error("reply buffer of {got} bytes is too small: at least {min} needed")]
    BufferSize { got: usize, min: usize },
    #[error("{target} table: {field} {value:?} {problem}")]
    Table {
        target: &'static str,
        field: &'static str,
        value: String,
        problem: &'static str,
    },
    #[error(transparent)]
    Reply(#[from] ReplyError),
}

/// A reply buffer that cannot be used, with the byte offset (from the start
/// of the `struct dm_ioctl`) of the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid device-mapper reply at byte {offset}: {kind}")]
pub struct ReplyError {
    pub kind: ReplyErrorKind,
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyErrorKind {
    #[error("buffer is {len} bytes, shorter than the {need}-byte dm_ioctl")]
    Truncated { len: usize, need: usize },
    #[error("interface version {0}.{1}.{2}, expected major 4")]
    Version(u32, u32, u32),
    #[error("data_size {data_size} is outside {min}..={max}")]
    DataSize {
        data_size: u32,
        min: usize,
        max: usize,
    },
    #[error("data_start {data_start} is outside {min}..={max}")]
    DataStart {
        data_start: u32,
        min: usize,
        max: usize,
    },
    #[error("{field} has no terminating NUL")]
    Unterminated { field: &'static str },
    #[error("{field} is not UTF-8")]
    NotUtf8 { field: &'static str },
    #[error(
        "the kernel set DM_BUFFER_FULL_FLAG: the reply did not fit, retry with a larger buffer"
    )]
    BufferFull,
    #[error("target spec {index} does not fit in the data area")]
    SpecOutOfBounds { index: u32 },
    #[error(
        "target spec {index}: next offset {next} does not move past the previous spec's end {end}"
    )]
    SpecNext { index: u32, next: u32, end: usize },
    #[error("target spec {index}: next offset {next} is not 8-byte aligned")]
    SpecAlignment { index: u32, next: u32 },
    #[error("target_count {0} is larger than the data area can hold")]
    TargetCount(u32),
    #[error("the device has no active table (DM_ACTIVE_PRESENT_FLAG clear)")]
    NoActiveTable,
    #[error("the device is suspended (DM_SUSPEND_FLAG set)")]
    Suspended,
    #[error("the device is writable (DM_READONLY_FLAG clear)")]
    Writable,
    #[error("expected exactly one target, the reply has {0}")]
    TargetCountNotOne(u32),
    #[error("target type is {0:?}, expected \"verity\"")]
    NotVerity(String),
    #[error("verity status {0:?} is neither V (verified) nor C (corruption detected)")]
    VerityStatus(String),
}

impl ReplyErrorKind {
    pub(crate) fn at(self, offset: usize) -> ReplyError {
        ReplyError { kind: self, offset }
    }
}
