//! Gathering the verified-boot report from the running system.
//!
//! Every check records what it found and, when it could not look, why
//! (`errors`, exit 1); a finding that breaks the verified-boot promise goes
//! to `problems` (exit 3): Secure Boot off, root not a verified dm-verity
//! device or not the one the signed command line names, root writable, a
//! state path not mounted with its options.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use anyhow::Context;
use contract::{BootParams, StateConfig};

use crate::parse::{self, Mount};

/// EFI global variable GUID (UEFI 2.10 §3.3).
const EFI_GLOBAL: &str = "8be4df61-93ca-11d2-aa0d-00e098032b8c";

/// Where the report's inputs are; [`Paths::under`] moves them all below a
/// directory (tests).
#[derive(Debug, Clone)]
pub struct Paths {
    pub root: PathBuf,
    /// Only for the real root: talk to device-mapper.
    pub device_mapper: bool,
}

impl Paths {
    pub fn system() -> Self {
        Paths {
            root: PathBuf::from("/"),
            device_mapper: true,
        }
    }

    pub fn under(root: &Path) -> Self {
        Paths {
            root: root.to_owned(),
            device_mapper: false,
        }
    }

    pub fn at(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Status {
    pub secure_boot: SecureBoot,
    /// The running release: os-release's `VERSION_ID` (the root's
    /// /usr/lib/os-release, which the verified root carries).
    pub version: Option<String>,
    pub slot: Option<String>,
    pub root_hash: Option<String>,
    pub root: Root,
    pub state_mounts: Vec<StateMount>,
    /// The device under the state mounts.
    pub state_volume: StateVolume,
    pub boot_count: Option<u64>,
    /// What the product's hardening declared and the kernel reports
    /// (absent for an image that declares none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hardening: Option<crate::hardening::Hardening>,
    /// No problem and no error: the boot is verified end to end.
    pub verified: bool,
    pub problems: Vec<String>,
    pub errors: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct SecureBoot {
    /// "enabled", "disabled", "not_uefi" or "unknown".
    pub state: &'static str,
    pub setup_mode: Option<bool>,
    /// "efivarfs" or "kernel log".
    pub source: Option<&'static str>,
}

#[derive(Debug, Default, Serialize)]
pub struct Root {
    /// major:minor of the device mounted on /.
    pub device: Option<String>,
    pub fs_type: Option<String>,
    pub source: Option<String>,
    pub mount_options: Vec<String>,
    pub dm_name: Option<String>,
    pub dm_uuid: Option<String>,
    /// "verified" (V), "corrupted" (C), "not_device_mapper" or "unknown".
    pub verity: &'static str,
    /// The root hash in the active device-mapper table.
    pub table_root_hash: Option<String>,
    pub read_only: Option<bool>,
    /// What creating /.clip-status-probe gave: "EROFS" expected.
    pub write_probe: Option<String>,
}

/// The block device the state paths are mounted from: dm-crypt with
/// authentication (over dm-integrity) is what the system promises.
#[derive(Debug, Default, Serialize)]
pub struct StateVolume {
    /// `major:minor`.
    pub device: Option<String>,
    pub dm_name: Option<String>,
    /// dm-crypt's cipher, e.g. `capi:authenc(hmac(sha256),xts(aes))-plain64`.
    pub cipher: Option<String>,
    /// Bytes of authentication tag per sector (`integrity:<n>:aead`).
    pub integrity_tag_size: Option<u32>,
    /// The volume key is held by the kernel keyring, not written in the table.
    pub key_in_keyring: Option<bool>,
    /// Encrypted and authenticated.
    pub ok: bool,
}

#[derive(Debug, Serialize)]
pub struct StateMount {
    pub path: String,
    pub mounted: bool,
    pub fs_type: Option<String>,
    pub source: Option<String>,
    pub options: Vec<String>,
    pub expected: Vec<String>,
    pub missing: Vec<String>,
    pub ok: bool,
}

pub fn gather(paths: &Paths, count_boot: bool) -> Status {
    let mut s = Status::default();
    secure_boot(paths, &mut s);
    if let Some(text) = read_text(&paths.at("/usr/lib/os-release"), &mut s.errors) {
        s.version = os_release_value(&text, "VERSION_ID");
        if s.version.is_none() {
            s.errors
                .push("/usr/lib/os-release has no VERSION_ID".into());
        }
    }
    let cmdline = read_text(&paths.at("/proc/cmdline"), &mut s.errors).unwrap_or_default();
    match BootParams::parse(&cmdline) {
        Ok(p) => {
            s.slot = Some(p.slot.to_string());
            s.root_hash = Some(p.root_hash_hex());
        }
        Err(e) => s.problems.push(e.to_string()),
    }
    let mounts = read_text(&paths.at("/proc/self/mountinfo"), &mut s.errors)
        .map(|t| parse::mountinfo(&t))
        .transpose()
        .unwrap_or_else(|e| {
            s.errors.push(e.to_string());
            None
        })
        .unwrap_or_default();
    root(paths, &mounts, &mut s);
    state_mounts(paths, &mounts, &mut s);
    state_volume(paths, &mounts, &mut s);
    boot_count(paths, count_boot, &mut s);
    s.hardening =
        crate::hardening::gather(paths, paths.device_mapper, &mut s.problems, &mut s.errors);
    s.verified = s.problems.is_empty() && s.errors.is_empty();
    s
}

/// The value of `key` in os-release text (os-release(5): `KEY=value`, the
/// value possibly in single or double quotes, `\` escaping `"`, `\`, `$`
/// and `` ` `` inside double quotes). The last assignment wins, as in a
/// shell.
pub fn os_release_value(text: &str, key: &str) -> Option<String> {
    let mut found = None;
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once('=') else {
            continue;
        };
        if k != key {
            continue;
        }
        let v = if let Some(inner) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    out.extend(chars.next());
                } else {
                    out.push(c);
                }
            }
            out
        } else if let Some(inner) = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            inner.to_owned()
        } else {
            v.to_owned()
        };
        found = Some(v);
    }
    found.filter(|v| !v.is_empty())
}

fn read_text(path: &Path, errors: &mut Vec<String>) -> Option<String> {
    std::fs::read_to_string(path)
        .map_err(|e| errors.push(format!("cannot read {}: {e}", path.display())))
        .ok()
}

fn secure_boot(paths: &Paths, s: &mut Status) {
    if !paths.at("/sys/firmware/efi").is_dir() {
        s.secure_boot.state = "not_uefi";
        s.problems
            .push("not booted by UEFI firmware: no Secure Boot".into());
        return;
    }
    let vars = paths.at("/sys/firmware/efi/efivars");
    let var = |name: &str| std::fs::read(vars.join(format!("{name}-{EFI_GLOBAL}")));
    match var("SecureBoot") {
        Ok(bytes) => match parse::efi_bool(&bytes) {
            Ok(on) => {
                s.secure_boot.state = if on { "enabled" } else { "disabled" };
                s.secure_boot.source = Some("efivarfs");
            }
            Err(e) => {
                s.secure_boot.state = "unknown";
                s.errors.push(format!("SecureBoot variable: {e}"));
            }
        },
        Err(e) => {
            // efivarfs not mounted (it is a module in Debian): what the
            // kernel logged at boot from the same variable.
            s.secure_boot.state = kernel_log_secure_boot(paths).unwrap_or_else(|| {
                s.errors.push(format!(
                    "cannot read the SecureBoot variable in {}: {e}",
                    vars.display()
                ));
                "unknown"
            });
            if s.secure_boot.state != "unknown" {
                s.secure_boot.source = Some("kernel log");
            }
        }
    }
    s.secure_boot.setup_mode = var("SetupMode").ok().and_then(|b| parse::efi_bool(&b).ok());
    if s.secure_boot.state == "disabled" {
        s.problems.push("Secure Boot is disabled".into());
    }
}

/// "enabled"/"disabled" from the kernel's "secureboot: Secure boot ..."
/// line in /dev/kmsg (arch/x86/kernel/setup.c).
fn kernel_log_secure_boot(paths: &Paths) -> Option<&'static str> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut kmsg = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits().try_into().ok()?)
        .open(paths.at("/dev/kmsg"))
        .ok()?;
    let mut buf = vec![0u8; 8192];
    for _ in 0..100_000 {
        // One record per read; EAGAIN once drained, EPIPE if overwritten.
        match kmsg.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => {
                let record = String::from_utf8_lossy(&buf[..n]);
                if record.contains("Secure boot enabled") {
                    return Some("enabled");
                }
                if record.contains("Secure boot disabled") {
                    return Some("disabled");
                }
            }
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::PIPE.raw_os_error()) => {}
            Err(_) => return None,
        }
    }
    None
}

fn root(paths: &Paths, mounts: &[Mount], s: &mut Status) {
    s.root.verity = "unknown";
    let Some(m) = parse::mount_at(mounts, "/") else {
        s.errors.push("no mount on / in mountinfo".into());
        return;
    };
    s.root.device = Some(format!("{}:{}", m.major, m.minor));
    s.root.fs_type = Some(m.fs_type.clone());
    s.root.source = Some(m.source.clone());
    s.root.mount_options = m.options.clone();
    let dm = paths.at(&format!("/sys/dev/block/{}:{}/dm", m.major, m.minor));
    let attr = |name: &str| {
        std::fs::read_to_string(dm.join(name))
            .ok()
            .map(|v| v.trim().to_owned())
    };
    s.root.dm_name = attr("name");
    s.root.dm_uuid = attr("uuid").filter(|u| !u.is_empty());
    match s.root.dm_name.clone() {
        None => {
            s.root.verity = "not_device_mapper";
            s.problems.push(format!(
                "/ is on {}:{} ({}), not a device-mapper (dm-verity) device",
                m.major, m.minor, m.source
            ));
        }
        Some(name) if paths.device_mapper => verity(&name, s),
        Some(_) => s
            .errors
            .push("device-mapper status not queried (--root given)".into()),
    }
    match (&s.root.table_root_hash, &s.root_hash) {
        (Some(table), Some(cmdline)) if table != cmdline => s.problems.push(format!(
            "the root device's verity table has root hash {table}, the signed command line {cmdline}"
        )),
        _ => {}
    }
    write_probe(paths, s);
}

fn verity(name: &str, s: &mut Status) {
    let control = match sys::dm::Control::open() {
        Ok(c) => c,
        Err(e) => {
            s.errors
                .push(format!("cannot open {}: {e}", sys::dm::CONTROL));
            return;
        }
    };
    let query = |table: bool| -> anyhow::Result<Vec<u8>> {
        let req = dm::request::table_status(name, table, dm::request::STATUS_BUFFER_SIZE)?;
        control
            .call(&req)
            .with_context(|| format!("device-mapper TABLE_STATUS of {name}"))
    };
    let status = query(false).and_then(|r| {
        dm::verity_status(&r).with_context(|| format!("{name}: not a dm-verity status"))
    });
    match status {
        Ok(dm::VerityStatus::Verified) => s.root.verity = "verified",
        Ok(dm::VerityStatus::Corrupted) => {
            s.root.verity = "corrupted";
            s.problems
                .push(format!("dm-verity reports corruption on {name} (status C)"));
        }
        Err(e) => {
            s.problems
                .push(format!("root is not a verified dm-verity device: {e:#}"));
        }
    }
    match query(true) {
        Ok(reply) => {
            let hash = dm::Reply::parse(&reply)
                .ok()
                .and_then(|r| r.targets().ok())
                .and_then(|t| {
                    let [target] = t.as_slice() else { return None };
                    (target.target_type == "verity")
                        .then(|| parse::verity_table_root_hash(target.params))
                        .flatten()
                        .map(str::to_owned)
                });
            s.root.table_root_hash = hash;
        }
        Err(e) => s.errors.push(format!("{e:#}")),
    }
}

/// The device under the first state mount: must be dm-crypt with an
/// integrity tag per sector.
fn state_volume(paths: &Paths, mounts: &[Mount], s: &mut Status) {
    let Some(m) = s
        .state_mounts
        .iter()
        .find(|m| m.mounted)
        .and_then(|sm| parse::mount_at(mounts, &sm.path))
    else {
        return;
    };
    let v = &mut s.state_volume;
    v.device = Some(format!("{}:{}", m.major, m.minor));
    let name = std::fs::read_to_string(
        paths.at(&format!("/sys/dev/block/{}:{}/dm/name", m.major, m.minor)),
    )
    .ok()
    .map(|n| n.trim().to_owned());
    v.dm_name = name.clone();
    let Some(name) = name else {
        s.problems.push(format!(
            "the state is mounted from {}:{} ({}), not a device-mapper (dm-crypt) device",
            m.major, m.minor, m.source
        ));
        return;
    };
    if !paths.device_mapper {
        s.errors
            .push("device-mapper table of the state not queried (--root given)".into());
        return;
    }
    let table = sys::dm::Control::open()
        .context("cannot open the device-mapper control device")
        .and_then(|control| {
            let req = dm::request::table_status(&name, true, dm::request::STATUS_BUFFER_SIZE)?;
            control
                .call(&req)
                .with_context(|| format!("device-mapper TABLE_STATUS of {name}"))
        })
        .and_then(|reply| {
            let reply = dm::Reply::parse(&reply)?;
            let targets = reply.targets()?;
            let [t] = targets.as_slice() else {
                anyhow::bail!("{name} has {} targets, expected one", targets.len());
            };
            anyhow::ensure!(
                t.target_type == "crypt",
                "{name} is a {} device, not crypt",
                t.target_type
            );
            parse::crypt_table(t.params).with_context(|| format!("{name}: unreadable crypt table"))
        });
    match table {
        Ok(t) => {
            v.ok = t.integrity_tag_size.is_some();
            if !v.ok {
                s.problems.push(format!(
                    "the state volume {name} is encrypted ({}) but not authenticated (no integrity tags)",
                    t.cipher
                ));
            }
            v.cipher = Some(t.cipher);
            v.integrity_tag_size = t.integrity_tag_size;
            v.key_in_keyring = Some(t.key_in_keyring);
        }
        Err(e) => s.problems.push(format!(
            "the state volume is not an authenticated dm-crypt device: {e:#}"
        )),
    }
}

/// Creating a file on / must fail with EROFS. An existing probe file is
/// opened for writing instead (that must fail the same way), never changed.
fn write_probe(paths: &Paths, s: &mut Status) {
    let probe = paths.at("/.clip-status-probe");
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe);
    let result = match created {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::OpenOptions::new()
            .write(true)
            .open(&probe)
            .map(drop),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            s.root.read_only = Some(false);
            s.root.write_probe = Some("created".into());
            s.problems.push(format!(
                "/ is writable: {} could be created",
                probe.display()
            ));
        }
        Err(e) => {
            let name = errno_name(&e);
            s.root.read_only = Some(name == "EROFS");
            if name != "EROFS" {
                s.problems.push(format!(
                    "writing {} failed with {name}, not EROFS: / is not shown read-only",
                    probe.display()
                ));
            }
            s.root.write_probe = Some(name);
        }
    }
}

fn errno_name(e: &std::io::Error) -> String {
    use rustix::io::Errno;
    let Some(code) = e.raw_os_error() else {
        return e.to_string();
    };
    let known = [
        (Errno::ROFS, "EROFS"),
        (Errno::ACCESS, "EACCES"),
        (Errno::PERM, "EPERM"),
        (Errno::NOENT, "ENOENT"),
        (Errno::NOSPC, "ENOSPC"),
        (Errno::IO, "EIO"),
    ];
    known
        .iter()
        .find(|(errno, _)| errno.raw_os_error() == code)
        .map_or_else(|| format!("errno {code}"), |(_, n)| (*n).to_owned())
}

fn state_mounts(paths: &Paths, mounts: &[Mount], s: &mut Status) {
    let file = paths.at("/usr/lib/clip/state.json");
    let Some(text) = read_text(&file, &mut s.errors) else {
        return;
    };
    let config = match StateConfig::parse(&text) {
        Ok(c) => c,
        Err(e) => {
            s.errors.push(format!("{}: {e}", file.display()));
            return;
        }
    };
    for p in config.paths {
        let m = parse::mount_at(mounts, &p.path);
        let options = m.map(|m| m.options.clone()).unwrap_or_default();
        // Writable, with every option the product asks for.
        let missing: Vec<String> = std::iter::once("rw".to_owned())
            .chain(p.options.iter().map(|o| o.as_str().to_owned()))
            .filter(|o| !options.contains(o))
            .collect();
        let ok = m.is_some() && missing.is_empty();
        if m.is_none() {
            s.problems
                .push(format!("state path {} is not a mount point", p.path));
        } else if !missing.is_empty() {
            s.problems.push(format!(
                "state path {} is mounted without {}",
                p.path,
                missing.join(",")
            ));
        }
        s.state_mounts.push(StateMount {
            path: p.path,
            mounted: m.is_some(),
            fs_type: m.map(|m| m.fs_type.clone()),
            source: m.map(|m| m.source.clone()),
            options,
            expected: p.options.iter().map(|o| o.as_str().to_owned()).collect(),
            missing,
            ok,
        });
    }
}

/// Reads /var/lib/clip/boot-count; with `count`, adds one unless this boot
/// (kernel boot_id, kept in boot-count.boot-id) was counted already.
fn boot_count(paths: &Paths, count: bool, s: &mut Status) {
    let file = paths.at("/var/lib/clip/boot-count");
    let current = match std::fs::read_to_string(&file) {
        Ok(t) => match parse::boot_count(&t) {
            Ok(n) => Some(n),
            Err(e) => {
                s.errors.push(format!("{}: {e}", file.display()));
                return;
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            s.errors
                .push(format!("cannot read {}: {e}", file.display()));
            return;
        }
    };
    s.boot_count = current;
    if !count {
        return;
    }
    let id_file = paths.at("/var/lib/clip/boot-count.boot-id");
    let boot_id = std::fs::read_to_string(paths.at("/proc/sys/kernel/random/boot_id"))
        .map(|t| t.trim().to_owned())
        .unwrap_or_default();
    let counted =
        !boot_id.is_empty() && std::fs::read_to_string(&id_file).is_ok_and(|t| t.trim() == boot_id);
    if counted && current.is_some() {
        return;
    }
    let next = current.unwrap_or(0).saturating_add(1);
    let written = crate::atomic::write(&file, format!("{next}\n").as_bytes())
        .and_then(|()| crate::atomic::write(&id_file, format!("{boot_id}\n").as_bytes()));
    match written {
        Ok(()) => s.boot_count = Some(next),
        Err(e) => s
            .errors
            .push(format!("cannot update {}: {e}", file.display())),
    }
}

#[cfg(test)]
mod os_release_tests {
    use super::os_release_value;

    #[test]
    fn values_quoted_or_not() {
        let text = "NAME=\"CLIP OS\"\nVERSION_ID=5.0.0-alpha.1\nID='clipos'\nX=\"a\\\"b\"\n";
        assert_eq!(
            os_release_value(text, "VERSION_ID").as_deref(),
            Some("5.0.0-alpha.1")
        );
        assert_eq!(os_release_value(text, "NAME").as_deref(), Some("CLIP OS"));
        assert_eq!(os_release_value(text, "ID").as_deref(), Some("clipos"));
        assert_eq!(os_release_value(text, "X").as_deref(), Some("a\"b"));
        assert_eq!(os_release_value(text, "VERSION"), None);
        assert_eq!(os_release_value("VERSION_ID=\"\"\n", "VERSION_ID"), None);
    }
}
