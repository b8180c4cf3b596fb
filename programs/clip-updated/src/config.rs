//! Where everything is (docs/update.md, "Design: the update contract",
//! "Device"), every path overridable for tests, and the product's
//! `[update]` section as the image carries it in `/usr/lib/clip/update.json`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use contract::update::UpdateConfig;

/// `update.json` (contract::update::UpdateConfig) and the product's name
/// (os-release `ID`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub update: UpdateConfig,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read the update configuration {}", path.display()))?;
        let update = UpdateConfig::from_json(&bytes)
            .with_context(|| format!("update configuration {} is not valid", path.display()))?;
        Ok(Config { update })
    }

    /// The HTTP(S) client for the server: plain HTTP, or for an
    /// `https://` server TLS trusting exactly update.json's `ca` (read
    /// under `root`), the only roots (docs/update.md, "HTTPS"). Fails
    /// closed: an https server without a CA, or a CA that cannot be read or
    /// holds no usable certificate, is an error before any request.
    pub fn http_client(&self, root: &Path) -> Result<fetch::Client> {
        let client = fetch::Client::new();
        let Some(ca) = &self.update.ca else {
            anyhow::ensure!(
                !self.update.is_https(),
                contract::update::Error::HttpsWithoutCa(self.update.server.clone())
            );
            return Ok(client);
        };
        let path = root.join(ca.trim_start_matches('/'));
        let pem = std::fs::read(&path).with_context(|| {
            format!(
                "cannot read the update server's CA {} (update.json's ca)",
                path.display()
            )
        })?;
        client.with_roots_pem(&pem).with_context(|| {
            format!(
                "the update server's CA {} is not usable (update.json's ca)",
                path.display()
            )
        })
    }

    /// The server URL with exactly one trailing `/`.
    pub fn base_url(&self) -> String {
        format!("{}/", self.update.server.trim_end_matches('/'))
    }
}

/// Every path and device the daemon uses.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The running system's root (`/`): os-release, trust root, config.
    pub root_dir: PathBuf,
    /// `update.json`; default `<root>/usr/lib/clip/update.json`.
    pub config: PathBuf,
    /// The trust root; default `<root>/usr/lib/clip/update/root.json`.
    pub trust_root: PathBuf,
    /// `/var/lib/clip-updated`.
    pub state_dir: PathBuf,
    /// `/proc/cmdline`.
    pub cmdline: PathBuf,
    /// The disk holding both slots and the ESP; `None`: the disk under the
    /// running root.
    pub disk: Option<PathBuf>,
    /// Never reboot, whatever the policy says (tests).
    pub no_reboot: bool,
}

impl Paths {
    pub fn new(root_dir: PathBuf) -> Paths {
        Paths {
            config: root_dir.join(contract::update::CONFIG_PATH.trim_start_matches('/')),
            trust_root: root_dir.join(contract::update::ROOT_PATH.trim_start_matches('/')),
            root_dir,
            state_dir: PathBuf::from(contract::update::STATE_DIR),
            cmdline: PathBuf::from("/proc/cmdline"),
            disk: None,
            no_reboot: false,
        }
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.state_dir.join("cache")
    }

    pub fn metadata_dir(&self) -> PathBuf {
        self.state_dir.join("metadata")
    }

    /// The anti-rollback minimum (crates/rollback's state record), in the
    /// state directory.
    pub fn minimum_file(&self) -> PathBuf {
        self.state_dir.join("minimum-version.json")
    }

    pub fn status_file(&self) -> PathBuf {
        self.state_dir.join("status.json")
    }
}

/// os-release's `ID`, `NAME` and `VERSION_ID` (`/etc/os-release`, else
/// `/usr/lib/os-release`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OsRelease {
    pub id: String,
    pub name: String,
    pub version_id: String,
}

impl OsRelease {
    pub fn load(root: &Path) -> Result<OsRelease> {
        let etc = root.join("etc/os-release");
        let path = if etc.exists() {
            etc
        } else {
            root.join("usr/lib/os-release")
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let get = |key: &str| {
            text.lines().find_map(|l| {
                let v = l.strip_prefix(key)?.strip_prefix('=')?;
                Some(v.trim().trim_matches('"').trim_matches('\'').to_string())
            })
        };
        let version_id =
            get("VERSION_ID").with_context(|| format!("{} has no VERSION_ID", path.display()))?;
        let id = get("ID").unwrap_or_else(|| "linux".into());
        Ok(OsRelease {
            name: get("NAME").unwrap_or_else(|| id.clone()),
            id,
            version_id,
        })
    }
}
