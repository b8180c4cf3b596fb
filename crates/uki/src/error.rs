//! Errors of the `uki` crate: one variant per failed check, naming the input
//! and, for text inputs, the byte offset of the bad byte.

/// Which input a problem is in.
pub type InputName = &'static str;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An input that must be a PE image is not one.
    ///
    /// The messages include the `pe` error, which is therefore not also a
    /// `source()`: `anyhow`'s `{:#}` would print it twice.
    #[error("{input} is not a usable PE image: {error}")]
    Pe { input: InputName, error: pe::Error },
    #[error("{input} has a NUL byte at offset {offset}")]
    Nul { input: InputName, offset: usize },
    #[error("{input} is not valid UTF-8 (bad byte at offset {offset})")]
    Utf8 { input: InputName, offset: usize },
    #[error("{input} is empty")]
    Empty { input: InputName },
    #[error(
        ".cmdline is {len} bytes long; the kernel takes at most {max} (COMMAND_LINE_SIZE 2048 with the NUL) and would cut the rest off"
    )]
    CmdlineTooLong { len: usize, max: usize },
    #[error("uname {0:?} is not a kernel release (one line of printable ASCII, no spaces)")]
    Uname(String),
    #[error("the stub's subsystem is {0}, not 10 (EFI application)")]
    StubNotEfiApplication(u16),
    #[error("the kernel's subsystem is {0}, not 10 (EFI application): it has no EFI stub")]
    KernelNotEfiApplication(u16),
    #[error("stub machine {stub:#06x} and kernel machine {kernel:#06x} differ")]
    MachineMismatch { stub: u16, kernel: u16 },
    #[error("the stub already has a {0} section")]
    StubHasSection(String),
    #[error("the stub has no .sbat section (systemd-stub always has one)")]
    StubNoSbat,
    #[error("{input}: SBAT data must start with an \"sbat,\" line")]
    Sbat { input: InputName },
    #[error("initrd {index} is empty")]
    EmptyInitrd { index: usize },
    #[error("the initrds add up to more than 4 GiB")]
    InitrdTooLarge,
    /// Assembling the image failed (no header room, too large, ...).
    #[error("cannot add the sections to the stub: {0}")]
    Assemble(pe::Error),
}
