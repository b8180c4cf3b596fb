//! Validation of a parsed [`Product`]: one [`Problem`] per failed check,
//! returned with the field path (`state.paths[2].path`). Rules are listed in
//! `docs/product.md`.

use std::collections::BTreeSet;
use std::path::Path;

use crate::cmdline::{CmdlineCheck, Param, same_name};
use crate::size::{format_size, parse_size, verity_size};
use crate::{Kernel, KernelFrom, Kind, PartitionBytes, Partitions, Product, StatePath};

/// Why a field is invalid. The field path is carried by
/// [`crate::ProductError::Invalid`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("{value:?} must match {pattern}")]
    BadChars {
        value: String,
        pattern: &'static str,
    },
    #[error(
        "{value:?} is not a version MAJOR.MINOR.PATCH[-PRERELEASE] (lowercase, no leading zeros)"
    )]
    BadVersion { value: String },
    #[error("{value:?} is not an http:// or https:// URL without spaces")]
    BadMirror { value: String },
    #[error("{value:?} is not a supported architecture (amd64, arm64)")]
    BadArchitecture { value: String },
    #[error("{value:?} is not a valid Debian package name ([a-z0-9][a-z0-9+.-]+)")]
    BadPackage { value: String },
    #[error("{value:?} is listed twice")]
    Duplicate { value: String },
    #[error(
        "missing: Debian's prebuilt kernel (kernel.from = \"package\", the default) needs its package, e.g. \"linux-image-amd64\""
    )]
    KernelPackageMissing,
    #[error(
        "{value:?}: the kernel is built from source (kernel.from = \"source\"); so the root gets no Debian kernel package"
    )]
    KernelPackageWithSource { value: String },
    #[error(
        "missing: kernel.from = \"source\" builds Debian's linux source package of this version, e.g. \"6.12.107-1\""
    )]
    SourceVersionMissing,
    #[error("only used with kernel.from = \"source\"")]
    SourceVersionUnused,
    #[error(
        "a kernel built from source has no modules: everything the initramfs needs is built in (remove it, or list nothing)"
    )]
    ModulesWithSource,
    #[error("{value:?} is also listed to be installed")]
    RemovedButListed { value: String },
    #[error("{value:?} is the kernel package, already installed from debian.kernel")]
    KernelListed { value: String },
    #[error("{value:?} is empty or contains whitespace, a quote or a control character")]
    BadArgument { value: String },
    #[error("{value:?} is added by the image builder and must not be set here")]
    ReservedArgument { value: String },
    #[error(
        "{value:?} ends the kernel's parameters: everything after it, the builder's clip.* parameters included, would go to init as arguments and the image could not boot (this cannot be waived)"
    )]
    EndOfParameters { value: String },
    #[error(
        "{value:?} is refused: {why} (check {name:?}; to accept it, list {name:?} in kernel.allow_cmdline)",
        why = check.why(),
        name = check.name()
    )]
    Weakening { value: String, check: CmdlineCheck },
    #[error("{value:?} is not a command line check (known: {})", check_names())]
    UnknownCheck { value: String },
    #[error("{value:?} waives nothing: no kernel.cmdline entry is refused by this check")]
    UnusedWaiver { value: String },
    #[error(
        "is {len} bytes long; at most {max} are allowed (the builder appends the root arguments)"
    )]
    CmdlineTooLong { len: usize, max: usize },
    #[error("{value:?} is not absolute")]
    NotAbsolute { value: String },
    #[error("{value:?} is not normalised (empty, `.` or `..` component, or trailing `/`)")]
    NotNormalised { value: String },
    #[error(
        "{value:?} is not allowed: state paths live under /var, /home, /srv or /root, or are one of the /etc files {ETC_FILES:?} (kind = \"file\")"
    )]
    NotStatePath { value: String },
    #[error("{value:?} overlaps {other:?} (state.paths[{index}]); state paths must not be nested")]
    Nested {
        value: String,
        other: String,
        index: usize,
    },
    #[error("{value:?} is not an octal mode of 3 or 4 digits (e.g. \"0755\")")]
    BadMode { value: String },
    #[error("{value:?} is world-writable{}", if *dir { " without the sticky bit (use 1777)" } else { "" })]
    WorldWritable { value: String, dir: bool },
    #[error("{value:?} has the {bits} set: the image has no SUID or SGID files or directories")]
    SetId { value: String, bits: &'static str },
    #[error(
        "must include {option:?}: the state partition must never bring SUID files or device \
         nodes into the system"
    )]
    RequiredOption { option: &'static str },
    /// A rule of the boot contract's state.json, in its own words.
    #[error("{message}")]
    Contract { message: String },
    #[error("{value:?} is not a user or group name ([a-z_][a-z0-9_-]*, at most 32 characters)")]
    BadOwner { value: String },
    #[error(
        "{value:?} is not a unit name (NAME.service, .socket, .timer, .path, .mount or .target)"
    )]
    BadUnit { value: String },
    #[error("size {value:?} {why}")]
    BadSize { value: String, why: &'static str },
    #[error("{value:?} is below the minimum of {min}")]
    TooSmall { value: String, min: String },
    #[error("{value:?} is above the maximum of {max}")]
    TooLarge { value: String, max: String },
    #[error("must not be empty")]
    Empty,
}

type Failure = (String, Problem);

/// Characters allowed in state paths (they end up in mount unit names and
/// fstab lines, so nothing that needs escaping).
const PATH_CHARS: &str = "[A-Za-z0-9._@+/-]";
/// Directories under which state paths may be mounted.
const STATE_ROOTS: &[&str] = &["/var", "/home", "/srv", "/root"];
/// Files of the read-only /etc that may be replaced by a state file.
pub(crate) const ETC_FILES: &[&str] = &[
    "/etc/machine-id",
    "/etc/hostname",
    "/etc/adjtime",
    "/etc/localtime",
];
/// Kernel parameters the builder sets or that would compete with what it
/// sets (root device, dm-verity): refused, and no waiver applies.
const RESERVED_KEYS: &[&str] = &[
    "root",
    "roothash",
    "rootfstype",
    "rootflags",
    "ro",
    "rw",
    "usrhash",
    "mount.usr",
    "dm-mod.create",
    "dm-mod.waitfor",
];
/// Longest product command line (arguments joined by single spaces). The
/// kernel takes at most 2047 bytes (x86 COMMAND_LINE_SIZE is 2048 with the
/// NUL; the `uki` crate's `MAX_CMDLINE` is that limit); half is left for
/// what the builder appends.
pub const MAX_CMDLINE: usize = 1024;
const MIB: u64 = 1 << 20;
const MIN_ESP: u64 = 64 * MIB;
const MAX_ESP: u64 = 4096 * MIB;
const MIN_ROOT: u64 = 256 * MIB;
const MIN_STATE: u64 = 48 * MIB;
/// Upper bound for any one partition (and their sum): 16 TiB.
const MAX_PART: u64 = 16 << 40;

fn fail<T>(field: impl Into<String>, problem: Problem) -> Result<T, Failure> {
    Err((field.into(), problem))
}

pub(crate) fn product(p: &Product) -> Result<(), Failure> {
    name(&p.name)?;
    if p.pretty_name.trim().is_empty() {
        return fail("pretty_name", Problem::Empty);
    }
    if p.pretty_name.chars().any(char::is_control) {
        return fail(
            "pretty_name",
            Problem::BadChars {
                value: p.pretty_name.clone(),
                pattern: "printable characters",
            },
        );
    }
    version(&p.version)?;
    debian(p)?;
    cmdline(&p.kernel)?;
    kernel_source(p)?;
    modules(&p.kernel.initramfs_modules())?;
    sysctls(&p.sysctl)?;
    for (i, path) in p.elf.exempt.iter().enumerate() {
        if !path.starts_with('/') || path.split('/').any(|c| c == ".." || c == ".") {
            return fail(
                format!("elf.exempt[{i}]"),
                Problem::BadChars {
                    value: path.clone(),
                    pattern: "an absolute path in the root (a directory ends in /)",
                },
            );
        }
    }
    for (i, prop) in p.elf.require.iter().enumerate() {
        if p.elf.require[..i].contains(prop) {
            return fail(
                format!("elf.require[{i}]"),
                Problem::Duplicate {
                    value: prop.name().to_owned(),
                },
            );
        }
    }
    for (i, sp) in p.state.paths.iter().enumerate() {
        state_path(i, sp, &p.state.paths[..i])?;
    }
    if let Some(Err(e)) = p
        .state
        .recovery_hook
        .as_deref()
        .map(contract::state::check_hook)
    {
        return fail(
            "state.recovery_hook",
            Problem::Contract {
                message: e.to_string(),
            },
        );
    }
    if let Err(e) = p.state.encryption.check() {
        return fail(
            "state.encryption",
            Problem::Contract {
                message: e.to_string(),
            },
        );
    }
    services(&p.services.enabled)?;
    partitions(&p.partitions)?;
    update(&p.update)?;
    Ok(())
}

/// `[update]`: the contract's rules, under the field they concern, and
/// `ca` relative to the product directory (the product carries its CA).
fn update(u: &crate::Update) -> Result<(), Failure> {
    use contract::update::Error as E;
    let Err(e) = u.check() else {
        if let Some(ca) = u.ca.as_deref().filter(|ca| Path::new(ca).is_absolute()) {
            return fail(
                "update.ca",
                Problem::Contract {
                    message: format!(
                        "{ca:?} is absolute: name the CA bundle relative to the product directory"
                    ),
                },
            );
        }
        return Ok(());
    };
    let field = match &e {
        E::HttpsWithoutCa(_) | E::CaWithoutHttps(_) | E::CaPath(_) => "update.ca".to_owned(),
        E::TooLong { what, .. } if *what == "ca path" => "update.ca".to_owned(),
        E::ServerUrl(_) => "update.server".to_owned(),
        E::TooLong { what, .. } if what.contains("server") => "update.server".to_owned(),
        E::CheckInterval(_) => "update.check_interval_seconds".to_owned(),
        E::FirstCheckDelay(_) => "update.first_check_delay_seconds".to_owned(),
        _ => match u
            .health_checks
            .iter()
            .position(|c| contract::update::health_check_argv(c).is_err())
        {
            Some(i) => format!("update.health_checks[{i}]"),
            None => "update.health_checks".to_owned(),
        },
    };
    fail(
        &field,
        Problem::Contract {
            message: e.to_string(),
        },
    )
}

fn name(v: &str) -> Result<(), Failure> {
    let ok = !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok {
        return fail(
            "name",
            Problem::BadChars {
                value: v.into(),
                pattern: "[a-z0-9-]+",
            },
        );
    }
    Ok(())
}

/// The contract's version rules (`contract::version`): the device's
/// anti-rollback check orders what the product names.
fn version(v: &str) -> Result<(), Failure> {
    if contract::Version::parse(v).is_err() {
        return fail("version", Problem::BadVersion { value: v.into() });
    }
    Ok(())
}

fn package_name(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() >= 2
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"+.-".contains(&c))
}

fn debian(p: &Product) -> Result<(), Failure> {
    let d = &p.debian;
    if d.suite.is_empty() || !d.suite.bytes().all(|b| b.is_ascii_lowercase()) {
        return fail(
            "debian.suite",
            Problem::BadChars {
                value: d.suite.clone(),
                pattern: "[a-z]+",
            },
        );
    }
    let rest = d
        .mirror
        .strip_prefix("https://")
        .or_else(|| d.mirror.strip_prefix("http://"));
    if !rest.is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_graphic())) {
        return fail(
            "debian.mirror",
            Problem::BadMirror {
                value: d.mirror.clone(),
            },
        );
    }
    if !matches!(d.architecture.as_str(), "amd64" | "arm64") {
        return fail(
            "debian.architecture",
            Problem::BadArchitecture {
                value: d.architecture.clone(),
            },
        );
    }
    if let Some(kernel) = &d.kernel {
        if !package_name(kernel) {
            return fail(
                "debian.kernel",
                Problem::BadPackage {
                    value: kernel.clone(),
                },
            );
        }
    }
    if d.packages.is_empty() {
        return fail("debian.packages", Problem::Empty);
    }
    let mut seen = BTreeSet::new();
    for (i, pkg) in d.packages.iter().enumerate() {
        let field = format!("debian.packages[{i}]");
        if !package_name(pkg) {
            return fail(field, Problem::BadPackage { value: pkg.clone() });
        }
        if d.kernel.is_none() && pkg.starts_with("linux-image-") {
            return fail(
                field,
                Problem::KernelPackageWithSource { value: pkg.clone() },
            );
        }
        if Some(pkg) == d.kernel.as_ref() {
            return fail(field, Problem::KernelListed { value: pkg.clone() });
        }
        if !seen.insert(pkg) {
            return fail(field, Problem::Duplicate { value: pkg.clone() });
        }
    }
    for (i, pkg) in d.remove.iter().enumerate() {
        let field = format!("debian.remove[{i}]");
        if !package_name(pkg) {
            return fail(field, Problem::BadPackage { value: pkg.clone() });
        }
        if d.packages.contains(pkg) || Some(pkg) == d.kernel.as_ref() {
            return fail(field, Problem::RemovedButListed { value: pkg.clone() });
        }
        if d.remove[..i].contains(pkg) {
            return fail(field, Problem::Duplicate { value: pkg.clone() });
        }
    }
    Ok(())
}

fn check_names() -> String {
    CmdlineCheck::ALL.map(CmdlineCheck::name).join(", ")
}

fn cmdline(kernel: &Kernel) -> Result<(), Failure> {
    // The waivers first: an unknown name is an error whatever the line holds.
    let mut waived = BTreeSet::new();
    for (i, name) in kernel.allow_cmdline.iter().enumerate() {
        let field = format!("kernel.allow_cmdline[{i}]");
        let Some(check) = CmdlineCheck::from_name(name) else {
            return fail(
                field,
                Problem::UnknownCheck {
                    value: name.clone(),
                },
            );
        };
        if !waived.insert(check) {
            return fail(
                field,
                Problem::Duplicate {
                    value: name.clone(),
                },
            );
        }
    }
    let args = &kernel.cmdline;
    let mut used = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for (i, arg) in args.iter().enumerate() {
        let field = format!("kernel.cmdline[{i}]");
        let bad = arg.is_empty()
            || arg
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '\'');
        if bad {
            return fail(field, Problem::BadArgument { value: arg.clone() });
        }
        let param = Param::parse(arg);
        if param.ends_parameters() {
            return fail(field, Problem::EndOfParameters { value: arg.clone() });
        }
        // The kernel treats `-` and `_` in parameter names alike.
        let key = param.name.replace('_', "-");
        if RESERVED_KEYS.iter().any(|r| same_name(&param.name, r))
            || key.contains("verity")
            || key.starts_with("clip.")
        {
            return fail(field, Problem::ReservedArgument { value: arg.clone() });
        }
        if let Some(check) = crate::cmdline::refused_by(&param) {
            if !waived.contains(&check) {
                return fail(
                    field,
                    Problem::Weakening {
                        value: arg.clone(),
                        check,
                    },
                );
            }
            used.insert(check);
        }
        if !seen.insert(arg) {
            return fail(field, Problem::Duplicate { value: arg.clone() });
        }
    }
    let len = args
        .iter()
        .map(|a| a.len() + 1)
        .sum::<usize>()
        .saturating_sub(1);
    if len > MAX_CMDLINE {
        return fail(
            "kernel.cmdline",
            Problem::CmdlineTooLong {
                len,
                max: MAX_CMDLINE,
            },
        );
    }
    for (i, name) in kernel.allow_cmdline.iter().enumerate() {
        if CmdlineCheck::from_name(name).is_some_and(|c| !used.contains(&c)) {
            return fail(
                format!("kernel.allow_cmdline[{i}]"),
                Problem::UnusedWaiver {
                    value: name.clone(),
                },
            );
        }
    }
    Ok(())
}

/// `kernel.from` and what goes with it.
fn kernel_source(p: &Product) -> Result<(), Failure> {
    let k = &p.kernel;
    match k.from {
        KernelFrom::Package => {
            if p.debian.kernel.is_none() {
                return fail("debian.kernel", Problem::KernelPackageMissing);
            }
            if k.source_version.is_some() {
                return fail("kernel.source_version", Problem::SourceVersionUnused);
            }
        }
        KernelFrom::Source => {
            if let Some(pkg) = &p.debian.kernel {
                return fail(
                    "debian.kernel",
                    Problem::KernelPackageWithSource { value: pkg.clone() },
                );
            }
            match &k.source_version {
                None => return fail("kernel.source_version", Problem::SourceVersionMissing),
                Some(v)
                    if v.is_empty()
                        || !v.starts_with(|c: char| c.is_ascii_digit())
                        || !v
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b".+~-".contains(&b)) =>
                {
                    return fail(
                        "kernel.source_version",
                        Problem::BadChars {
                            value: v.clone(),
                            pattern: "a Debian version: a digit, then [A-Za-z0-9.+~-]",
                        },
                    );
                }
                Some(_) => {}
            }
            if k.config.is_empty() {
                return fail("kernel.config", Problem::Empty);
            }
            if k.initramfs_modules.as_ref().is_some_and(|m| !m.is_empty()) {
                return fail("kernel.initramfs_modules", Problem::ModulesWithSource);
            }
        }
    }
    for (i, path) in k.config.iter().enumerate() {
        let ok = !path.is_empty()
            && !path.starts_with('/')
            && path
                .split('/')
                .all(|c| !c.is_empty() && c != ".." && c != ".")
            && path.ends_with(".config");
        if !ok {
            return fail(
                format!("kernel.config[{i}]"),
                Problem::BadChars {
                    value: path.clone(),
                    pattern: "a relative path inside the product directory ending in .config",
                },
            );
        }
    }
    Ok(())
}

/// Sysctl names as in `sysctl -a` (dots), values on one line.
fn sysctls(map: &std::collections::BTreeMap<String, crate::SysctlValue>) -> Result<(), Failure> {
    for (name, value) in map {
        let field = format!("sysctl.{name:?}");
        let ok = name.contains('.')
            && name.split('.').all(|c| {
                !c.is_empty()
                    && c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
        if !ok {
            return fail(
                field,
                Problem::BadChars {
                    value: name.clone(),
                    pattern: "a dotted sysctl name, e.g. kernel.kptr_restrict",
                },
            );
        }
        let text = value.to_string();
        if text.is_empty() || text.chars().any(char::is_control) {
            return fail(
                field,
                Problem::BadChars {
                    value: text,
                    pattern: "a non-empty value on one line",
                },
            );
        }
    }
    Ok(())
}

fn modules(names: &[String]) -> Result<(), Failure> {
    for (i, m) in names.iter().enumerate() {
        let ok = !m.is_empty()
            && m.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return fail(
                format!("kernel.initramfs_modules[{i}]"),
                Problem::BadChars {
                    value: m.clone(),
                    pattern: "[A-Za-z0-9_-]+ (a module name)",
                },
            );
        }
    }
    Ok(())
}

fn is_under(path: &str, dir: &str) -> bool {
    path == dir || path.strip_prefix(dir).is_some_and(|r| r.starts_with('/'))
}

fn state_path(i: usize, sp: &StatePath, before: &[StatePath]) -> Result<(), Failure> {
    let field = |f: &str| format!("state.paths[{i}].{f}");
    let p = &sp.path;
    let value = || p.clone();
    if !p.starts_with('/') {
        return fail(field("path"), Problem::NotAbsolute { value: value() });
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"._@+/-".contains(&b);
    if !p.bytes().all(allowed) {
        return fail(
            field("path"),
            Problem::BadChars {
                value: value(),
                pattern: PATH_CHARS,
            },
        );
    }
    if p[1..]
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return fail(field("path"), Problem::NotNormalised { value: value() });
    }
    let etc_file = ETC_FILES.contains(&p.as_str()) && sp.kind == Kind::File;
    if !etc_file && !STATE_ROOTS.iter().any(|r| is_under(p, r)) {
        return fail(field("path"), Problem::NotStatePath { value: value() });
    }
    for (j, other) in before.iter().enumerate() {
        if other.path == *p {
            return fail(field("path"), Problem::Duplicate { value: value() });
        }
        if is_under(p, &other.path) || is_under(&other.path, p) {
            return fail(
                field("path"),
                Problem::Nested {
                    value: value(),
                    other: other.path.clone(),
                    index: j,
                },
            );
        }
    }
    // The contract decides what a mode may be (clip-init checks the same);
    // the product's messages add which bits are wrong. The root tree is
    // stripped of SUID and SGID bits (rootfs strip_suid), files and
    // directories alike: a state path must not bring them back. The sticky
    // bit stays allowed: 1777 is how a shared directory such as /var/tmp
    // stops users from removing each other's files.
    let mode = match sp.mode_bits() {
        Ok(mode) => mode,
        Err(contract::state::Error::SetId { .. }) => {
            let bits = match u32::from_str_radix(&sp.mode, 8).unwrap_or(0o6000) & 0o6000 {
                0o4000 => "setuid bit",
                0o2000 => "setgid bit",
                _ => "setuid and setgid bits",
            };
            return fail(
                field("mode"),
                Problem::SetId {
                    value: sp.mode.clone(),
                    bits,
                },
            );
        }
        Err(_) => {
            return fail(
                field("mode"),
                Problem::BadMode {
                    value: sp.mode.clone(),
                },
            );
        }
    };
    let sticky = mode & 0o1000 != 0;
    if mode & 0o002 != 0 && (sp.kind == Kind::File || !sticky) {
        return fail(
            field("mode"),
            Problem::WorldWritable {
                value: sp.mode.clone(),
                dir: sp.kind == Kind::Dir,
            },
        );
    }
    for (f, v) in [("owner", &sp.owner), ("group", &sp.group)] {
        let b = v.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 32
            && (b[0].is_ascii_lowercase() || b[0] == b'_')
            && b.iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'-');
        if !ok {
            return fail(field(f), Problem::BadOwner { value: v.clone() });
        }
    }
    let mut seen = BTreeSet::new();
    for (k, o) in sp.options.iter().enumerate() {
        if !seen.insert(*o) {
            return fail(
                format!("state.paths[{i}].options[{k}]"),
                Problem::Duplicate {
                    value: o.as_str().into(),
                },
            );
        }
    }
    if let Err(contract::state::Error::Required { option, .. }) = sp.check_options() {
        return fail(
            field("options"),
            Problem::RequiredOption {
                option: option.as_str(),
            },
        );
    }
    Ok(())
}

fn services(units: &[String]) -> Result<(), Failure> {
    let mut seen = BTreeSet::new();
    for (i, u) in units.iter().enumerate() {
        let field = format!("services.enabled[{i}]");
        let ok = u.rsplit_once('.').is_some_and(|(stem, ext)| {
            !stem.is_empty()
                && stem.len() + ext.len() < 256
                && stem
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b":_.@\\-".contains(&b))
                && matches!(
                    ext,
                    "service" | "socket" | "timer" | "path" | "mount" | "target"
                )
        });
        if !ok {
            return fail(field, Problem::BadUnit { value: u.clone() });
        }
        if !seen.insert(u) {
            return fail(field, Problem::Duplicate { value: u.clone() });
        }
    }
    Ok(())
}

fn size(field: &str, v: &str, min: u64, max: u64) -> Result<u64, Failure> {
    let n = parse_size(v).map_err(|p| (field.to_owned(), p))?;
    if n < min {
        return fail(
            field,
            Problem::TooSmall {
                value: v.into(),
                min: format_size(min),
            },
        );
    }
    if n > max {
        return fail(
            field,
            Problem::TooLarge {
                value: v.into(),
                max: format_size(max),
            },
        );
    }
    Ok(n)
}

pub(crate) fn partitions(p: &Partitions) -> Result<PartitionBytes, Failure> {
    let esp = size("partitions.esp", &p.esp, MIN_ESP, MAX_ESP)?;
    let root = size("partitions.root", &p.root, MIN_ROOT, MAX_PART)?;
    let derived = verity_size(root);
    let verity = match &p.verity {
        Some(v) => size("partitions.verity", v, derived, MAX_PART)?,
        None => derived,
    };
    let state = size("partitions.state", &p.state, MIN_STATE, MAX_PART)?;
    // Two slots of root + verity (A/B updates), the ESP and the state.
    let total = [esp, root, root, verity, verity, state]
        .iter()
        .try_fold(0u64, |a, &b| a.checked_add(b))
        .filter(|&t| t <= MAX_PART);
    if total.is_none() {
        return fail(
            "partitions",
            Problem::TooLarge {
                value: "esp + 2 × (root + verity) + state".into(),
                max: format_size(MAX_PART),
            },
        );
    }
    Ok(PartitionBytes {
        esp,
        root,
        verity,
        state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn under_is_by_component() {
        assert!(is_under("/var", "/var"));
        assert!(is_under("/var/log", "/var"));
        assert!(!is_under("/variable", "/var"));
        assert!(!is_under("/var", "/var/log"));
    }

    #[test]
    fn versions() {
        for ok in [
            "0.0.0",
            "5.0.0",
            "10.20.30",
            "5.0.0-alpha.1",
            "1.2.3-rc-1.0",
        ] {
            assert!(version(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "01.2.3",
            "1.2.3-01",
            "1.2.3-a..b",
            "v1.2.3",
        ] {
            assert!(version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn package_names() {
        for ok in [
            "systemd",
            "g++",
            "libc6",
            "0ad",
            "linux-image-6.12.0-1-amd64",
        ] {
            assert!(package_name(ok), "{ok}");
        }
        for bad in ["a", "-x", "+x", "Systemd", "a_b", "a b", "systemd:amd64"] {
            assert!(!package_name(bad), "{bad}");
        }
    }
}
