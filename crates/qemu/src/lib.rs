//! Boot virtual machines under QEMU with OVMF (UEFI, Secure Boot) and watch
//! their serial console.
//!
//! This is I/O orchestration, not a format crate: it finds
//! `qemu-system-x86_64` and the OVMF firmware, prepares per-run copies of the
//! firmware variables, runs QEMU and reports what the serial console showed.
//! Used by the Secure Boot tests and by `clip boot`. See docs/testing-qemu.md.
//!
//! - [`firmware`]: locating OVMF and enrolling PK/KEK/db certificates into a
//!   variable store with `virt-fw-vars` (python3-virt-firmware), cached.
//! - [`vm`]: the VM description ([`Vm`], [`VmBuilder`]);
//! - [`watch`]: [`Vm::run`], which waits for expected or refused console
//!   lines under a timeout and always stops QEMU before returning;
//! - [`tpm`]: a software TPM 2.0 (swtpm) to attach with [`VmBuilder::tpm`];
//! - `qmp`: QEMU's machine protocol, whose events tell a reboot from a
//!   power-off, so that a run can follow the guest across its reboots
//!   ([`VmBuilder::max_boots`]).

pub mod firmware;
mod qmp;
pub mod tpm;
pub mod vm;
pub mod watch;

pub use firmware::{Firmware, SecureBootKeys};
pub use tpm::Swtpm;
pub use vm::{Accel, Boot, BootEnd, Outcome, RunReport, Vm, VmBuilder};

use std::path::PathBuf;

/// Errors of this crate; each names the file or program involved. Messages
/// include the I/O error, which is therefore not also a `source()`
/// (docs/conventions.md, Errors).
#[derive(Debug, thiserror::Error)]
pub enum QemuError {
    #[error("{program} not found (install the Debian package {package})")]
    NotFound {
        program: String,
        package: &'static str,
    },
    #[error("firmware file {path} missing (install the Debian package ovmf)")]
    FirmwareMissing { path: PathBuf },
    #[error("cannot {action} {path}: {error}")]
    Io {
        action: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot start {program}: {error}")]
    Spawn {
        program: String,
        error: std::io::Error,
    },
    #[error("{program} failed ({status}): {stderr}")]
    ToolFailed {
        program: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("invalid VM configuration: {0}")]
    Config(String),
    #[error("software TPM: {0}")]
    Tpm(String),
    #[error("QMP: {0}")]
    Qmp(String),
}

pub(crate) fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(std::io::Error) -> QemuError {
    let path = path.into();
    move |error| QemuError::Io {
        action,
        path,
        error,
    }
}

/// `name` if it is a path, else the first match on `$PATH`.
pub(crate) fn which(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return p.is_file().then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}
