//! The update repository (docs/update.md, "Repository"): refreshing the
//! TUF metadata (spec 1.0.31 §5, crates/tuf) with the trusted metadata
//! persisted in the state directory (rollback protection across restarts),
//! picking the newest release, and downloading targets resumably into the
//! cache, each checked against its TUF length and hash.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use contract::Version;
use sha2::{Digest, Sha256};

use crate::config::Paths;
use crate::status::write_atomically;

const ROLES: [&str; 4] = ["root", "timestamp", "snapshot", "targets"];
/// Longest release.json accepted.
const RELEASE_JSON_MAX: u64 = 1 << 20;

/// A release the repository offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub version: Version,
    /// Its `release.json` target name.
    pub target: String,
}

/// A refreshed client and where it came from.
#[derive(Debug)]
pub struct Repo {
    pub client: tuf::Client,
    base: String,
    http: fetch::Client,
}

fn now() -> tuf::Time {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    tuf::Time::from_unix(secs)
}

fn root_version(bytes: &[u8]) -> Option<u64> {
    tuf::Metadata::<tuf::Root>::from_bytes(bytes)
        .ok()
        .map(|m| m.signed.version)
}

impl Repo {
    /// §5.2-5.6: from the newest trusted root (shipped or persisted) through
    /// timestamp, snapshot and targets; persists each role once trusted.
    pub fn refresh(paths: &Paths, base: &str) -> Result<Repo> {
        let shipped = std::fs::read(&paths.trust_root).with_context(|| {
            format!("cannot read the trust root {}", paths.trust_root.display())
        })?;
        let dir = paths.metadata_dir();
        let persisted = |role: &str| std::fs::read(dir.join(format!("{role}.json"))).ok();
        let root = match persisted("root") {
            Some(p) if root_version(&p) > root_version(&shipped) => p,
            _ => shipped,
        };
        let mut client = tuf::Client::new(&root, now())
            .with_context(|| format!("trust root {} refused", paths.trust_root.display()))?;
        let mut repo = Repo {
            client: client.clone(),
            base: base.to_string(),
            http: fetch::Client::new(),
        };
        for _ in 0..tuf::MAX_ROOT_ROTATIONS {
            let (name, max) = client.next_root_request();
            let url = repo.metadata_url(&name);
            let bytes = match repo.get(&url, max) {
                Ok(b) => b,
                Err(e) if is_not_found(&e) => break,
                Err(e) => return Err(e),
            };
            client
                .update_root(&bytes)
                .with_context(|| format!("{url} refused"))?;
        }
        if let Some(p) = persisted("timestamp") {
            let _ = client.load_persisted_timestamp(&p);
        }
        let url = repo.metadata_url(tuf::repository::TIMESTAMP_FILE);
        let bytes = repo.get(&url, tuf::TIMESTAMP_MAX_LENGTH)?;
        client
            .update_timestamp(&bytes)
            .with_context(|| format!("{url} refused"))?;
        if let Some(p) = persisted("snapshot") {
            let _ = client.load_persisted_snapshot(&p);
        }
        let (name, max) = client.snapshot_request()?;
        let url = repo.metadata_url(&name);
        let bytes = repo.get(&url, max)?;
        client
            .update_snapshot(&bytes)
            .with_context(|| format!("{url} refused"))?;
        let (name, max) = client.targets_request()?;
        let url = repo.metadata_url(&name);
        let bytes = repo.get(&url, max)?;
        client
            .update_targets(&bytes)
            .with_context(|| format!("{url} refused"))?;
        for role in ROLES {
            if let Some(bytes) = client.trusted_bytes(role) {
                write_atomically(&dir.join(format!("{role}.json")), bytes)?;
            }
        }
        repo.client = client;
        Ok(repo)
    }

    fn metadata_url(&self, name: &str) -> String {
        format!("{}metadata/{name}", self.base)
    }

    fn get(&self, url: &str, max: u64) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.http
            .fetch_resuming(url, 0, max, &mut buf, 3, Duration::from_secs(1))
            .map_err(anyhow::Error::new)?;
        Ok(buf)
    }

    /// Releases of `product` the targets list, newest first.
    pub fn offers(&self, product: &str) -> Vec<Offer> {
        let Some(targets) = self.client.targets() else {
            return Vec::new();
        };
        let mut offers: Vec<Offer> = targets
            .targets
            .keys()
            .filter_map(|name| {
                let rest = name.strip_prefix(product)?.strip_prefix('/')?;
                let version = rest.strip_suffix("/release.json")?;
                let version = Version::parse(version).ok()?;
                Some(Offer {
                    version,
                    target: name.clone(),
                })
            })
            .collect();
        offers.sort_by(|a, b| b.version.cmp(&a.version));
        offers
    }

    /// The bytes of a small target (release.json), checked.
    pub fn small_target(&self, name: &str) -> Result<Vec<u8>> {
        let (file, length) = self.client.target_request(name)?;
        if length > RELEASE_JSON_MAX {
            bail!("target {name} is {length} bytes, more than the {RELEASE_JSON_MAX} allowed");
        }
        let url = format!("{}targets/{file}", self.base);
        let bytes = self.get(&url, length)?;
        self.client
            .verify_target(name, &bytes)
            .with_context(|| format!("{url} refused"))?;
        Ok(bytes)
    }

    /// Downloads target `name` into `cache` (resuming a partial download),
    /// checks its TUF length and hash, and returns the complete file's path.
    pub fn download(&self, name: &str, cache: &Path) -> Result<PathBuf> {
        let (file, length) = self.client.target_request(name)?;
        let hash = file
            .rsplit('/')
            .next()
            .and_then(|b| b.split('.').next())
            .unwrap_or_default()
            .to_string();
        std::fs::create_dir_all(cache)
            .with_context(|| format!("cannot create {}", cache.display()))?;
        let done = cache.join(format!("{hash}.zst"));
        if done.exists() {
            if self.check_file(name, &done).is_ok() {
                return Ok(done);
            }
            std::fs::remove_file(&done)
                .with_context(|| format!("cannot remove {}", done.display()))?;
        }
        let part = cache.join(format!("{hash}.zst.part"));
        let mut sink = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&part)
            .with_context(|| format!("cannot open {}", part.display()))?;
        let mut held = sink.metadata()?.len();
        if held > length {
            sink.set_len(0)?;
            held = 0;
        }
        let url = format!("{}targets/{file}", self.base);
        tracing::info!(url, held, length, "downloading");
        self.http
            .fetch_resuming(&url, held, length, &mut sink, 5, Duration::from_secs(2))
            .map_err(anyhow::Error::new)?;
        sink.sync_all()
            .with_context(|| format!("cannot sync {}", part.display()))?;
        drop(sink);
        if let Err(e) = self.check_file(name, &part) {
            // A wrong file is not resumed.
            let _ = std::fs::remove_file(&part);
            return Err(e.context(format!("{url} refused")));
        }
        std::fs::rename(&part, &done)
            .with_context(|| format!("cannot rename {}", part.display()))?;
        Ok(done)
    }

    fn check_file(&self, name: &str, path: &Path) -> Result<()> {
        let mut verifier = self.client.target_verifier(name)?;
        let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f
                .read(&mut buf)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                break;
            }
            verifier.update(&buf[..n])?;
        }
        verifier.finish()?;
        Ok(())
    }

    /// The uncompressed length and SHA-256 a payload target's custom
    /// `{"clip": {"length", "sha256"}}` gives.
    pub fn payload_info(&self, name: &str) -> Result<(u64, String)> {
        let target = self.client.target(name)?;
        let clip = target
            .custom
            .as_ref()
            .and_then(|c| c.get("clip"))
            .with_context(|| format!("target {name} has no custom clip object"))?;
        let length = clip.get("length").and_then(serde_json::Value::as_u64);
        let sha = clip.get("sha256").and_then(serde_json::Value::as_str);
        match (length, sha) {
            (Some(l), Some(s)) => Ok((l, s.to_string())),
            _ => bail!("target {name}: custom clip object lacks length or sha256"),
        }
    }
}

fn is_not_found(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<fetch::Error>(),
        Some(fetch::Error::Status { status: 404, .. })
    )
}

/// Decompresses `path` without writing anything and returns the length and
/// SHA-256 of the uncompressed bytes.
pub fn uncompressed_digest(path: &Path) -> Result<(u64, String)> {
    let mut decoder = decoder(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = decoder
            .read(&mut buf)
            .with_context(|| format!("cannot decompress {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += u64::try_from(n).unwrap_or(u64::MAX);
    }
    Ok((total, hex::encode(hasher.finalize())))
}

/// Largest zstd window accepted (16 MiB): bounds the decoder's memory.
pub const WINDOW_LOG_MAX: u32 = 24;

pub fn decoder(
    path: &Path,
) -> Result<zstd::stream::read::Decoder<'static, std::io::BufReader<File>>> {
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut d = zstd::stream::read::Decoder::new(f)
        .with_context(|| format!("cannot start decompressing {}", path.display()))?;
    d.window_log_max(WINDOW_LOG_MAX)
        .with_context(|| format!("cannot limit the zstd window of {}", path.display()))?;
    Ok(d)
}
