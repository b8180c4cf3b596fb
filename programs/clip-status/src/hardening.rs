//! The hardening the product declared, as the running kernel reports it
//! (issue 10): the sysctls of `[sysctl]` read back from /proc/sys, the
//! lockdown mode from securityfs, and calls a hardened kernel must refuse
//! (kexec, module loading, io_uring, /dev/mem, /dev/port, /proc/kcore,
//! ptrace of another user's process) made for real and their errno
//! reported. The expectations are `/usr/lib/clip/hardening.json`, written
//! by `clip build` into the verified root; an image without it gets no
//! hardening section.

use std::collections::BTreeMap;
use std::io;

use serde::{Deserialize, Serialize};

use crate::report::Paths;

/// Where `clip build` puts the expectations.
pub const EXPECTED: &str = "/usr/lib/clip/hardening.json";

/// The file's contents.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expected {
    /// Dotted name → value as sysctl.d writes it.
    #[serde(default)]
    pub sysctl: BTreeMap<String, String>,
    /// `none`, `integrity` or `confidentiality`; absent: not checked.
    #[serde(default)]
    pub lockdown: Option<String>,
}

/// Kept short: the report is one console line, and a line longer than the
/// tty's 4096-byte write chunk can be split by another process's output
/// (seen: systemd's status line inside CLIP-STATUS). So the sysctls are
/// counted, and only those that differ are listed.
#[derive(Debug, Default, Serialize)]
pub struct Hardening {
    /// The mode in /sys/kernel/security/lockdown (the bracketed one).
    pub lockdown: Option<String>,
    pub lockdown_expected: Option<String>,
    /// How many sysctls the product sets, and how many read back equal.
    pub sysctl_checked: usize,
    pub sysctl_ok: usize,
    /// The ones that do not.
    pub sysctl_differences: Vec<Sysctl>,
    pub probes: Vec<Probe>,
}

#[derive(Debug, Serialize)]
pub struct Sysctl {
    pub name: String,
    pub expected: String,
    /// What /proc/sys says, whitespace runs as one space.
    pub actual: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Probe {
    pub name: &'static str,
    /// `refused: ENOSYS`, `allowed`, or `not run: …`.
    pub outcome: String,
    #[serde(skip)]
    pub refused: bool,
}

/// `None` when the image declares nothing. `live`: make the probe calls
/// (only on the running system, not under `--root`).
pub fn gather(
    paths: &Paths,
    live: bool,
    problems: &mut Vec<String>,
    errors: &mut Vec<String>,
) -> Option<Hardening> {
    let path = paths.at(EXPECTED);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return None,
        Err(e) => {
            errors.push(format!("cannot read {}: {e}", path.display()));
            return None;
        }
    };
    let expected: Expected = match serde_json::from_str(&text) {
        Ok(e) => e,
        Err(e) => {
            errors.push(format!("{}: {e}", path.display()));
            return None;
        }
    };
    let mut h = Hardening {
        lockdown_expected: expected.lockdown.clone(),
        ..Hardening::default()
    };
    let lockdown_path = paths.at("/sys/kernel/security/lockdown");
    match std::fs::read_to_string(&lockdown_path) {
        Ok(t) => h.lockdown = selected_mode(&t),
        Err(e) => errors.push(format!("cannot read {}: {e}", lockdown_path.display())),
    }
    if let Some(want) = &expected.lockdown {
        if h.lockdown.as_deref() != Some(want.as_str()) {
            problems.push(format!(
                "hardening: the kernel's lockdown mode is {}, the product requires {want}",
                h.lockdown.as_deref().unwrap_or("unknown")
            ));
        }
    }
    for (name, want) in &expected.sysctl {
        let file = paths.at(&format!("/proc/sys/{}", name.replace('.', "/")));
        let actual = std::fs::read_to_string(&file).ok().map(|t| normalize(&t));
        h.sysctl_checked += 1;
        if actual.as_deref() == Some(normalize(want).as_str()) {
            h.sysctl_ok += 1;
            continue;
        }
        problems.push(format!(
            "hardening: sysctl {name} is {}, the product sets {want}",
            actual.as_deref().unwrap_or("unreadable")
        ));
        h.sysctl_differences.push(Sysctl {
            name: name.clone(),
            expected: want.clone(),
            actual,
        });
    }
    if live {
        h.probes = probes();
        for p in h.probes.iter().filter(|p| !p.refused) {
            problems.push(format!(
                "hardening: the kernel allowed {} ({})",
                p.name, p.outcome
            ));
        }
    }
    Some(h)
}

/// `none integrity [confidentiality]` → `confidentiality`.
pub fn selected_mode(text: &str) -> Option<String> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix('[')?.strip_suffix(']'))
        .map(str::to_owned)
}

fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn probes() -> Vec<Probe> {
    let mut out = vec![
        probe("kexec_load", sys::probe::kexec_load()),
        probe("kexec_file_load", sys::probe::kexec_file_load()),
        probe("finit_module", sys::probe::finit_module()),
        probe("io_uring_setup", sys::probe::io_uring_setup()),
    ];
    for (name, path) in [
        ("open /dev/mem", "/dev/mem"),
        ("open /dev/port", "/dev/port"),
        ("open /proc/kcore", "/proc/kcore"),
    ] {
        out.push(probe(name, std::fs::File::open(path).map(drop)));
    }
    out.push(ptrace_other_user());
    out
}

/// Root attaching to a process of user 65534: refused only by Yama's
/// ptrace scope 3 ("no attach"), since root has CAP_SYS_PTRACE.
fn ptrace_other_user() -> Probe {
    use std::os::unix::process::CommandExt;
    let name = "ptrace another user's process";
    let child = std::process::Command::new("/usr/bin/sleep")
        .arg("30")
        .uid(65534)
        .gid(65534)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return Probe {
                name,
                outcome: format!("not run: cannot start /usr/bin/sleep as user 65534: {e}"),
                refused: false,
            };
        }
    };
    let result = sys::probe::ptrace_attach(child.id());
    let _ = child.kill();
    let _ = child.wait();
    probe(name, result)
}

fn probe(name: &'static str, result: io::Result<()>) -> Probe {
    match result {
        Ok(()) => Probe {
            name,
            outcome: "allowed".into(),
            refused: false,
        },
        Err(e) => Probe {
            name,
            outcome: format!("refused: {}", errno_name(&e)),
            refused: true,
        },
    }
}

fn errno_name(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(libc::ENOSYS) => "ENOSYS",
        Some(libc::EPERM) => "EPERM",
        Some(libc::EACCES) => "EACCES",
        Some(libc::ENOENT) => "ENOENT",
        Some(libc::ENXIO) => "ENXIO",
        Some(libc::ENODEV) => "ENODEV",
        Some(libc::EBADF) => "EBADF",
        Some(libc::EINVAL) => "EINVAL",
        Some(libc::EOPNOTSUPP) => "EOPNOTSUPP",
        Some(libc::EKEYREJECTED) => "EKEYREJECTED",
        _ => return e.to_string(),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lockdown_mode() {
        assert_eq!(
            selected_mode("none integrity [confidentiality]\n").as_deref(),
            Some("confidentiality")
        );
        assert_eq!(
            selected_mode("[none] integrity confidentiality").as_deref(),
            Some("none")
        );
        assert_eq!(selected_mode(""), None);
    }

    #[test]
    fn sysctls_and_lockdown_are_compared_under_a_root() {
        let dir = tempfile::tempdir().unwrap();
        let at = |p: &str| dir.path().join(p);
        std::fs::create_dir_all(at("usr/lib/clip")).unwrap();
        std::fs::create_dir_all(at("proc/sys/kernel")).unwrap();
        std::fs::create_dir_all(at("proc/sys/net/ipv4")).unwrap();
        std::fs::create_dir_all(at("sys/kernel/security")).unwrap();
        std::fs::write(
            at("usr/lib/clip/hardening.json"),
            r#"{"sysctl":{"kernel.kptr_restrict":"2","net.ipv4.ip_local_port_range":"32768 60999","kernel.yama.ptrace_scope":"3"},"lockdown":"confidentiality"}"#,
        )
        .unwrap();
        std::fs::write(at("proc/sys/kernel/kptr_restrict"), "2\n").unwrap();
        std::fs::write(
            at("proc/sys/net/ipv4/ip_local_port_range"),
            "32768\t60999\n",
        )
        .unwrap();
        std::fs::write(
            at("sys/kernel/security/lockdown"),
            "none [integrity] confidentiality\n",
        )
        .unwrap();
        let (mut problems, mut errors) = (Vec::new(), Vec::new());
        let h = gather(&Paths::under(dir.path()), false, &mut problems, &mut errors).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            problems,
            [
                "hardening: the kernel's lockdown mode is integrity, the product requires confidentiality",
                "hardening: sysctl kernel.yama.ptrace_scope is unreadable, the product sets 3",
            ]
        );
        assert_eq!((h.sysctl_checked, h.sysctl_ok), (3, 2));
        assert_eq!(h.sysctl_differences[0].name, "kernel.yama.ptrace_scope");
        assert!(h.probes.is_empty());
    }
}
