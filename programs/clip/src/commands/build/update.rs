//! The update daemon in the image (docs/update.md, "Design: the update
//! contract (issue 9)", "Device"): `/usr/bin/clip-updated`, its units, the
//! product's `[update]` as `/usr/lib/clip/update.json`, the key set's
//! `update-root.json` as the trust root `/usr/lib/clip/update/root.json`
//! and, for an https server, the product's CA bundle (`[update] ca`) as
//! `/usr/lib/clip/update/ca.pem` (docs/update.md, "HTTPS").

use std::path::Path;

use anyhow::{Context, Result, bail};
use contract::update::UpdateConfig;

/// The key set's TUF root (docs/update.md, "Keys").
pub const UPDATE_ROOT_FILE: &str = "update-root.json";

/// The units, by file name, as shipped in programs/clip-updated/; a file of
/// the same name in the programs directory replaces the shipped one.
pub const UNITS: [(&str, &[u8]); 4] = [
    (
        "clip-updated.service",
        include_bytes!("../../../../clip-updated/clip-updated.service"),
    ),
    (
        "clip-updated.timer",
        include_bytes!("../../../../clip-updated/clip-updated.timer"),
    ),
    (
        "clip-health.service",
        include_bytes!("../../../../clip-updated/clip-health.service"),
    ),
    (
        "clip-mark-good.service",
        include_bytes!("../../../../clip-updated/clip-mark-good.service"),
    ),
];

/// Units enabled by the build (clip-updated.service is started by its
/// timer; clip-health.service is required by boot-complete.target).
pub const ENABLED: [&str; 3] = [
    "clip-updated.timer",
    "clip-health.service",
    "clip-mark-good.service",
];

const FIRST_CHECK_DELAY: &str = "@FIRST_CHECK_DELAY@";
const CHECK_INTERVAL: &str = "@CHECK_INTERVAL@";

/// Everything the image needs for updates, read before any work.
#[derive(Debug, Clone)]
pub struct UpdateFiles {
    pub daemon: Vec<u8>,
    /// (file name, contents), the timer's placeholders replaced.
    pub units: Vec<(String, Vec<u8>)>,
    pub config_json: Vec<u8>,
    pub root_json: Vec<u8>,
    /// The product's CA bundle for an https server.
    pub ca_pem: Option<Vec<u8>>,
}

/// Reads the daemon and its units from `programs`, the trust root from
/// `keys_dir` and the CA bundle `config.ca` names from `product_dir`;
/// renders update.json and the timer from `config`.
pub fn load(
    programs: &Path,
    keys_dir: &Path,
    product_dir: &Path,
    config: &UpdateConfig,
) -> Result<UpdateFiles> {
    let daemon_path = programs.join("clip-updated");
    let daemon = std::fs::read(&daemon_path).with_context(|| {
        format!(
            "clip-updated is missing in {} (build it statically, see docs/image.md, or pass --programs)",
            programs.display()
        )
    })?;
    let mut units = Vec::new();
    for (name, shipped) in UNITS {
        let bytes = match std::fs::read(programs.join(name)) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => shipped.to_vec(),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot read {}", programs.join(name).display()));
            }
        };
        let bytes = if name == "clip-updated.timer" {
            timer(&bytes, config)?.into_bytes()
        } else {
            bytes
        };
        units.push((name.to_owned(), bytes));
    }
    let root_path = keys_dir.join(UPDATE_ROOT_FILE);
    let root_json = match std::fs::read(&root_path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "no {UPDATE_ROOT_FILE} in {} (the update trust root built into the image): add it with \
             `clip keys generate {} --add-missing`",
            keys_dir.display(),
            keys_dir.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", root_path.display())),
    };
    check_root(&root_json).with_context(|| format!("{} is not a TUF root", root_path.display()))?;
    config.check().context("the product's [update] section")?;
    let ca_pem = config
        .ca
        .as_deref()
        .map(|ca| load_ca(&product_dir.join(ca)))
        .transpose()?;
    Ok(UpdateFiles {
        daemon,
        units,
        config_json: config.on_device().to_json().into_bytes(),
        root_json,
        ca_pem,
    })
}

/// The CA bundle: PEM with at least one certificate the daemon's TLS
/// client takes as a root (the same check, `fetch::check_roots_pem`).
pub fn load_ca(path: &Path) -> Result<Vec<u8>> {
    let pem = std::fs::read(path).with_context(|| {
        format!(
            "cannot read the update server's CA {} ([update] ca)",
            path.display()
        )
    })?;
    fetch::check_roots_pem(&pem).with_context(|| {
        format!(
            "the update server's CA {} ([update] ca) is not a PEM bundle with a usable certificate",
            path.display()
        )
    })?;
    Ok(pem)
}

/// The root must at least be JSON naming the root role (crates/tuf checks
/// the signatures on the device, where it is the anchor).
fn check_root(bytes: &[u8]) -> Result<()> {
    let value: serde_json::Value = serde_json::from_slice(bytes).context("not valid JSON")?;
    let kind = value.pointer("/signed/_type").and_then(|v| v.as_str());
    if kind != Some("root") {
        bail!("its signed._type is {kind:?}, not \"root\"");
    }
    Ok(())
}

/// The timer with the product's first check delay and interval.
pub fn timer(template: &[u8], config: &UpdateConfig) -> Result<String> {
    let text = std::str::from_utf8(template).context("clip-updated.timer is not UTF-8")?;
    for placeholder in [FIRST_CHECK_DELAY, CHECK_INTERVAL] {
        if !text.contains(placeholder) {
            bail!("clip-updated.timer has no {placeholder} to replace");
        }
    }
    Ok(text
        .replace(
            FIRST_CHECK_DELAY,
            &config.first_check_delay_seconds.to_string(),
        )
        .replace(CHECK_INTERVAL, &config.check_interval_seconds.to_string()))
}

impl UpdateFiles {
    /// The files added to the root tree.
    pub fn extra_files(&self) -> Vec<rootfs::ExtraFile> {
        let mut files = vec![
            rootfs::ExtraFile {
                path: "/usr/bin/clip-updated".into(),
                contents: self.daemon.clone(),
                mode: 0o755,
            },
            rootfs::ExtraFile {
                path: contract::update::CONFIG_PATH.into(),
                contents: self.config_json.clone(),
                mode: 0o644,
            },
            rootfs::ExtraFile {
                path: contract::update::ROOT_PATH.into(),
                contents: self.root_json.clone(),
                mode: 0o644,
            },
        ];
        if let Some(pem) = &self.ca_pem {
            files.push(rootfs::ExtraFile {
                path: contract::update::CA_PATH.into(),
                contents: pem.clone(),
                mode: 0o644,
            });
        }
        for (name, bytes) in &self.units {
            files.push(rootfs::ExtraFile {
                path: format!("/usr/lib/systemd/system/{name}"),
                contents: bytes.clone(),
                mode: 0o644,
            });
        }
        files
    }

    /// SHA-256 of every input, for the release cache key.
    pub fn sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut part = |name: &str, bytes: &[u8]| {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        part("clip-updated", &self.daemon);
        part("update.json", &self.config_json);
        part("root.json", &self.root_json);
        if let Some(pem) = &self.ca_pem {
            part("ca.pem", pem);
        }
        for (name, bytes) in &self.units {
            part(name, bytes);
        }
        hex::encode(h.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timer_gets_the_product_schedule() {
        let config = UpdateConfig {
            first_check_delay_seconds: 7,
            check_interval_seconds: 900,
            ..UpdateConfig::default()
        };
        let t = timer(UNITS[1].1, &config).unwrap();
        assert!(t.contains("\nOnBootSec=7s\nOnUnitActiveSec=900s\n"), "{t}");
        assert!(!t.contains('@'), "{t}");
        let e = timer(b"[Timer]\nOnBootSec=5s\n", &config).unwrap_err();
        assert_eq!(
            e.to_string(),
            "clip-updated.timer has no @FIRST_CHECK_DELAY@ to replace"
        );
    }

    #[test]
    fn units_carry_the_contract() {
        let unit = |n: &str| {
            std::str::from_utf8(UNITS.iter().find(|(name, _)| *name == n).unwrap().1).unwrap()
        };
        let service = unit("clip-updated.service");
        for line in [
            "ExecStart=/usr/bin/clip-updated -v apply",
            "ProtectSystem=strict",
            "ReadWritePaths=/var/lib/clip-updated",
            "NoNewPrivileges=yes",
            "CapabilityBoundingSet=CAP_SYS_BOOT",
            "DeviceAllow=block-* rw",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
            "SystemCallFilter=@system-service",
        ] {
            assert!(service.lines().any(|l| l == line), "{line}");
        }
        let health = unit("clip-health.service");
        for line in [
            "Before=boot-complete.target",
            "FailureAction=reboot",
            "ExecStart=/usr/bin/clip-updated health",
            "RequiredBy=boot-complete.target",
        ] {
            assert!(health.lines().any(|l| l == line), "{line}");
        }
        let good = unit("clip-mark-good.service");
        for line in [
            "Requires=boot-complete.target",
            "After=boot-complete.target multi-user.target",
            "ExecStart=/usr/bin/clip-updated mark-good",
        ] {
            assert!(good.lines().any(|l| l == line), "{line}");
        }
    }

    #[test]
    fn a_key_set_without_the_update_root_is_refused() {
        let programs = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        std::fs::write(programs.path().join("clip-updated"), b"x").unwrap();
        let e = load(
            programs.path(),
            keys.path(),
            programs.path(),
            &UpdateConfig::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "no update-root.json in {0} (the update trust root built into the image): add it \
                 with `clip keys generate {0} --add-missing`",
                keys.path().display()
            )
        );
        std::fs::write(
            keys.path().join(UPDATE_ROOT_FILE),
            br#"{"signed":{"_type":"targets"}}"#,
        )
        .unwrap();
        let e = load(
            programs.path(),
            keys.path(),
            programs.path(),
            &UpdateConfig::default(),
        )
        .unwrap_err();
        assert_eq!(
            format!("{:#}", e).split(": ").last(),
            Some("its signed._type is Some(\"targets\"), not \"root\"")
        );
        std::fs::write(
            keys.path().join(UPDATE_ROOT_FILE),
            br#"{"signed":{"_type":"root"}}"#,
        )
        .unwrap();
        let f = load(
            programs.path(),
            keys.path(),
            programs.path(),
            &UpdateConfig::default(),
        )
        .unwrap();
        assert_eq!(
            f.config_json,
            UpdateConfig::default().to_json().into_bytes()
        );
        let paths: Vec<String> = f.extra_files().into_iter().map(|e| e.path).collect();
        assert_eq!(
            paths,
            [
                "/usr/bin/clip-updated",
                "/usr/lib/clip/update.json",
                "/usr/lib/clip/update/root.json",
                "/usr/lib/systemd/system/clip-updated.service",
                "/usr/lib/systemd/system/clip-updated.timer",
                "/usr/lib/systemd/system/clip-health.service",
                "/usr/lib/systemd/system/clip-mark-good.service",
            ]
        );
    }

    /// A self-signed certificate made by `openssl req` (the PEM the
    /// product's CA file holds in the success case).
    const CA_PEM: &str = include_str!("testdata/update-ca.pem");

    #[test]
    fn the_products_ca_is_checked_and_lands_at_the_contract_path() {
        let programs = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let product = tempfile::tempdir().unwrap();
        std::fs::write(programs.path().join("clip-updated"), b"x").unwrap();
        std::fs::write(
            keys.path().join(UPDATE_ROOT_FILE),
            br#"{"signed":{"_type":"root"}}"#,
        )
        .unwrap();
        let https = UpdateConfig {
            server: "https://updates.example.org/".into(),
            ca: Some("update-ca.pem".into()),
            ..UpdateConfig::default()
        };
        let ca_path = product.path().join("update-ca.pem");
        let load =
            |config: &UpdateConfig| load(programs.path(), keys.path(), product.path(), config);
        // Missing.
        let e = load(&https).unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            format!(
                "cannot read the update server's CA {} ([update] ca): No such file or directory \
                 (os error 2)",
                ca_path.display()
            )
        );
        // Not PEM; PEM without a certificate; a certificate that is not DER.
        for (bytes, why) in [
            (
                &b"not a certificate\n"[..],
                "no certificate in the PEM bundle",
            ),
            (
                &b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"[..],
                "no certificate in the PEM bundle",
            ),
            (
                &b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"[..],
                "unusable certificate: invalid peer certificate: BadEncoding",
            ),
        ] {
            std::fs::write(&ca_path, bytes).unwrap();
            let e = load(&https).unwrap_err();
            assert_eq!(
                format!("{e:#}"),
                format!(
                    "the update server's CA {} ([update] ca) is not a PEM bundle with a usable \
                     certificate: trust roots: {why}",
                    ca_path.display()
                )
            );
        }
        // https without a CA: the contract's rule.
        let e = load(&UpdateConfig {
            ca: None,
            ..https.clone()
        })
        .unwrap_err();
        assert_eq!(
            format!("{e:#}"),
            "the product's [update] section: update server \"https://updates.example.org/\" is \
             https:// but no ca is configured: the device trusts no system CA store, so an https \
             server needs the CA bundle that signed its certificate"
        );
        // A usable bundle: copied to CA_PATH, named there by update.json.
        std::fs::write(&ca_path, CA_PEM).unwrap();
        let f = load(&https).unwrap();
        let config = UpdateConfig::from_json(&f.config_json).unwrap();
        assert_eq!(config.ca.as_deref(), Some(contract::update::CA_PATH));
        assert_eq!(config.server, https.server);
        let files = f.extra_files();
        let ca = files
            .iter()
            .find(|e| e.path == "/usr/lib/clip/update/ca.pem")
            .expect("the CA in the root tree");
        assert_eq!(ca.contents, CA_PEM.as_bytes());
        assert_eq!(ca.mode, 0o644);
        // The CA is an input of the release cache key.
        let plain = load(&UpdateConfig::default()).unwrap();
        assert!(
            plain
                .extra_files()
                .iter()
                .all(|e| !e.path.ends_with("ca.pem"))
        );
        let mut other = f.clone();
        other.ca_pem = Some(b"x".to_vec());
        assert_ne!(f.sha256(), other.sha256());
    }
}
