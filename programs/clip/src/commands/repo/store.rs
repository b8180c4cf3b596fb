//! What `clip repo init`, `publish`, `refresh` and `list` share: the update
//! keys of a key set, the repository's verified metadata (TUF spec 1.0.31
//! §5 client workflow, crates/tuf), expiry options, atomic writes. Layout
//! and target names: docs/update.md "Repository".

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use secureboot::der::zeroize::Zeroizing;
use secureboot::ed25519_dalek::SigningKey;
use tuf::repository::{TIMESTAMP_FILE, root_file_name};
use tuf::{Client, Metadata, Root, Time};

use crate::commands::keys::{UPDATE_ONLINE_KEY_FILE, UPDATE_ROOT_FILE};

/// REPO/metadata: N.root.json, N.targets.json, N.snapshot.json, timestamp.json.
pub const METADATA_DIR: &str = "metadata";
/// REPO/targets: `<product>/<version>/<sha256>.<file>`.
pub const TARGETS_DIR: &str = "targets";
const UPDATE_KEY_FILE: &str = "update.key";

/// Expiry of the metadata a command signs.
#[derive(Debug, Args, Clone)]
pub struct ExpiryArgs {
    /// How long targets and snapshot stay valid (Nd, Nh, Nm or Ns).
    #[arg(long, value_name = "DURATION", default_value = "365d", value_parser = parse_duration)]
    pub expires_in: i64,
    /// How long the snapshot stays valid, when not --expires-in (Nd, Nh,
    /// Nm or Ns; `refresh` never makes it outlive the targets).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub snapshot_expires_in: Option<i64>,
    /// How long the timestamp stays valid (Nd, Nh, Nm or Ns).
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = parse_duration)]
    pub timestamp_expires_in: i64,
    /// The timestamp's expiry as YYYY-MM-DDTHH:MM:SSZ, instead of
    /// --timestamp-expires-in (a time in the past makes a frozen repository,
    /// which clients refuse: for tests).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time, conflicts_with = "timestamp_expires_in")]
    pub timestamp_expires: Option<Time>,
}

impl ExpiryArgs {
    /// (targets, snapshot, timestamp) expiry counted from `now`.
    pub fn times(&self, now: Time) -> (Time, Time, Time) {
        (
            now.plus_seconds(self.expires_in),
            now.plus_seconds(self.snapshot_expires_in.unwrap_or(self.expires_in)),
            self.timestamp_expires
                .unwrap_or_else(|| now.plus_seconds(self.timestamp_expires_in)),
        )
    }
}

/// `365d`, `12h`, `30m`, `90s`: seconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let bad = || format!("{text:?} is not a duration (a number followed by d, h, m or s: 365d)");
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let scale = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(bad()),
    };
    let n: i64 = number.parse().map_err(|_| bad())?;
    if n <= 0 {
        return Err(format!("{text:?}: a duration must be positive"));
    }
    n.checked_mul(scale).ok_or_else(bad)
}

fn parse_time(text: &str) -> Result<Time, String> {
    Time::parse(text)
        .ok_or_else(|| format!("{text:?} is not a time of the form 2026-12-07T14:30:00Z"))
}

/// Now, to the second.
pub fn now() -> Result<Time> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    Ok(Time::from_unix(
        i64::try_from(secs).context("the clock is out of range")?,
    ))
}

/// The update keys of a key set: the root it makes, the online key, and
/// the offline key when the command signs targets.
pub struct UpdateKeys {
    pub dir: PathBuf,
    pub root_bytes: Vec<u8>,
    pub root: Metadata<Root>,
    pub online: SigningKey,
    pub offline: Option<SigningKey>,
}

impl UpdateKeys {
    /// Reads `dir`'s update-root.json (checked against itself) and online
    /// key, and update.key when `offline`.
    pub fn load(dir: &Path, offline: bool) -> Result<UpdateKeys> {
        let mut needed = vec![UPDATE_ROOT_FILE, UPDATE_ONLINE_KEY_FILE];
        if offline {
            needed.push(UPDATE_KEY_FILE);
        }
        let missing: Vec<&str> = needed
            .iter()
            .copied()
            .filter(|n| fs::symlink_metadata(dir.join(n)).is_err())
            .collect();
        if !missing.is_empty() {
            bail!(
                "the key set in {} has no {}: add the update keys with `clip keys generate {} --add-missing`",
                dir.display(),
                missing.join(" or "),
                dir.display()
            );
        }
        let root_path = dir.join(UPDATE_ROOT_FILE);
        let root_bytes =
            fs::read(&root_path).with_context(|| format!("cannot read {}", root_path.display()))?;
        let root = Metadata::<Root>::from_bytes(&root_bytes)
            .and_then(|m| {
                m.signed
                    .verify_role("root", m.signed_bytes(), &m.signatures)
                    .map(|()| m)
            })
            .with_context(|| format!("{} is not a valid TUF root", root_path.display()))?;
        let key = |name: &str| -> Result<SigningKey> {
            let path = dir.join(name);
            let pem = Zeroizing::new(
                fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
            );
            keyfile::ed25519_signing_key(&pem)
                .with_context(|| format!("{} is not usable", path.display()))
        };
        Ok(UpdateKeys {
            dir: dir.to_owned(),
            root_bytes,
            root,
            online: key(UPDATE_ONLINE_KEY_FILE)?,
            offline: if offline {
                Some(key(UPDATE_KEY_FILE)?)
            } else {
                None
            },
        })
    }

    /// Refuses a key set whose root is not the repository's first root.
    pub fn check_repo(&self, repo: &Path) -> Result<()> {
        let path = repo.join(METADATA_DIR).join(root_file_name(1));
        let bytes = fs::read(&path).with_context(|| {
            format!(
                "cannot read {}: is {} a repository (clip repo init)?",
                path.display(),
                repo.display()
            )
        })?;
        if bytes != self.root_bytes {
            let theirs = Metadata::<Root>::from_bytes(&bytes)
                .map(|m| root_key_ids(&m.signed))
                .unwrap_or_else(|_| "unreadable".to_owned());
            bail!(
                "wrong key set: {} (root key {}) is not the root of {} (root key {})",
                self.dir.join(UPDATE_ROOT_FILE).display(),
                root_key_ids(&self.root.signed),
                repo.display(),
                theirs
            );
        }
        Ok(())
    }
}

/// The key IDs of a root's root role, comma-separated.
pub fn root_key_ids(root: &Root) -> String {
    root.role_keys("root")
        .map(|(ids, _)| ids.join(","))
        .unwrap_or_default()
}

/// A metadata read that did not verify (tampered, expired, missing).
#[derive(Debug)]
pub struct Unverified(pub anyhow::Error);

/// The repository's metadata, verified as a client does it from
/// 1.root.json at time `now`: the root chain, timestamp, snapshot, targets.
pub fn verified(repo: &Path, now: Time) -> Result<Client, Unverified> {
    let meta = repo.join(METADATA_DIR);
    let read = |name: &str| -> Result<Vec<u8>> {
        let path = meta.join(name);
        fs::read(&path).with_context(|| format!("cannot read {}", path.display()))
    };
    let step = |what: String, e: tuf::Error| anyhow!(e).context(what);
    (|| -> Result<Client> {
        let first = read(&root_file_name(1))?;
        let mut client = Client::new(&first, now).map_err(|e| step(root_file_name(1), e))?;
        loop {
            let (name, _) = client.next_root_request();
            let path = meta.join(&name);
            if !path.exists() {
                break;
            }
            let bytes = read(&name)?;
            client.update_root(&bytes).map_err(|e| step(name, e))?;
        }
        let bytes = read(TIMESTAMP_FILE)?;
        client
            .update_timestamp(&bytes)
            .map_err(|e| step(TIMESTAMP_FILE.to_owned(), e))?;
        let (name, _) = client
            .snapshot_request()
            .map_err(|e| step("snapshot".into(), e))?;
        let bytes = read(&name)?;
        client.update_snapshot(&bytes).map_err(|e| step(name, e))?;
        let (name, _) = client
            .targets_request()
            .map_err(|e| step("targets".into(), e))?;
        let bytes = read(&name)?;
        client.update_targets(&bytes).map_err(|e| step(name, e))?;
        Ok(client)
    })()
    .map_err(Unverified)
}

/// [`verified`] with every expiry ignored: what `publish` and `refresh`
/// build on (they replace the expired metadata).
pub fn verified_for_signing(repo: &Path) -> Result<Client> {
    verified(repo, Time::from_unix(0)).map_err(|Unverified(e)| {
        e.context(format!(
            "the metadata of {} does not verify; not signing on top of it",
            repo.display()
        ))
    })
}

/// Writes REPO/metadata/NAME atomically (replacing a leftover of an
/// interrupted publish, which no timestamp names).
pub fn write_metadata(repo: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    crate::blockio::write_file_atomically(&repo.join(METADATA_DIR).join(name), bytes, 0o644, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("365d"), Ok(365 * 86_400));
        assert_eq!(parse_duration("12h"), Ok(43_200));
        assert_eq!(parse_duration("30m"), Ok(1_800));
        assert_eq!(parse_duration("90s"), Ok(90));
        for bad in ["", "d", "7", "7w", "-1d", "1.5d", "99999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_duration("0d"),
            Err("\"0d\": a duration must be positive".to_owned())
        );
    }
}
