//! The crate's error type: each variant names the failed step. Messages
//! include the I/O error, which is therefore not also a `source()`
//! (docs/conventions.md, Errors).

use std::path::PathBuf;

/// Why a root tree or its EROFS image could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// mmdebstrap (root mode), chroot and ownership changes need root.
    #[error("building a root tree needs root (running as uid {uid})")]
    NotRoot { uid: u32 },
    /// The tree is built natively (the configuration runs the tree's own
    /// `systemctl` in a chroot), so foreign architectures are refused.
    #[error("debian.architecture {product:?} cannot be built on this {host} host")]
    Architecture { product: String, host: String },
    /// A helper program could not be started (usually: not installed).
    #[error("{step}: cannot run {program} (is it installed? ./dev installs it): {error}")]
    Spawn {
        step: &'static str,
        program: String,
        error: std::io::Error,
    },
    /// A helper program ran and failed.
    #[error("{step}: `{command}` failed ({status}); last lines of its output:\n{tail}")]
    Command {
        step: &'static str,
        command: String,
        status: String,
        tail: String,
    },
    /// A file operation inside the tree, the cache or the work directory.
    #[error("{step}: {}: {error}", path.display())]
    Io {
        step: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    /// [`crate::CachePolicy::Offline`] and the tree is not cached.
    #[error(
        "the root tree for this package list is not cached ({}) and the cache policy is offline",
        path.display()
    )]
    NotCached { path: PathBuf },
    /// `mmdebstrap --version` printed something unexpected.
    #[error("cannot read the mmdebstrap version from {output:?}")]
    MmdebstrapVersion { output: String },
    /// A package of `debian.remove` cannot be removed.
    #[error("cannot remove the package {package:?} from the tree: {problem}")]
    Remove { package: String, problem: String },
    /// The tree must hold exactly one kernel (in /usr/lib/modules and /boot).
    #[error("kernel in the tree: {problem}")]
    Kernel { problem: String },
    /// An extra file's path cannot be written safely.
    #[error("extra file {path:?}: {reason}")]
    ExtraFilePath { path: String, reason: &'static str },
    /// An enabled service has no unit file in the tree.
    #[error(
        "service {name:?} is enabled but has no unit file in the tree (/usr/lib/systemd/system)"
    )]
    UnknownService { name: String },
    /// mmdebstrap's hooks split their arguments on white space.
    #[error("cache directory {}: the path must not contain white space (mmdebstrap hooks split on it)", path.display())]
    CachePath { path: PathBuf },
    /// A service name that cannot be written to a preset file.
    #[error("service {name:?}: not a unit name (letters, digits, `:-_.@\\`, with a type suffix)")]
    ServiceName { name: String },
    /// A state path's owner or group is not in the tree's /etc/passwd or /etc/group.
    #[error("state path {path}: {what} {name:?} is not in the tree's {file}")]
    UnknownAccount {
        path: String,
        what: &'static str,
        name: String,
        file: &'static str,
    },
    /// A state path's mode breaks the contract (the product validator
    /// should have caught it).
    #[error(transparent)]
    StateMode(#[from] contract::state::Error),
    /// A state path exists in the tree but is not of the declared kind.
    #[error("state path {path}: is a {found} in the tree, the product says {expected}")]
    StateKind {
        path: String,
        found: &'static str,
        expected: &'static str,
    },
}

impl Error {
    pub(crate) fn io(
        step: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |error| Error::Io { step, path, error }
    }
}
