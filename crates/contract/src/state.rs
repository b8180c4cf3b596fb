//! `/usr/lib/clip/state.json` (issue 4 contract, "Root tree contents added
//! by the builder"): the read-write paths bind-mounted from the state
//! partition over the read-only root. `clip build` writes it from the
//! product's `[[state.paths]]` (same fields, same defaults: the product
//! crate uses these types for its TOML), clip-init applies it and
//! clip-status checks the mounts against it.
//!
//! ```text
//! {"paths":[{"path":"/var/lib","kind":"dir","mode":"0755","owner":"root",
//!            "group":"root","options":["nodev","nosuid","noexec"]}, …]}
//! ```

use serde::{Deserialize, Serialize};

/// Where the file sits in the root tree.
pub const STATE_JSON: &str = "usr/lib/clip/state.json";
/// Factory copies of the state paths, seeding a fresh state partition
/// (systemd's factory convention), in the root tree.
pub const FACTORY_DIR: &str = "usr/share/factory";

/// A state.json (or a state path) that breaks the contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("state.json is not valid: {0}")]
    Json(String),
    #[error("state path {0:?} is not an absolute, normalised path below /")]
    Path(String),
    #[error("state path {path}: mode {mode:?} is not 3 or 4 octal digits")]
    Mode { path: String, mode: String },
    #[error(
        "state path {path}: mode {mode:?} sets the setuid or setgid bit, which the system never \
         allows"
    )]
    SetId { path: String, mode: String },
    #[error("state path {0} is listed twice")]
    Twice(String),
    #[error("recovery hook {0:?} is not under /usr (the verified root)")]
    Hook(String),
    #[error(
        "state encryption cipher {cipher:?} with integrity {integrity:?} is not supported \
         (supported: {})",
        ENCRYPTIONS.iter().map(|(c, i, _, _)| format!("{c} + {i}")).collect::<Vec<_>>().join(", ")
    )]
    Encryption { cipher: String, integrity: String },
    #[error(
        "state path {path}: mount option {} is required (the state partition must never bring \
         SUID files or device nodes into the system)",
        option.as_str()
    )]
    Required { path: String, option: MountOption },
}

/// Options every state path is mounted with, whatever else it asks for.
pub const REQUIRED_OPTIONS: [MountOption; 2] = [MountOption::Nodev, MountOption::Nosuid];

/// `state.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateConfig {
    pub paths: Vec<StatePath>,
    /// How the state partition is encrypted and authenticated.
    #[serde(default)]
    pub encryption: Encryption,
    /// A program of the root (absolute path) that gets the new recovery
    /// key on its standard input at first boot, before the state partition
    /// is created (escrow); the creation waits for it to succeed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_hook: Option<String>,
}

/// The state partition's LUKS2 segment: dm-crypt cipher and per-sector
/// authentication (dm-integrity), in LUKS2's notation. Always both: the
/// state is never stored in clear nor without integrity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    /// e.g. `aes-xts-plain64`.
    pub cipher: String,
    /// e.g. `hmac(sha256)`, or `aead` for an authenticated cipher.
    pub integrity: String,
}

/// The (cipher, integrity) pairs clip-init opens, with the volume key size
/// in bytes (encryption key, then MAC key) and the kernel modules they need
/// beyond dm-crypt and dm-integrity (the initramfs has no modprobe to find
/// them on demand). The first pair is the default: AES-XTS with
/// HMAC-SHA-256, as CLIP OS 5 used; the second the AEAD AEGIS-128 (128-bit
/// random nonces, safe for a random IV per sector, unlike GCM's 96 bits;
/// its AES-NI module is passed over on CPUs without AES-NI). Only pairs
/// proven by the boot tests are listed.
pub const ENCRYPTIONS: [(&str, &str, usize, &[&str]); 2] = [
    ("aes-xts-plain64", "hmac(sha256)", 96, &["xts", "authenc"]),
    (
        "aegis128-random",
        "aead",
        16,
        &["aegis128", "aegis128-aesni"],
    ),
];

impl Default for Encryption {
    fn default() -> Self {
        Self {
            cipher: ENCRYPTIONS[0].0.into(),
            integrity: ENCRYPTIONS[0].1.into(),
        }
    }
}

impl Encryption {
    fn entry(
        &self,
    ) -> Option<&'static (&'static str, &'static str, usize, &'static [&'static str])> {
        ENCRYPTIONS
            .iter()
            .find(|(c, i, _, _)| *c == self.cipher && *i == self.integrity)
    }

    /// Refuses a pair clip-init cannot open.
    pub fn check(&self) -> Result<(), Error> {
        self.entry().map(drop).ok_or_else(|| Error::Encryption {
            cipher: self.cipher.clone(),
            integrity: self.integrity.clone(),
        })
    }

    /// Volume key bytes (encryption and MAC keys together).
    pub fn key_size(&self) -> Result<usize, Error> {
        self.check()?;
        Ok(self.entry().map_or(0, |e| e.2))
    }

    /// Kernel modules the initramfs must load to open the state.
    pub fn kernel_modules(&self) -> Result<Vec<&'static str>, Error> {
        self.check()?;
        let mut modules = vec!["dm-integrity", "dm-crypt"];
        modules.extend(self.entry().map_or(&[][..], |e| e.3));
        Ok(modules)
    }
}

/// One state path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatePath {
    /// Absolute, normalised mount point.
    pub path: String,
    /// Directory or single file.
    pub kind: Kind,
    /// Octal permission bits, e.g. `"0755"`.
    pub mode: String,
    #[serde(default = "root")]
    pub owner: String,
    #[serde(default = "root")]
    pub group: String,
    /// Mount options of the bind mount.
    #[serde(default = "default_options")]
    pub options: Vec<MountOption>,
}

/// What a state path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Dir,
    File,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Dir => "dir",
            Kind::File => "file",
        }
    }
}

/// Restricting mount options a state path may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountOption {
    Nodev,
    Nosuid,
    Noexec,
    Noatime,
    Nosymfollow,
}

impl MountOption {
    /// The option as written in fstab, mount units and mountinfo.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nodev => "nodev",
            Self::Nosuid => "nosuid",
            Self::Noexec => "noexec",
            Self::Noatime => "noatime",
            Self::Nosymfollow => "nosymfollow",
        }
    }
}

fn root() -> String {
    "root".into()
}

/// nodev, nosuid, noexec: what a state path gets unless it says otherwise.
pub fn default_options() -> Vec<MountOption> {
    vec![MountOption::Nodev, MountOption::Nosuid, MountOption::Noexec]
}

impl StatePath {
    /// The path without its leading `/` (`var/lib`).
    pub fn relative(&self) -> &str {
        self.path.trim_start_matches('/')
    }

    /// The mode as bits: 3 or 4 octal digits, never setuid or setgid (the
    /// image has no SUID/SGID file, and a state path must not bring one
    /// back). The sticky bit is allowed (a shared directory like /var/tmp).
    pub fn mode_bits(&self) -> Result<u32, Error> {
        let ok = matches!(self.mode.len(), 3 | 4)
            && self.mode.bytes().all(|b| (b'0'..=b'7').contains(&b));
        let bits = u32::from_str_radix(&self.mode, 8)
            .ok()
            .filter(|_| ok)
            .ok_or_else(|| Error::Mode {
                path: self.path.clone(),
                mode: self.mode.clone(),
            })?;
        if bits & 0o6000 != 0 {
            return Err(Error::SetId {
                path: self.path.clone(),
                mode: self.mode.clone(),
            });
        }
        Ok(bits)
    }
}

impl StatePath {
    /// Every one of [`REQUIRED_OPTIONS`] is listed.
    pub fn check_options(&self) -> Result<(), Error> {
        match REQUIRED_OPTIONS.iter().find(|o| !self.options.contains(o)) {
            Some(option) => Err(Error::Required {
                path: self.path.clone(),
                option: *option,
            }),
            None => Ok(()),
        }
    }
}

/// The recovery key hook: an absolute, normalised path under `/usr` (the
/// verified read-only root, never the state it is about).
pub fn check_hook(path: &str) -> Result<(), Error> {
    check_path(path)?;
    if !path.starts_with("/usr/") {
        return Err(Error::Hook(path.into()));
    }
    Ok(())
}

/// Absolute, normalised (no `.`, `..`, empty or trailing component), not `/`.
pub fn check_path(path: &str) -> Result<(), Error> {
    let normal = path.len() >= 2
        && path
            .strip_prefix('/')
            .is_some_and(|rest| rest.split('/').all(|c| !matches!(c, "" | "." | "..")));
    if normal {
        Ok(())
    } else {
        Err(Error::Path(path.into()))
    }
}

impl StateConfig {
    /// Parses and checks `state.json`; paths stay in the file's order.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let config: StateConfig =
            serde_json::from_str(text).map_err(|e| Error::Json(e.to_string()))?;
        for (i, p) in config.paths.iter().enumerate() {
            check_path(&p.path)?;
            p.mode_bits()?;
            p.check_options()?;
            if config.paths[..i].iter().any(|q| q.path == p.path) {
                return Err(Error::Twice(p.path.clone()));
            }
        }
        config.encryption.check()?;
        if let Some(hook) = &config.recovery_hook {
            check_hook(hook)?;
        }
        Ok(config)
    }

    /// Parents first, the order in which the paths must be mounted (a
    /// parent mounted after its child would hide it); otherwise as listed.
    pub fn in_mount_order(mut self) -> Self {
        self.paths.sort_by_key(|p| p.path.matches('/').count());
        self
    }

    /// The file's text, paths in the given order, plus a newline.
    pub fn render(&self) -> String {
        // Plain strings and unit enums: serialising cannot fail.
        let mut text = serde_json::to_string(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// The numeric id of `name` in an `/etc/passwd` or `/etc/group` text
/// (`name:password:id:...`): state path owners are names, resolved with the
/// image's own databases.
pub fn lookup_id(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str, mode: &str) -> StatePath {
        StatePath {
            path: p.into(),
            kind: Kind::Dir,
            mode: mode.into(),
            owner: "root".into(),
            group: "root".into(),
            options: default_options(),
        }
    }

    #[test]
    fn render_and_parse_agree_and_mount_parents_first() {
        let paths = [path("/var/lib/x", "0700"), path("/var/lib", "0755")];
        let text = StateConfig {
            paths: paths.to_vec(),
            encryption: Encryption::default(),
            recovery_hook: None,
        }
        .render();
        assert_eq!(
            text,
            "{\"paths\":[{\"path\":\"/var/lib/x\",\"kind\":\"dir\",\"mode\":\"0700\",\
             \"owner\":\"root\",\"group\":\"root\",\"options\":[\"nodev\",\"nosuid\",\"noexec\"]},\
             {\"path\":\"/var/lib\",\"kind\":\"dir\",\"mode\":\"0755\",\"owner\":\"root\",\
             \"group\":\"root\",\"options\":[\"nodev\",\"nosuid\",\"noexec\"]}],\
             \"encryption\":{\"cipher\":\"aes-xts-plain64\",\"integrity\":\"hmac(sha256)\"}}\n"
        );
        let parsed = StateConfig::parse(&text).unwrap();
        assert_eq!(parsed.paths, paths);
        assert_eq!(
            parsed.in_mount_order().paths,
            [paths[1].clone(), paths[0].clone()]
        );
    }

    #[test]
    fn defaults_fill_missing_fields() {
        let c = StateConfig::parse(r#"{"paths":[{"path":"/var/log","kind":"dir","mode":"755"}]}"#)
            .unwrap();
        assert_eq!(c.paths, [path("/var/log", "755")]);
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        for (text, message) in [
            (
                r#"{"paths":[{"path":"var/log","kind":"dir","mode":"0755"}]}"#,
                "state path \"var/log\" is not an absolute, normalised path below /",
            ),
            (
                r#"{"paths":[{"path":"/var/../etc","kind":"dir","mode":"0755"}]}"#,
                "state path \"/var/../etc\" is not an absolute, normalised path below /",
            ),
            (
                r#"{"paths":[{"path":"/","kind":"dir","mode":"0755"}]}"#,
                "state path \"/\" is not an absolute, normalised path below /",
            ),
            (
                r#"{"paths":[{"path":"/var/log","kind":"dir","mode":"0855"}]}"#,
                "state path /var/log: mode \"0855\" is not 3 or 4 octal digits",
            ),
            (
                r#"{"paths":[{"path":"/var/log","kind":"dir","mode":"4755"}]}"#,
                "state path /var/log: mode \"4755\" sets the setuid or setgid bit, which the \
                 system never allows",
            ),
            (
                r#"{"paths":[{"path":"/var/log","kind":"dir","mode":"2755"}]}"#,
                "state path /var/log: mode \"2755\" sets the setuid or setgid bit, which the \
                 system never allows",
            ),
            (
                r#"{"paths":[{"path":"/a","kind":"dir","mode":"0755"},{"path":"/a","kind":"dir","mode":"0700"}]}"#,
                "state path /a is listed twice",
            ),
            (
                r#"{"paths":[{"path":"/home","kind":"dir","mode":"0755","options":["nodev"]}]}"#,
                "state path /home: mount option nosuid is required (the state partition must \
                 never bring SUID files or device nodes into the system)",
            ),
            (
                r#"{"paths":[{"path":"/home","kind":"dir","mode":"0755","options":["nosuid","noexec"]}]}"#,
                "state path /home: mount option nodev is required (the state partition must \
                 never bring SUID files or device nodes into the system)",
            ),
        ] {
            assert_eq!(StateConfig::parse(text).unwrap_err().to_string(), message);
        }
        let e = StateConfig::parse(r#"{"paths":[{"path":"/a","kind":"pipe","mode":"0755"}]}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("state.json is not valid: unknown variant `pipe`"),
            "{e}"
        );
        assert_eq!(path("/var/tmp", "1777").mode_bits(), Ok(0o1777));
        assert_eq!(
            StateConfig::parse(r#"{"paths":[],"recovery_hook":"/var/lib/hook"}"#)
                .unwrap_err()
                .to_string(),
            "recovery hook \"/var/lib/hook\" is not under /usr (the verified root)"
        );
        let hooked =
            StateConfig::parse(r#"{"paths":[],"recovery_hook":"/usr/lib/clip/escrow"}"#).unwrap();
        assert_eq!(
            hooked.recovery_hook.as_deref(),
            Some("/usr/lib/clip/escrow")
        );
        assert!(
            hooked
                .render()
                .contains("\"recovery_hook\":\"/usr/lib/clip/escrow\"")
        );
        let plain = r#"{"paths":[],"encryption":{"cipher":"aes-xts-plain64","integrity":"none"}}"#;
        assert_eq!(
            StateConfig::parse(plain).unwrap_err().to_string(),
            "state encryption cipher \"aes-xts-plain64\" with integrity \"none\" is not \
             supported (supported: aes-xts-plain64 + hmac(sha256), aegis128-random + aead)"
        );
    }

    #[test]
    fn the_default_encryption_needs_its_modules_and_a_96_byte_key() {
        let e = Encryption::default();
        assert_eq!(
            (e.cipher.as_str(), e.integrity.as_str()),
            ("aes-xts-plain64", "hmac(sha256)")
        );
        assert_eq!(e.key_size(), Ok(96));
        assert_eq!(
            e.kernel_modules(),
            Ok(vec!["dm-integrity", "dm-crypt", "xts", "authenc"])
        );
        let aead = Encryption {
            cipher: "aegis128-random".into(),
            integrity: "aead".into(),
        };
        assert_eq!(aead.key_size(), Ok(16));
        assert_eq!(
            aead.kernel_modules(),
            Ok(vec![
                "dm-integrity",
                "dm-crypt",
                "aegis128",
                "aegis128-aesni"
            ])
        );
        let other = Encryption {
            cipher: "aes-cbc-essiv:sha256".into(),
            integrity: "hmac(sha256)".into(),
        };
        assert!(other.key_size().is_err() && other.kernel_modules().is_err());
    }

    #[test]
    fn ids_are_looked_up_by_exact_name() {
        let passwd = "root:x:0:0::/root:/bin/sh\nsystemd-network:x:998:998::/:/usr/sbin/nologin\n";
        assert_eq!(lookup_id(passwd, "systemd-network"), Some(998));
        assert_eq!(lookup_id(passwd, "systemd"), None);
        assert_eq!(lookup_id("messagebus:x:101:\n", "messagebus"), Some(101));
        assert_eq!(lookup_id("broken:x\n", "broken"), None);
    }
}
