//! OVMF firmware files and Secure Boot variable stores.
//!
//! Debian's `ovmf` package ships the 4 MiB flash layout: the code volume
//! `OVMF_CODE_4M.secboot.fd` (Secure Boot capable, needs SMM) and an empty
//! variable store `OVMF_VARS_4M.fd`. With no Platform Key the firmware is in
//! Setup Mode and verifies nothing (UEFI 2.10 §32.3). [`enroll`] writes a
//! copy of the store with PK, KEK and db certificates enrolled and Secure
//! Boot turned on, using `virt-fw-vars` from python3-virt-firmware
//! (bookworm-backports).

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::{QemuError, io_err, which};

/// Where Debian installs OVMF; `CLIP_OVMF_DIR` overrides it.
pub const OVMF_DIR: &str = "/usr/share/OVMF";
/// Secure Boot capable code volume (read-only flash).
pub const OVMF_CODE_SECBOOT: &str = "OVMF_CODE_4M.secboot.fd";
/// Empty variable store (no keys: Setup Mode, Secure Boot off).
pub const OVMF_VARS: &str = "OVMF_VARS_4M.fd";

/// The firmware of a VM: a code volume and a variable store template, which
/// each run copies (the firmware writes to its variables).
#[derive(Debug, Clone)]
pub struct Firmware {
    pub code: PathBuf,
    pub vars: PathBuf,
    /// The code volume implements Secure Boot: QEMU must run it with SMM and
    /// with the flash writable only from SMM.
    pub secure: bool,
}

impl Firmware {
    /// OVMF's Secure Boot build with the empty variable store.
    pub fn ovmf_secboot() -> Result<Self, QemuError> {
        let dir = std::env::var_os("CLIP_OVMF_DIR")
            .map_or_else(|| PathBuf::from(OVMF_DIR), PathBuf::from);
        let fw = Firmware {
            code: dir.join(OVMF_CODE_SECBOOT),
            vars: dir.join(OVMF_VARS),
            secure: true,
        };
        for path in [&fw.code, &fw.vars] {
            if !path.is_file() {
                return Err(QemuError::FirmwareMissing { path: path.clone() });
            }
        }
        Ok(fw)
    }

    /// The same firmware with another variable store template.
    pub fn with_vars(mut self, vars: impl Into<PathBuf>) -> Self {
        self.vars = vars.into();
        self
    }
}

/// Certificates (PEM or DER, one per file) to enroll, all with one owner GUID.
#[derive(Debug, Clone)]
pub struct SecureBootKeys {
    /// Signature owner GUID (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`).
    pub owner: String,
    pub pk: PathBuf,
    pub kek: Vec<PathBuf>,
    pub db: Vec<PathBuf>,
}

impl SecureBootKeys {
    /// The `virt-fw-vars` arguments enrolling these keys and enabling Secure Boot.
    fn args(&self) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = vec![
            "--set-pk".into(),
            self.owner.clone().into(),
            self.pk.clone().into(),
        ];
        for (flag, certs) in [("--add-kek", &self.kek), ("--add-db", &self.db)] {
            for cert in certs {
                args.extend([flag.into(), self.owner.clone().into(), cert.clone().into()]);
            }
        }
        args.push("--secure-boot".into());
        args
    }

    fn check(&self) -> Result<(), QemuError> {
        if !is_guid(&self.owner) {
            return Err(QemuError::Config(format!(
                "owner GUID {:?} is not of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
                self.owner
            )));
        }
        if self.kek.is_empty() || self.db.is_empty() {
            return Err(QemuError::Config(
                "at least one KEK and one db certificate are needed".into(),
            ));
        }
        for cert in std::iter::once(&self.pk).chain(&self.kek).chain(&self.db) {
            let bytes = std::fs::read(cert).map_err(io_err("read certificate", cert))?;
            // virt-fw-vars reads PEM (its first certificate) or DER, as keyfile does.
            match keyfile::certificates(&bytes) {
                Ok(certs) if certs.len() == 1 => {}
                Ok(certs) => {
                    return Err(QemuError::Config(format!(
                        "{} holds {} certificates and virt-fw-vars would enrol only the \
                         first; give each certificate its own file",
                        cert.display(),
                        certs.len()
                    )));
                }
                Err(e) => {
                    return Err(QemuError::Config(format!(
                        "{} is not a usable certificate: {e}",
                        cert.display()
                    )));
                }
            }
        }
        Ok(())
    }
}

fn is_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Writes `out`: `template` with `keys` enrolled and Secure Boot enabled.
/// `out` appears only once complete.
pub fn enroll(template: &Path, keys: &SecureBootKeys, out: &Path) -> Result<(), QemuError> {
    keys.check()?;
    if !template.is_file() {
        return Err(QemuError::FirmwareMissing {
            path: template.to_owned(),
        });
    }
    let tool = std::env::var("CLIP_VIRT_FW_VARS").unwrap_or_else(|_| "virt-fw-vars".into());
    let tool_path = which(&tool).ok_or_else(|| QemuError::NotFound {
        program: tool.clone(),
        package: "python3-virt-firmware (bookworm-backports)",
    })?;
    let dir = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".vars-")
        .tempfile_in(dir)
        .map_err(io_err("create a temporary file in", dir))?;
    // A Debian Python tool: run it with Debian's interpreter, not one on $PATH.
    let python = Path::new("/usr/bin/python3");
    let mut cmd = if python.is_file() {
        let mut c = Command::new(python);
        c.arg(&tool_path);
        c
    } else {
        Command::new(&tool_path)
    };
    cmd.arg("--input")
        .arg(template)
        .arg("--output")
        .arg(tmp.path())
        .args(keys.args());
    tracing::debug!(?cmd, "enrolling Secure Boot keys");
    let output = cmd.output().map_err(|error| QemuError::Spawn {
        program: tool_path.display().to_string(),
        error,
    })?;
    if !output.status.success() {
        return Err(QemuError::ToolFailed {
            program: tool_path.display().to_string(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    tmp.persist(out).map_err(|e| QemuError::Io {
        action: "write",
        path: out.to_owned(),
        error: e.error,
    })?;
    Ok(())
}

/// Like [`enroll`], but keeps the result in `cache_dir`, named by the
/// SHA-256 of the template and the certificates, and reuses it.
pub fn enroll_cached(
    template: &Path,
    keys: &SecureBootKeys,
    cache_dir: &Path,
) -> Result<PathBuf, QemuError> {
    keys.check()?;
    let mut h = Sha256::new();
    let mut add = |label: &str, path: &Path| -> Result<(), QemuError> {
        let data = std::fs::read(path).map_err(io_err("read", path))?;
        h.update(label.as_bytes());
        h.update(u64::try_from(data.len()).unwrap_or(u64::MAX).to_le_bytes());
        h.update(&data);
        Ok(())
    };
    add("template", template)?;
    add("pk", &keys.pk)?;
    for k in &keys.kek {
        add("kek", k)?;
    }
    for d in &keys.db {
        add("db", d)?;
    }
    h.update(keys.owner.to_ascii_lowercase().as_bytes());
    let out = cache_dir.join(format!("{}.fd", hex::encode(h.finalize())));
    if out.is_file() {
        tracing::debug!(path = %out.display(), "enrolled variable store from cache");
        return Ok(out);
    }
    std::fs::create_dir_all(cache_dir).map_err(io_err("create", cache_dir))?;
    enroll(template, keys, &out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_syntax() {
        assert!(is_guid("0b2f1ea4-3dc6-4e43-a2e8-0c1a8e5e9a6b"));
        assert!(!is_guid("0b2f1ea4-3dc6-4e43-a2e8-0c1a8e5e9a6"));
        assert!(!is_guid("0b2f1ea43dc64e43a2e80c1a8e5e9a6b"));
        assert!(!is_guid("zb2f1ea4-3dc6-4e43-a2e8-0c1a8e5e9a6b"));
    }

    #[test]
    fn arguments_enroll_every_certificate_and_enable_secure_boot() {
        let keys = SecureBootKeys {
            owner: "0b2f1ea4-3dc6-4e43-a2e8-0c1a8e5e9a6b".into(),
            pk: "PK.crt".into(),
            kek: vec!["KEK.crt".into()],
            db: vec!["db1.crt".into(), "db2.crt".into()],
        };
        let args: Vec<String> = keys
            .args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let g = "0b2f1ea4-3dc6-4e43-a2e8-0c1a8e5e9a6b";
        assert_eq!(
            args,
            [
                "--set-pk",
                g,
                "PK.crt",
                "--add-kek",
                g,
                "KEK.crt",
                "--add-db",
                g,
                "db1.crt",
                "--add-db",
                g,
                "db2.crt",
                "--secure-boot"
            ]
        );
    }

    #[test]
    fn rejects_unusable_certificates_and_bundles() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("x.der");
        std::fs::write(&bad, [0x30, 0x82, 0x01]).unwrap();
        let bundle = dir.path().join("bundle.crt");
        std::fs::write(
            &bundle,
            include_bytes!("../../keyfile/tests/fixtures/bundle.crt"),
        )
        .unwrap();
        for (file, phrase) in [
            (&bad, "x.der is not a usable certificate: neither PEM"),
            (&bundle, "bundle.crt holds 2 certificates"),
        ] {
            let keys = SecureBootKeys {
                owner: "0b2f1ea4-3dc6-4e43-a2e8-0c1a8e5e9a6b".into(),
                pk: file.clone(),
                kek: vec![file.clone()],
                db: vec![file.clone()],
            };
            let err =
                enroll(Path::new("/nonexistent"), &keys, &dir.path().join("out")).unwrap_err();
            assert!(err.to_string().contains(phrase), "{err}");
            assert!(!dir.path().join("out").exists());
        }
    }
}
