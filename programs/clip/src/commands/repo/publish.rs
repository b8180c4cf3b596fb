//! `clip repo init`, `publish` and `refresh`: the repository side of the
//! update contract (docs/update.md "Repository"), TUF spec 1.0.31 with
//! consistent snapshots (§6.2) through crates/tuf.
//!
//! Write order of a publication: the target files, then `N.targets.json`,
//! `N.snapshot.json`, and `timestamp.json` last, each written to a
//! temporary file, synced and renamed into place. Clients start from
//! `timestamp.json`, so until its rename they see the previous publication
//! whole; files of an interrupted publish are named by no timestamp and are
//! overwritten by the next one.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use contract::release::RELEASE_JSON;
use serde_json::json;
use sha2::{Digest, Sha256};
use tuf::repository::{
    Publication, Signers, TIMESTAMP_FILE, new_snapshot, new_timestamp, publish, root_file_name,
    sign_role, snapshot_file_name, target_file_name,
};
use tuf::{Client, Metadata, TargetFile};

use super::store::{
    ExpiryArgs, METADATA_DIR, TARGETS_DIR, UpdateKeys, now, verified_for_signing, write_metadata,
};
use crate::output;

/// zstd level of the payloads: 3 (zstd's default) with one worker per
/// core. The default product's 188 MB root.erofs (its files already
/// compressed inside) shrinks to 84.9% in 1.1 s on 2 cores; level 9 gives
/// 81.8% in 4.5 s, level 1 88.4% in 0.7 s (docs/update.md "Keys and
/// repository").
pub const ZSTD_LEVEL: i32 = 3;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory of the new repository (created; an existing one must be empty).
    repo: PathBuf,
    /// Key set with the update keys (`clip keys generate`).
    #[arg(long, value_name = "DIR")]
    keys: PathBuf,
    #[command(flatten)]
    expiry: ExpiryArgs,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The repository (`clip repo init`).
    repo: PathBuf,
    /// A `clip build` output directory: its release/ is published.
    build_dir: PathBuf,
    /// Key set with the update keys (offline and online).
    #[arg(long, value_name = "DIR")]
    keys: PathBuf,
    #[command(flatten)]
    expiry: ExpiryArgs,
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// The repository.
    repo: PathBuf,
    /// Key set with the online update key (update.key is not needed).
    #[arg(long, value_name = "DIR")]
    keys: PathBuf,
    #[command(flatten)]
    expiry: ExpiryArgs,
}

pub fn init(args: InitArgs) -> Result<()> {
    let repo = &args.repo;
    match fs::read_dir(repo) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                bail!(
                    "{} exists and is not empty; clip repo init makes a new repository",
                    repo.display()
                );
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", repo.display())),
    }
    let keys = UpdateKeys::load(&args.keys, true)?;
    for dir in [METADATA_DIR, TARGETS_DIR] {
        let path = repo.join(dir);
        fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
    }
    write_metadata(repo, &root_file_name(1), &keys.root_bytes)?;
    let now = now()?;
    let (expires, snapshot_expires, timestamp_expires) = args.expiry.times(now);
    let p = Publication {
        targets_version: 1,
        targets_expires: expires,
        snapshot_version: 1,
        snapshot_expires,
        timestamp_version: 1,
        timestamp_expires,
    };
    write_publication(repo, &keys, BTreeMap::new(), &p)?;
    output::line(format_args!(
        "Initialised {}: root key {}, empty publication (targets 1, timestamp expires {})",
        repo.display(),
        super::store::root_key_ids(&keys.root.signed),
        timestamp_expires
    ))?;
    Ok(())
}

/// Signs targets, snapshot and timestamp and writes them in order.
fn write_publication(
    repo: &Path,
    keys: &UpdateKeys,
    targets: BTreeMap<String, TargetFile>,
    p: &Publication,
) -> Result<()> {
    let offline = keys
        .offline
        .as_ref()
        .context("internal error: update.key not loaded")?;
    let root = &keys_root(repo, keys)?;
    let files = publish(
        root,
        targets,
        p,
        &Signers {
            targets: &[offline],
            snapshot: &[&keys.online],
            timestamp: &[&keys.online],
        },
    )
    .context("cannot sign the publication")?;
    for (name, bytes) in files {
        write_metadata(repo, &name, &bytes)?;
    }
    Ok(())
}

/// The newest root of the repository (its chain was verified by the
/// caller), or the key set's for a new one.
fn keys_root(repo: &Path, keys: &UpdateKeys) -> Result<tuf::Root> {
    let mut root = keys.root.signed.clone();
    loop {
        let path = repo
            .join(METADATA_DIR)
            .join(root_file_name(root.version + 1));
        if !path.exists() {
            return Ok(root);
        }
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        root = Metadata::<tuf::Root>::from_bytes(&bytes)
            .with_context(|| format!("in {}", path.display()))?
            .signed;
    }
}

pub fn publish_release(args: PublishArgs) -> Result<()> {
    let repo = &args.repo;
    let keys = UpdateKeys::load(&args.keys, true)?;
    keys.check_repo(repo)?;
    let dir = args.build_dir.join("release");
    let release = crate::commands::build::release::read_checked(&dir)
        .with_context(|| format!("{} is not a sound release", dir.display()))?;
    let client = verified_for_signing(repo)?;
    let current = current_versions(&client)?;
    let mut targets = client
        .targets()
        .map(|t| t.targets.clone())
        .unwrap_or_default();
    let prefix = format!("{}/{}/", release.product, release.version);
    if targets.keys().any(|name| name.starts_with(&prefix)) {
        bail!(
            "{} already holds {} {} (targets version {}); publish another version",
            repo.display(),
            release.product,
            release.version,
            current.0
        );
    }
    let now = now()?;
    let (expires, snapshot_expires, timestamp_expires) = args.expiry.times(now);
    let out_dir = repo
        .join(TARGETS_DIR)
        .join(&release.product)
        .join(release.version.to_string());
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;

    let mut total_in = 0u64;
    let mut total_out = 0u64;
    let started = std::time::Instant::now();
    for file in release.files() {
        let name = format!("{prefix}{}.zst", file.name);
        let (target, compressed) = compress(&dir.join(&file.name), file, &out_dir)?;
        total_in += file.size;
        total_out += compressed;
        targets.insert(name, target);
    }
    let release_bytes = fs::read(dir.join(RELEASE_JSON))
        .with_context(|| format!("cannot read {}", dir.join(RELEASE_JSON).display()))?;
    let release_target = TargetFile::for_bytes(
        &release_bytes,
        Some(json!({"clip": {"product": release.product, "version": release.version.to_string()}})),
    );
    let stored = repo.join(TARGETS_DIR).join(target_file_name(
        &format!("{prefix}{RELEASE_JSON}"),
        &hex::encode(Sha256::digest(&release_bytes)),
    ));
    crate::blockio::write_file_atomically(&stored, &release_bytes, 0o644, true)?;
    targets.insert(format!("{prefix}{RELEASE_JSON}"), release_target);

    let p = Publication {
        targets_version: current.0 + 1,
        targets_expires: expires,
        snapshot_version: current.1 + 1,
        snapshot_expires,
        timestamp_version: current.2 + 1,
        timestamp_expires,
    };
    write_publication(repo, &keys, targets, &p)?;
    let seconds = started.elapsed().as_secs_f64();
    output::line(format_args!(
        "Published {} {} in {}: {} files, {} bytes compressed to {} ({:.1}%) in {:.1} s; targets version {}, timestamp expires {}",
        release.product,
        release.version,
        repo.display(),
        release.files().count(),
        total_in,
        total_out,
        percent(total_out, total_in),
        seconds,
        p.targets_version,
        timestamp_expires
    ))?;
    Ok(())
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    // Display only: f64 precision is plenty.
    #[allow(clippy::cast_precision_loss)]
    let ratio = part as f64 / whole as f64;
    ratio * 100.0
}

/// (targets, snapshot, timestamp) versions of the verified metadata.
fn current_versions(client: &Client) -> Result<(u64, u64, u64)> {
    let v = |x: Option<u64>, what| x.with_context(|| format!("internal error: no trusted {what}"));
    Ok((
        v(client.targets().map(|t| t.version), "targets")?,
        v(client.snapshot().map(|s| s.version), "snapshot")?,
        v(client.timestamp().map(|t| t.version), "timestamp")?,
    ))
}

/// A writer that hashes and counts what passes through.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    len: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += u64::try_from(n).unwrap_or(u64::MAX);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Compresses release file `src` into `out_dir/<sha256>.<name>.zst`
/// (temporary file, synced, renamed), checking the uncompressed bytes
/// against release.json once more as they are read. Returns the target
/// entry (custom: the uncompressed length and sha256) and the compressed size.
fn compress(
    src: &Path,
    file: &contract::release::File,
    out_dir: &Path,
) -> Result<(TargetFile, u64)> {
    let mut input =
        fs::File::open(src).with_context(|| format!("cannot open {}", src.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".clip-tmp-")
        .tempfile_in(out_dir)
        .with_context(|| format!("cannot create a temporary file in {}", out_dir.display()))?;
    let out = tmp
        .as_file()
        .try_clone()
        .with_context(|| format!("cannot open {}", tmp.path().display()))?;
    let sink = Hashing {
        inner: std::io::BufWriter::new(out),
        hasher: Sha256::new(),
        len: 0,
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut encoder = zstd::stream::write::Encoder::new(sink, ZSTD_LEVEL)
        .context("cannot start the zstd encoder")?;
    encoder
        .multithread(u32::try_from(workers).unwrap_or(1))
        .and_then(|()| encoder.set_pledged_src_size(Some(file.size)))
        .and_then(|()| encoder.include_checksum(true))
        .context("cannot configure the zstd encoder")?;
    let bar = crate::blockio::progress(file.size, &format!("compressing {}", file.name));
    let mut plain = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut seen = 0u64;
    loop {
        let n = input
            .read(&mut buf)
            .with_context(|| format!("cannot read {}", src.display()))?;
        if n == 0 {
            break;
        }
        plain.update(&buf[..n]);
        encoder
            .write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", tmp.path().display()))?;
        seen += u64::try_from(n).unwrap_or(u64::MAX);
        bar.set_position(seen);
    }
    bar.finish_and_clear();
    let sha = hex::encode(plain.finalize());
    if seen != file.size || sha != file.sha256 {
        bail!(
            "{} changed while it was published: {seen} bytes with sha256 {sha}; release.json says {} bytes with sha256 {}",
            src.display(),
            file.size,
            file.sha256
        );
    }
    let mut sink = encoder
        .finish()
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    sink.flush()
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    let Hashing { inner, hasher, len } = sink;
    inner
        .into_inner()
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", tmp.path().display(), e.error()))?;
    let digest: [u8; 32] = hasher.finalize().into();
    tmp.as_file()
        .sync_all()
        .with_context(|| format!("cannot sync {}", tmp.path().display()))?;
    let target = out_dir.join(format!("{}.{}.zst", hex::encode(digest), file.name));
    tmp.persist(&target)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {}", target.display(), e.error))?;
    fs::File::open(out_dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", out_dir.display()))?;
    let entry = TargetFile::new(
        len,
        digest,
        Some(json!({"clip": {"length": file.size, "sha256": file.sha256}})),
    );
    Ok((entry, len))
}

pub fn refresh(args: RefreshArgs) -> Result<()> {
    let repo = &args.repo;
    let keys = UpdateKeys::load(&args.keys, false)?;
    keys.check_repo(repo)?;
    let client = verified_for_signing(repo)?;
    let (targets_version, snapshot_version, timestamp_version) = current_versions(&client)?;
    let now = now()?;
    let (_, snapshot_expires_new, timestamp_expires) = args.expiry.times(now);
    let root = keys_root(repo, &keys)?;
    let targets = client.targets().context("internal error: no targets")?;
    if targets.expires <= timestamp_expires {
        bail!(
            "targets version {targets_version} expires at {}, before the new timestamp would ({timestamp_expires}): \
             publish with the offline key (clip repo publish) to re-sign it",
            targets.expires
        );
    }
    let trusted = |role| {
        client
            .trusted_bytes(role)
            .map(<[u8]>::to_vec)
            .with_context(|| format!("internal error: no trusted {role}"))
    };
    let snapshot_expires = client.snapshot().map(|s| s.expires);
    // A new snapshot only when the current one would expire first.
    let (snapshot, new_snapshot_version) =
        if snapshot_expires.is_some_and(|e| e > timestamp_expires) {
            (
                Metadata::<tuf::Snapshot>::from_bytes(&trusted("snapshot")?)?,
                None,
            )
        } else {
            let targets_md = Metadata::<tuf::Targets>::from_bytes(&trusted("targets")?)?;
            let snapshot = sign_role(
                &root,
                new_snapshot(
                    snapshot_version + 1,
                    snapshot_expires_new.min(targets.expires),
                    &targets_md,
                ),
                &[&keys.online],
            )?;
            (snapshot, Some(snapshot_version + 1))
        };
    let timestamp = sign_role(
        &root,
        new_timestamp(timestamp_version + 1, timestamp_expires, &snapshot),
        &[&keys.online],
    )?;
    if let Some(v) = new_snapshot_version {
        write_metadata(repo, &snapshot_file_name(v), &snapshot.to_bytes())?;
    }
    write_metadata(repo, TIMESTAMP_FILE, &timestamp.to_bytes())?;
    output::line(format_args!(
        "Refreshed {}: timestamp version {}, expires {}{}",
        repo.display(),
        timestamp_version + 1,
        timestamp_expires,
        match new_snapshot_version {
            Some(v) => format!("; snapshot version {v}"),
            None => String::new(),
        }
    ))?;
    Ok(())
}
