//! `/var/lib/clip-updated/status.json`: what the daemon did last, the
//! versions known good, the versions that failed (never retried
//! automatically) and the minimum version. Written atomically (temporary
//! file, sync, rename, directory sync).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// An update installed in the inactive slot, not yet booted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub version: String,
    pub slot: contract::Slot,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// Unix seconds of the last successful metadata refresh.
    #[serde(default)]
    pub last_check: Option<i64>,
    /// The newest version the last check saw.
    #[serde(default)]
    pub last_seen: Option<String>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub pending: Option<Pending>,
    /// Versions whose tries ran out: never installed again automatically.
    #[serde(default)]
    pub failed: Vec<String>,
    /// The last version marked good.
    #[serde(default)]
    pub good: Option<String>,
    /// No version below this one is installed (raised at mark-good).
    #[serde(default)]
    pub min_version: Option<String>,
}

impl Status {
    pub fn load(path: &Path) -> Result<Status> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("status file {} is not valid", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Status::default()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_vec_pretty(self).context("cannot encode the status")?;
        text.push(b'\n');
        write_atomically(path, &text)
    }
}

/// Writes `path` through a temporary file in the same directory: write,
/// sync, rename, sync the directory. The temporary name carries the process
/// ID: the daemon's apply and `mark-good` (clip-mark-good.service) may write
/// the status at the same moment, and with one shared name the second
/// rename found the file already moved (ENOENT; seen in update_refusals).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .with_context(|| format!("{} has no parent directory", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    drop(f);
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", dir.display()))?;
    Ok(())
}
