//! The update repository (docs/update.md, "Repository"): refreshing the
//! TUF metadata (spec 1.0.31 §5, crates/tuf) with the trusted metadata
//! persisted in the state directory (rollback protection across restarts),
//! picking the newest release, and downloading targets resumably into the
//! cache, each checked against its TUF length and hash. A partial download
//! is synced at checkpoints and resumed only from its last one, so a power
//! cut never leaves unsynced bytes to be trusted.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
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
    /// timestamp, snapshot and targets, fetched with `http`
    /// ([`crate::config::Config::http_client`]); persists each role once
    /// trusted.
    pub fn refresh(paths: &Paths, base: &str, http: fetch::Client) -> Result<Repo> {
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
            http,
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

    /// Downloads target `name` into `cache` (resuming a partial download
    /// from its last checkpoint), checks its TUF length and hash, and
    /// returns the complete file's path. A resumed download that fails the
    /// check is fetched once more from byte 0.
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
        let part = cache.join(format!("{hash}.zst.part"));
        if done.exists() {
            if self.check_file(name, &done).is_ok() {
                PartFile::remove(&part);
                return Ok(done);
            }
            std::fs::remove_file(&done)
                .with_context(|| format!("cannot remove {}", done.display()))?;
        }
        let url = format!("{}targets/{file}", self.base);
        loop {
            let mut sink = PartFile::open(&part, length, CHECKPOINT_BYTES)?;
            let held = sink.len;
            tracing::info!(url, held, length, "downloading");
            self.http
                .fetch_resuming(&url, held, length, &mut sink, 5, Duration::from_secs(2))
                .map_err(anyhow::Error::new)?;
            // Bytes from an earlier run are in the file (the server did not
            // send the whole object again).
            let resumed = held > 0 && !sink.restarted;
            sink.file
                .sync_all()
                .with_context(|| format!("cannot sync {}", part.display()))?;
            drop(sink);
            let Err(e) = self.check_file(name, &part) else {
                break;
            };
            // A wrong file is not resumed.
            PartFile::remove(&part);
            if !resumed {
                return Err(e.context(format!("{url} refused")));
            }
            // The next round starts from byte 0, so it is the last.
            tracing::warn!(
                "{url}: the download resumed at byte {held} was refused ({e:#}); downloading it again from byte 0"
            );
        }
        std::fs::rename(&part, &done)
            .with_context(|| format!("cannot rename {}", part.display()))?;
        PartFile::remove(&part);
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

/// Bytes downloaded between two checkpoints of a part file. After a power
/// cut at most this much is fetched again (seconds on a broadband link);
/// one data sync and one small record per 16 MiB costs next to nothing,
/// where syncing every buffer would make each write wait for the
/// dm-integrity journal of the state partition.
const CHECKPOINT_BYTES: u64 = 16 << 20;

/// A download's `<hash>.zst.part` file, made durable at checkpoints: every
/// `every` bytes its data is synced, then the synced length is recorded in
/// `<hash>.zst.part.synced` (written atomically). After a power cut the file
/// may hold bytes past what was synced, or zeros at its tail: a resume
/// trusts only the recorded length.
#[derive(Debug)]
struct PartFile {
    file: File,
    record: PathBuf,
    /// Bytes in the file.
    len: u64,
    /// Bytes synced, as the record says (0 when there is no record).
    synced: u64,
    every: u64,
    /// The server sent the whole object again: the earlier bytes went.
    restarted: bool,
}

impl PartFile {
    fn record_path(part: &Path) -> PathBuf {
        let mut name = part.as_os_str().to_owned();
        name.push(".synced");
        PathBuf::from(name)
    }

    /// Opens `part` for appending after its trusted bytes: the least of its
    /// length and its record's (none past `length`, the target's); whatever
    /// follows is truncated away.
    fn open(part: &Path, length: u64, every: u64) -> Result<PartFile> {
        let record = PartFile::record_path(part);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(part)
            .with_context(|| format!("cannot open {}", part.display()))?;
        let on_disk = file
            .metadata()
            .with_context(|| format!("cannot stat {}", part.display()))?
            .len();
        // A missing or unreadable record trusts nothing.
        let text = std::fs::read(&record).ok();
        let recorded = text
            .as_deref()
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| t.trim().parse::<u64>().ok());
        let mut held = on_disk.min(recorded.unwrap_or(0));
        if held > length {
            held = 0;
        }
        file.set_len(held)
            .with_context(|| format!("cannot truncate {}", part.display()))?;
        let mut p = PartFile {
            file,
            record,
            len: held,
            synced: held,
            every,
            restarted: false,
        };
        if text.is_some() && recorded != Some(held) {
            // The record never claims more than this file has synced, even
            // if the file was replaced.
            p.write_record(held)?;
        }
        Ok(p)
    }

    fn write_record(&mut self, synced: u64) -> io::Result<()> {
        write_atomically(&self.record, format!("{synced}\n").as_bytes())
            .map_err(|e| io::Error::other(format!("{e:#}")))?;
        self.synced = synced;
        Ok(())
    }

    fn checkpoint(&mut self) -> io::Result<()> {
        self.file.sync_data()?;
        self.write_record(self.len)
    }

    /// Removes the record, then the part file (a part without its record
    /// is trusted for nothing).
    fn remove(part: &Path) {
        let _ = std::fs::remove_file(PartFile::record_path(part));
        let _ = std::fs::remove_file(part);
    }
}

impl Write for PartFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.len += u64::try_from(n).unwrap_or(u64::MAX);
        if self.len.saturating_sub(self.synced) >= self.every {
            self.checkpoint()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl fetch::Sink for PartFile {
    fn restart(&mut self) -> io::Result<()> {
        if self.synced > 0 {
            self.write_record(0)?;
        }
        self.file.set_len(0)?;
        self.len = 0;
        self.restarted = true;
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use fetch::Sink;

    fn record(part: &Path) -> String {
        std::fs::read_to_string(PartFile::record_path(part)).unwrap()
    }

    #[test]
    fn checkpoints_sync_then_record_and_a_resume_trusts_only_the_record() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("h.zst.part");
        let mut p = PartFile::open(&part, 100, 10).unwrap();
        assert!(!PartFile::record_path(&part).exists());
        for i in 0..7u8 {
            p.write_all(&[i; 4]).unwrap();
            if i == 2 {
                assert_eq!(record(&part), "12\n");
            }
        }
        p.write_all(&[9; 2]).unwrap();
        drop(p);
        // Checkpoints at 12 and 24 bytes; 30 written.
        assert_eq!(record(&part), "24\n");
        assert_eq!(std::fs::metadata(&part).unwrap().len(), 30);
        let p = PartFile::open(&part, 100, 10).unwrap();
        assert_eq!(p.len, 24);
        assert_eq!(std::fs::metadata(&part).unwrap().len(), 24);
        let mut want = Vec::new();
        for i in 0..6u8 {
            want.extend_from_slice(&[i; 4]);
        }
        assert_eq!(std::fs::read(&part).unwrap(), want);
    }

    #[test]
    fn a_record_past_the_file_is_lowered_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("h.zst.part");
        std::fs::write(&part, [1u8; 7]).unwrap();
        std::fs::write(PartFile::record_path(&part), "50\n").unwrap();
        let p = PartFile::open(&part, 100, 10).unwrap();
        assert_eq!((p.len, p.synced), (7, 7));
        assert_eq!(record(&part), "7\n");
    }

    #[test]
    fn no_record_or_a_bad_one_or_one_past_the_target_trusts_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("h.zst.part");
        for rec in [None, Some("x\n"), Some("60\n")] {
            std::fs::write(&part, [1u8; 70]).unwrap();
            let r = PartFile::record_path(&part);
            match rec {
                Some(t) => std::fs::write(&r, t).unwrap(),
                None => {
                    let _ = std::fs::remove_file(&r);
                }
            }
            let p = PartFile::open(&part, 50, 10).unwrap();
            assert_eq!(p.len, 0, "{rec:?}");
            assert_eq!(std::fs::metadata(&part).unwrap().len(), 0, "{rec:?}");
            if rec.is_some() {
                assert_eq!(record(&part), "0\n", "{rec:?}");
            }
        }
    }

    #[test]
    fn a_restart_clears_the_record_before_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("h.zst.part");
        let mut p = PartFile::open(&part, 100, 10).unwrap();
        p.write_all(&[3; 15]).unwrap();
        assert_eq!(record(&part), "15\n");
        p.restart().unwrap();
        assert!(p.restarted);
        assert_eq!(record(&part), "0\n");
        p.write_all(&[4; 3]).unwrap();
        drop(p);
        assert_eq!(std::fs::read(&part).unwrap(), [4; 3]);
        PartFile::remove(&part);
        assert!(!part.exists() && !PartFile::record_path(&part).exists());
    }
}
