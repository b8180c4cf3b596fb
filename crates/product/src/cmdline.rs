//! Kernel command line parameters that undo the system's protections, as
//! the kernel (`kernel/params.c`, `parse_args`; Documentation/admin-guide/
//! kernel-parameters.txt) and systemd (kernel-command-line(7), systemd(1),
//! systemd-debug-generator(8), systemd-run-generator(8),
//! systemd-gpt-auto-generator(8)) read them.
//!
//! Each [`CmdlineCheck`] refuses a family of parameters and has a documented
//! name by which a product can waive it (`kernel.allow_cmdline`). Matching
//! is as the readers match:
//!
//! * quotes and backslashes are dropped first (the kernel strips a quoted
//!   parameter's quotes, systemd unquotes and unescapes every word), so
//!   `"init=/bin/sh"` is `init=/bin/sh`;
//! * the name is what precedes the first `=`, compared exactly (the kernel
//!   and systemd are case-sensitive) except that `-` and `_` are equal
//!   (the kernel's `parameq`, systemd's `proc_cmdline_key_streq`):
//!   `module.sig-enforce=0` is `module.sig_enforce=0`;
//! * values are read as the reader reads them: kernel booleans by their
//!   first letters (`kstrtobool`), systemd booleans as `parse_boolean`
//!   does, `iommu=` as a comma-separated list of prefixes.

use std::fmt;

/// A family of kernel command line parameters refused unless the product
/// waives the check by [`name`](CmdlineCheck::name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CmdlineCheck {
    /// `init=`, `rdinit=`.
    Init,
    /// `systemd.debug_shell`, `rd.systemd.debug_shell` (any form);
    /// `systemd.crash_shell` unless false.
    DebugShell,
    /// `single`, `s`, `S`, `1`, `rescue`, `rd.rescue`, `emergency`,
    /// `rd.emergency`, `-b`.
    Rescue,
    /// `systemd.unit=`, `systemd.wants=`, `systemd.mask=` and their `rd.`
    /// forms.
    Unit,
    /// `systemd.run=` (and `rd.systemd.run=`).
    Run,
    /// `lockdown=` other than `integrity` or `confidentiality`.
    Lockdown,
    /// `module.sig_enforce` with a value the kernel does not read as true.
    ModuleSig,
    /// `iommu=off`, `iommu=pt`, `intel_iommu=off`, `amd_iommu=off`,
    /// `iommu.passthrough` unless false.
    Iommu,
    /// `systemd.gpt_auto`, `rd.systemd.gpt_auto` unless false.
    GptAuto,
    /// `initrd=`.
    Initrd,
}

impl CmdlineCheck {
    /// Every check, in the order they are documented.
    pub const ALL: [CmdlineCheck; 10] = [
        Self::Init,
        Self::DebugShell,
        Self::Rescue,
        Self::Unit,
        Self::Run,
        Self::Lockdown,
        Self::ModuleSig,
        Self::Iommu,
        Self::GptAuto,
        Self::Initrd,
    ];

    /// The name written in `kernel.allow_cmdline` and in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Self::Init => "init",
            Self::DebugShell => "debug_shell",
            Self::Rescue => "rescue",
            Self::Unit => "unit",
            Self::Run => "run",
            Self::Lockdown => "lockdown",
            Self::ModuleSig => "module_sig",
            Self::Iommu => "iommu",
            Self::GptAuto => "gpt_auto",
            Self::Initrd => "initrd",
        }
    }

    /// The check called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }

    /// Why a parameter this check matches is refused.
    pub fn why(self) -> &'static str {
        match self {
            Self::Init => {
                "it replaces the first program (clip-init in the initramfs, then systemd), \
                 which sets up and checks the verified root"
            }
            Self::DebugShell => "it starts a root shell that asks no password",
            Self::Rescue => {
                "it boots into rescue or emergency mode (a root shell) instead of the product's services"
            }
            Self::Unit => {
                "it changes which units the boot starts or masks (e.g. emergency.target, \
                 debug-shell.service) behind the product's services list"
            }
            Self::Run => "it runs a command as root at boot",
            Self::Lockdown => {
                "it lowers kernel lockdown (only integrity or confidentiality keep it)"
            }
            Self::ModuleSig => "it lets the kernel load unsigned modules",
            Self::Iommu => "it turns off the IOMMU's DMA protection",
            Self::GptAuto => {
                "it makes systemd mount partitions found by type GUID, unverified ones included"
            }
            Self::Initrd => {
                "it makes the kernel's EFI stub load another initrd from the boot disk, \
                 outside the signed UKI"
            }
        }
    }
}

impl fmt::Display for CmdlineCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One word of the command line as the kernel and systemd read it: quotes
/// and backslashes dropped, split at the first `=`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param {
    pub name: String,
    pub value: Option<String>,
}

impl Param {
    pub fn parse(word: &str) -> Self {
        let plain: String = word
            .chars()
            .filter(|c| !matches!(c, '"' | '\'' | '\\'))
            .collect();
        match plain.split_once('=') {
            Some((name, value)) => Self {
                name: name.to_owned(),
                value: Some(value.to_owned()),
            },
            None => Self {
                name: plain,
                value: None,
            },
        }
    }

    /// Whether the name is `want`, with `-` and `_` equal.
    pub fn is(&self, want: &str) -> bool {
        same_name(&self.name, want)
    }

    /// Whether the name is one of `names`.
    fn is_any(&self, names: &[&str]) -> bool {
        names.iter().any(|n| self.is(n))
    }

    /// `--`: the end of the kernel's parameters.
    pub fn ends_parameters(&self) -> bool {
        self.name == "--" && self.value.is_none()
    }
}

/// Parameter names compared as the kernel does: exactly, but `-` equals `_`.
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    let norm = |c: u8| if c == b'-' { b'_' } else { c };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| norm(x) == norm(y))
}

/// The kernel's `kstrtobool`: decided by the first one or two characters.
fn kernel_bool(v: &str) -> Option<bool> {
    let b = v.as_bytes();
    match b.first()? {
        b'y' | b'Y' | b't' | b'T' | b'1' => Some(true),
        b'n' | b'N' | b'f' | b'F' | b'0' => Some(false),
        b'o' | b'O' => match b.get(1)? {
            b'n' | b'N' => Some(true),
            b'f' | b'F' => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// systemd's `parse_boolean` says false.
fn systemd_false(v: Option<&str>) -> bool {
    v.is_some_and(|v| {
        ["0", "no", "n", "false", "f", "off"]
            .iter()
            .any(|f| v.eq_ignore_ascii_case(f))
    })
}

/// The items of a comma-separated option list.
fn items(v: Option<&str>) -> impl Iterator<Item = &str> {
    v.unwrap_or("").split(',')
}

/// The check that refuses `param`, if any.
pub(crate) fn refused_by(param: &Param) -> Option<CmdlineCheck> {
    let value = param.value.as_deref();
    let check = if param.is_any(&["init", "rdinit"]) {
        CmdlineCheck::Init
    } else if param.is_any(&["systemd.debug_shell", "rd.systemd.debug_shell"])
        || (param.is_any(&["systemd.crash_shell", "rd.systemd.crash_shell"])
            && !systemd_false(value))
    {
        CmdlineCheck::DebugShell
    } else if param.is_any(&[
        "single",
        "s",
        "S",
        "1",
        "rescue",
        "rd.rescue",
        "emergency",
        "rd.emergency",
        "-b",
    ]) {
        CmdlineCheck::Rescue
    } else if param.is_any(&[
        "systemd.unit",
        "rd.systemd.unit",
        "systemd.wants",
        "rd.systemd.wants",
        "systemd.mask",
        "rd.systemd.mask",
    ]) {
        CmdlineCheck::Unit
    } else if param.is_any(&["systemd.run", "rd.systemd.run"]) {
        CmdlineCheck::Run
    } else if param.is("lockdown") && !matches!(value, Some("integrity" | "confidentiality")) {
        CmdlineCheck::Lockdown
    } else if param.is("module.sig_enforce") && value.is_some_and(|v| kernel_bool(v) != Some(true))
    {
        CmdlineCheck::ModuleSig
    } else if (param.is("iommu")
        && items(value).any(|i| i.starts_with("off") || i.starts_with("pt")))
        || (param.is("intel_iommu") && items(value).any(|i| i.starts_with("off")))
        || (param.is("amd_iommu") && value.is_some_and(|v| v.contains("off")))
        || (param.is("iommu.passthrough") && value.and_then(kernel_bool) != Some(false))
    {
        CmdlineCheck::Iommu
    } else if param.is_any(&["systemd.gpt_auto", "rd.systemd.gpt_auto"]) && !systemd_false(value) {
        CmdlineCheck::GptAuto
    } else if param.is("initrd") {
        CmdlineCheck::Initrd
    } else {
        return None;
    };
    Some(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(word: &str) -> Option<CmdlineCheck> {
        refused_by(&Param::parse(word))
    }

    #[test]
    fn names_round_trip() {
        for c in CmdlineCheck::ALL {
            assert_eq!(CmdlineCheck::from_name(c.name()), Some(c));
        }
        assert_eq!(CmdlineCheck::from_name("Init"), None);
    }

    #[test]
    fn syntax_as_the_kernel_reads_it() {
        assert_eq!(check("\"init=/bin/sh\""), Some(CmdlineCheck::Init));
        assert_eq!(check("init=\"/bin/sh\""), Some(CmdlineCheck::Init));
        assert_eq!(
            check("systemd.debug\\_shell"),
            Some(CmdlineCheck::DebugShell)
        );
        assert_eq!(check("module.sig-enforce=0"), Some(CmdlineCheck::ModuleSig));
        assert_eq!(check("systemd.gpt-auto"), Some(CmdlineCheck::GptAuto));
        // Case matters to the kernel and systemd.
        assert_eq!(check("Init=/bin/sh"), None);
        assert_eq!(check("SINGLE"), None);
        assert!(Param::parse("\"--\"").ends_parameters());
        assert!(!Param::parse("--=x").ends_parameters());
    }

    #[test]
    fn values_as_their_readers_read_them() {
        for ok in [
            "module.sig_enforce",
            "module.sig_enforce=1",
            "module.sig_enforce=Yes",
            "module.sig_enforce=on",
            "lockdown=integrity",
            "lockdown=confidentiality",
            "iommu=force",
            "iommu=nopt",
            "intel_iommu=on,sm_on",
            "amd_iommu=fullflush",
            "iommu.passthrough=0",
            "systemd.gpt_auto=0",
            "systemd.gpt_auto=No",
            "rd.systemd.gpt_auto=off",
            "systemd.crash_shell=false",
            "2",
            "quiet",
        ] {
            assert_eq!(check(ok), None, "{ok}");
        }
        for (bad, want) in [
            ("module.sig_enforce=0", CmdlineCheck::ModuleSig),
            ("module.sig_enforce=off", CmdlineCheck::ModuleSig),
            ("module.sig_enforce=N", CmdlineCheck::ModuleSig),
            ("module.sig_enforce=", CmdlineCheck::ModuleSig),
            ("lockdown=none", CmdlineCheck::Lockdown),
            ("lockdown", CmdlineCheck::Lockdown),
            ("lockdown=Integrity", CmdlineCheck::Lockdown),
            ("iommu=off", CmdlineCheck::Iommu),
            ("iommu=force,off", CmdlineCheck::Iommu),
            ("iommu=pt", CmdlineCheck::Iommu),
            ("intel_iommu=off", CmdlineCheck::Iommu),
            ("amd-iommu=off", CmdlineCheck::Iommu),
            ("iommu.passthrough=1", CmdlineCheck::Iommu),
            ("iommu.passthrough", CmdlineCheck::Iommu),
            ("systemd.gpt_auto", CmdlineCheck::GptAuto),
            ("systemd.gpt_auto=1", CmdlineCheck::GptAuto),
            ("systemd.gpt_auto=yes", CmdlineCheck::GptAuto),
            ("systemd.gpt_auto=TRUE", CmdlineCheck::GptAuto),
            ("rd.systemd.gpt_auto=on", CmdlineCheck::GptAuto),
            ("systemd.crash_shell", CmdlineCheck::DebugShell),
            ("systemd.debug_shell=0", CmdlineCheck::DebugShell),
            ("rd.systemd.debug_shell=/dev/tty1", CmdlineCheck::DebugShell),
            ("s", CmdlineCheck::Rescue),
            ("-b", CmdlineCheck::Rescue),
            ("rd.systemd.unit=emergency.target", CmdlineCheck::Unit),
            ("systemd.wants=debug-shell.service", CmdlineCheck::Unit),
            ("systemd.mask=clip-status.service", CmdlineCheck::Unit),
            ("systemd.run=/bin/sh", CmdlineCheck::Run),
            ("initrd=\\EFI\\x.img", CmdlineCheck::Initrd),
            ("rdinit=/bin/sh", CmdlineCheck::Init),
        ] {
            assert_eq!(check(bad), Some(want), "{bad}");
        }
    }
}
