//! Unified Kernel Images (UAPI Group specification "Unified Kernel Image",
//! `specs/unified_kernel_image.md`): systemd-stub with the kernel, initrd,
//! command line, os-release, kernel release and SBAT data in PE sections,
//! laid out as systemd's `ukify` (v257) lays them out.
//!
//! Pure: callers pass bytes and get bytes (or a report) back.
//!
//! * [`build`] assembles an image from [`Inputs`];
//! * [`inspect`] lists the sections of an image and the text of the text
//!   sections;
//! * [`bzimage_release`] reads the kernel release from an x86 bzImage.

mod build;
mod error;
mod inspect;
mod kernel;
pub mod sbat;
mod text;

pub use build::{Inputs, MAX_CMDLINE, build, join_initrds};
pub use error::Error;
pub use inspect::{Inspection, SectionInfo, TEXT_SECTIONS, inspect};
pub use kernel::bzimage_release;
pub use text::{check_text, check_uname, normalize_cmdline};
