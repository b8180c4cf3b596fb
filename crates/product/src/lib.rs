//! Product definitions: `products/<name>/product.toml`.
//!
//! A product says what a CLIP OS image contains (roadmap: "Security aware
//! system architecture and partition layout"): its name and version, the
//! Debian suite and packages, the kernel command line, the state paths
//! bind-mounted read-write over the read-only root, the services enabled and
//! the partition sizes. The format is documented in `docs/product.md`.
//!
//! [`Product::load`] parses the file (unknown keys are errors) and then
//! validates every field; errors name the field path and the bad value, e.g.
//! `state.paths[2].path: "var/log" is not absolute`. The file is written by
//! the developer, not untrusted input, so there is no fuzz target.

mod cmdline;
mod size;
mod validate;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use cmdline::CmdlineCheck;
/// The product's `[state]` is the boot contract's `state.json`: read-write
/// paths bind-mounted from the state partition, its encryption, the
/// recovery key hook.
pub use contract::state::StateConfig as State;
/// State paths are the boot contract's (`state.json` carries the same
/// fields, with the same defaults).
pub use contract::state::{Encryption, Kind, MountOption, StatePath};
/// The product's `[update]` is the boot contract's `update.json` (same
/// fields, same defaults): where and how often `clip-updated` checks, when
/// it reboots into an update, the health checks that mark a boot good.
pub use contract::update::UpdateConfig as Update;
pub use size::{parse_size, verity_size};
pub use validate::Problem;

/// The file [`Product::load`] reads inside a product directory.
pub const PRODUCT_FILE: &str = "product.toml";

/// Why a product cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    /// The message includes the I/O error, which is therefore not also a
    /// `source()` (docs/conventions.md, Errors).
    #[error("cannot read {}: {error}", path.display())]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("cannot serialize the product: {0}")]
    Serialize(String),
    /// A field parsed but failed validation.
    #[error("{field}: {problem}")]
    Invalid { field: String, problem: Problem },
}

/// A whole product definition (the top level of `product.toml`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Short name: `[a-z0-9-]+`; the os-release `ID`.
    pub name: String,
    /// Human-readable name: the os-release `NAME`.
    pub pretty_name: String,
    /// `MAJOR.MINOR.PATCH[-PRERELEASE]`, lowercase; the os-release `VERSION_ID`.
    pub version: String,
    pub debian: Debian,
    pub kernel: Kernel,
    pub state: State,
    pub services: Services,
    pub partitions: Partitions,
    /// Kernel parameters set at boot by systemd-sysctl from
    /// `/usr/lib/sysctl.d/10-clip.conf` in the read-only root, and checked
    /// after boot (`clip-status hardening`): name (dotted, as in
    /// `sysctl -a`) → value.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub sysctl: std::collections::BTreeMap<String, SysctlValue>,
    /// Optional; every field has the contract's default.
    #[serde(default)]
    pub update: Update,
    /// The per-ELF hardening floor of the root (docs/kernel.md, "ELF
    /// audit"); without it the audit is reported, never enforced.
    #[serde(default, skip_serializing_if = "ElfFloor::is_empty")]
    pub elf: ElfFloor,
}

/// What every ELF executable and shared object of the root must have.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElfFloor {
    pub require: Vec<ElfProperty>,
    /// Absolute paths in the root, or directories ending in `/`, whose
    /// files are audited and reported but not held to the floor.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exempt: Vec<String>,
}

impl ElfFloor {
    pub fn is_empty(&self) -> bool {
        self.require.is_empty() && self.exempt.is_empty()
    }

    /// Whether `path` (absolute, in the root) is exempt.
    pub fn exempts(&self, path: &str) -> bool {
        self.exempt
            .iter()
            .any(|e| e == path || (e.ends_with('/') && path.starts_with(e.as_str())))
    }
}

/// A hardening property of an ELF file (crate `elfaudit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ElfProperty {
    /// Executables only: position-independent (shared objects always are).
    Pie,
    /// `PT_GNU_RELRO`, partial or full.
    Relro,
    /// RELRO with BIND_NOW.
    FullRelro,
    BindNow,
    StackProtector,
    Fortify,
    CetIbt,
    CetShstk,
    NxStack,
}

impl ElfProperty {
    pub fn name(self) -> &'static str {
        match self {
            ElfProperty::Pie => "pie",
            ElfProperty::Relro => "relro",
            ElfProperty::FullRelro => "full_relro",
            ElfProperty::BindNow => "bind_now",
            ElfProperty::StackProtector => "stack_protector",
            ElfProperty::Fortify => "fortify",
            ElfProperty::CetIbt => "cet_ibt",
            ElfProperty::CetShstk => "cet_shstk",
            ElfProperty::NxStack => "nx_stack",
        }
    }
}

/// Where the root file system comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Debian {
    /// Release codename, e.g. `trixie`.
    pub suite: String,
    /// Archive URL (`http://` or `https://`).
    #[serde(default = "default_mirror")]
    pub mirror: String,
    /// Debian architecture: `amd64` or `arm64`.
    #[serde(default = "default_architecture")]
    pub architecture: String,
    /// The kernel image package, e.g. `linux-image-amd64`, when the kernel
    /// is Debian's prebuilt one (`kernel.from = "package"`); absent when it
    /// is built from source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// Packages installed besides the essential set and the kernel.
    pub packages: Vec<String>,
    /// Packages removed from the tree once it is configured (build-only
    /// ones: apt, debconf, perl-base, …): their files and dpkg records go,
    /// without maintainer scripts and whatever depends on them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

/// The kernel command line, one argument per entry. The image builder adds
/// the root and dm-verity arguments itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    pub cmdline: Vec<String>,
    /// Names of [`CmdlineCheck`]s waived: the parameters they refuse are
    /// allowed in `cmdline` (the build manifest lists them). Each name must
    /// be known and must waive something.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_cmdline: Vec<String>,
    /// Modules the initramfs loads before it can reach the root (names as
    /// in modules.dep, `-` and `_` alike); their dependencies are added by
    /// the image builder. Default: [`DEFAULT_INITRAMFS_MODULES`] for
    /// Debian's kernel; a kernel built from source has no modules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initramfs_modules: Option<Vec<String>>,
    /// Where the kernel comes from (docs/kernel.md).
    #[serde(default)]
    pub from: KernelFrom,
    /// `from = "source"`: the Debian version of the `linux` source package
    /// of `debian.suite`, e.g. `6.12.107-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_version: Option<String>,
    /// Configuration fragments, relative to the product directory, in
    /// order: each line `CONFIG_X=value  # reason` (crate `kernel`). Built
    /// into a kernel from source; for Debian's kernel, only checked. Every
    /// setting is required of the final configuration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<String>,
}

/// Where the product's kernel comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelFrom {
    /// Debian's prebuilt image, package `debian.kernel`, with its modules.
    #[default]
    Package,
    /// Built by `clip build` from Debian's source package with the
    /// product's fragments; no modules.
    Source,
}

impl Kernel {
    /// The modules the initramfs loads (none for a kernel from source).
    pub fn initramfs_modules(&self) -> Vec<String> {
        match (&self.initramfs_modules, self.from) {
            (Some(list), _) => list.clone(),
            (None, KernelFrom::Package) => default_initramfs_modules(),
            (None, KernelFrom::Source) => Vec::new(),
        }
    }
}

/// A sysctl value (`[sysctl]`): what is written after `=` in sysctl.d.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SysctlValue {
    Int(i64),
    Text(String),
}

impl std::fmt::Display for SysctlValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SysctlValue::Int(n) => write!(f, "{n}"),
            SysctlValue::Text(t) => f.write_str(t),
        }
    }
}

/// virtio disks, dm-verity, the EROFS root and the ext4 state partition:
/// what a QEMU guest of Debian's kernel needs that is not built in.
/// `crc32c_generic` comes first because ext4, jbd2 and libcrc32c need a crc32c
/// implementation but modules.dep does not say so (only modules.softdep).
pub const DEFAULT_INITRAMFS_MODULES: &[&str] =
    &["crc32c_generic", "virtio_blk", "dm-verity", "erofs", "ext4"];

fn default_initramfs_modules() -> Vec<String> {
    DEFAULT_INITRAMFS_MODULES
        .iter()
        .map(|m| (*m).to_owned())
        .collect()
}

/// systemd units enabled in the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Services {
    pub enabled: Vec<String>,
}

/// Partition sizes as written (`"256M"`, `"2G"`); see [`Partitions::bytes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partitions {
    pub esp: String,
    /// One root slot (the read-only system).
    pub root: String,
    /// One verity slot; derived from `root` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verity: Option<String>,
    pub state: String,
}

/// A command line check the product waived, and the `kernel.cmdline`
/// entries it would have refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiver {
    pub check: CmdlineCheck,
    pub arguments: Vec<String>,
}

/// Partition sizes in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionBytes {
    pub esp: u64,
    pub root: u64,
    pub verity: u64,
    pub state: u64,
}

/// The identifying fields of `/usr/lib/os-release` (os-release(5)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsRelease {
    pub id: String,
    pub name: String,
    pub version_id: String,
    pub pretty_name: String,
}

impl OsRelease {
    /// The file contents, values quoted (the characters are validated, so no
    /// escaping is needed except in the free-form names).
    pub fn render(&self) -> String {
        format!(
            "ID={}\nNAME={}\nVERSION_ID={}\nPRETTY_NAME={}\n",
            self.id,
            quote(&self.name),
            self.version_id,
            quote(&self.pretty_name)
        )
    }
}

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if matches!(c, '"' | '\\' | '`' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn default_mirror() -> String {
    "http://deb.debian.org/debian".into()
}
fn default_architecture() -> String {
    "amd64".into()
}

impl Product {
    /// Reads and validates `dir/product.toml`.
    pub fn load(dir: &Path) -> Result<Self, ProductError> {
        let path = dir.join(PRODUCT_FILE);
        let text = std::fs::read_to_string(&path).map_err(|error| ProductError::Read {
            path: path.clone(),
            error,
        })?;
        Self::parse(&text, &path)
    }

    /// Parses and validates product TOML; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ProductError> {
        let product: Self = toml::from_str(text).map_err(|e| ProductError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        product.validate()?;
        Ok(product)
    }

    /// The product as TOML (what [`Product::parse`] reads back).
    pub fn to_toml(&self) -> Result<String, ProductError> {
        toml::to_string(self).map_err(|e| ProductError::Serialize(e.to_string()))
    }

    /// Checks every field; the first failure is returned.
    pub fn validate(&self) -> Result<(), ProductError> {
        validate::product(self).map_err(|(field, problem)| ProductError::Invalid { field, problem })
    }

    /// os-release fields: `ID` is the name, `VERSION_ID` the version.
    pub fn os_release(&self) -> OsRelease {
        OsRelease {
            id: self.name.clone(),
            name: self.pretty_name.clone(),
            version_id: self.version.clone(),
            pretty_name: format!("{} {}", self.pretty_name, self.version),
        }
    }

    /// The command line as one string (arguments joined by spaces).
    pub fn cmdline(&self) -> String {
        self.kernel.cmdline.join(" ")
    }

    /// The command line checks waived by `kernel.allow_cmdline`, in that
    /// order, each with the arguments it let through (in command line
    /// order). Names that are not checks are left out ([`Product::validate`]
    /// refuses them).
    pub fn cmdline_waivers(&self) -> Vec<Waiver> {
        self.kernel
            .allow_cmdline
            .iter()
            .filter_map(|name| CmdlineCheck::from_name(name))
            .map(|check| Waiver {
                check,
                arguments: self
                    .kernel
                    .cmdline
                    .iter()
                    .filter(|a| cmdline::refused_by(&cmdline::Param::parse(a)) == Some(check))
                    .cloned()
                    .collect(),
            })
            .collect()
    }
}

impl Partitions {
    /// Sizes in bytes; `verity` derived from `root` when not given.
    pub fn bytes(&self) -> Result<PartitionBytes, ProductError> {
        validate::partitions(self)
            .map_err(|(field, problem)| ProductError::Invalid { field, problem })
    }
}
