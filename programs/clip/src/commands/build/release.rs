//! The release of a build (`contract::release`): the EROFS root, its
//! dm-verity area, one signed UKI per slot and the signed boot loader,
//! described by `release.json` — what `clip repo publish` puts in an update
//! repository and what a disk is assembled from.
//!
//! Releases are cached by content under `CACHE/releases/KEY`: the key
//! hashes every input that can change a byte of the release (the product
//! with its version, SOURCE_DATE_EPOCH, the cached root tree's content, the
//! device programs, the signing certificates, and this clip executable,
//! whose code configures the tree and builds the UKIs). A hit is checked
//! against its own release.json before it is used; a damaged entry is
//! rebuilt.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use contract::release::{self, File, Release, Uki, Verity};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Directory of the release inside `--out` and inside a cache entry.
pub const RELEASE_DIR: &str = "release";
/// What the manifest needs that the release does not say (the tree's
/// packages, the initramfs' modules), kept beside a cached release.
const BUILD_INFO: &str = "build.json";
/// Cache entries kept; older ones (by last use) are removed.
const KEEP: usize = 6;

/// Names of the release's files.
pub const ROOT_FILE: &str = "root.erofs";
pub const VERITY_FILE: &str = "root.verity";
pub const BOOTLOADER_FILE: &str = "systemd-bootx64.efi";

pub fn uki_file(product: &str, slot: contract::Slot) -> String {
    format!("{product}-{slot}.efi")
}

/// The build facts of a release that only the manifest reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BuildInfo {
    pub kernel_version: String,
    pub packages: Vec<(String, String)>,
    pub initramfs_modules: Vec<String>,
    /// `debian.remove`: each package with the number of files removed.
    #[serde(default)]
    pub removed_packages: Vec<(String, usize)>,
    /// `systemd-analyze security` of the services the image starts.
    #[serde(default)]
    pub service_scores: Vec<super::security::Score>,
    /// The per-ELF hardening audit's totals.
    #[serde(default)]
    pub elf_audit: Option<super::elf::Summary>,
    /// The kernel: where it came from, its policy report.
    #[serde(default)]
    pub kernel: Option<super::kernel::Info>,
    /// The EROFS superblock UUID.
    pub erofs_uuid: String,
    pub hash_area_size: u64,
}

/// Every input of a release, hashed into its cache key.
#[derive(Debug, Serialize)]
pub struct Inputs<'a> {
    pub format: &'static str,
    pub product: &'a product::Product,
    pub source_date_epoch: u64,
    /// `rootfs::cached_tree_identity`.
    pub tree: &'a str,
    pub clip_init_sha256: String,
    pub clip_status_sha256: String,
    pub clip_status_unit_sha256: String,
    /// `update::UpdateFiles::sha256`: clip-updated, its units, update.json
    /// and the trust root.
    pub update_sha256: String,
    pub db_cert_sha256: String,
    pub pcr_policy_pkfp: String,
    pub clip_sha256: String,
    /// `kernel::Plan::key`: the kernel policy and, for a kernel from
    /// source, its build key.
    pub kernel: String,
}

impl Inputs<'_> {
    pub fn key(&self) -> Result<String> {
        let text = serde_json::to_vec(self).context("cannot serialise the release inputs")?;
        Ok(hex::encode(Sha256::digest(text)))
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of this clip executable.
pub fn self_sha256() -> Result<String> {
    let exe = std::env::current_exe().context("cannot locate the clip executable")?;
    let mut file =
        std::fs::File::open(&exe).with_context(|| format!("cannot open {}", exe.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("cannot read {}", exe.display()))?;
    Ok(hex::encode(hasher.finalize()))
}

/// A release description of `dir`'s files.
pub fn file(name: &str, bytes: &[u8]) -> File {
    File {
        name: name.to_owned(),
        size: bytes.len() as u64,
        sha256: sha256_hex(bytes),
    }
}

/// The parts of a release made by the build, before it is written.
pub struct Made<'a> {
    pub product: &'a product::Product,
    pub erofs: &'a [u8],
    pub hash_area: &'a [u8],
    pub params: &'a contract::BootParams,
    pub bootloader: &'a [u8],
    /// Per slot: (UKI bytes, command line, pcr11 object).
    pub ukis: Vec<(contract::Slot, Vec<u8>, String, Value)>,
}

/// Writes a release into `dir` (created; must not exist): the files, then
/// release.json last.
pub fn write(dir: &Path, made: &Made<'_>) -> Result<Release> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let put = |name: &str, bytes: &[u8]| -> Result<File> {
        crate::blockio::write_file_atomically(&dir.join(name), bytes, 0o644, true)?;
        Ok(file(name, bytes))
    };
    let root = put(ROOT_FILE, made.erofs)?;
    let verity_file = put(VERITY_FILE, made.hash_area)?;
    let bootloader = put(BOOTLOADER_FILE, made.bootloader)?;
    let mut ukis = Vec::new();
    for (slot, bytes, cmdline, pcr11) in &made.ukis {
        ukis.push(Uki {
            slot: *slot,
            file: put(&uki_file(&made.product.name, *slot), bytes)?,
            cmdline: cmdline.clone(),
            pcr11: pcr11.clone(),
        });
    }
    let release = Release {
        format: release::FORMAT,
        product: made.product.name.clone(),
        version: contract::Version::parse(&made.product.version)
            .context("the product's version")?,
        root,
        verity: Verity {
            file: verity_file,
            root_hash: made.params.root_hash_hex(),
            salt: hex::encode(&made.params.salt),
            data_blocks: made.params.data_blocks,
        },
        ukis,
        bootloader,
    };
    release
        .check()
        .context("internal error: the release breaks the contract")?;
    crate::blockio::write_file_atomically(
        &dir.join(release::RELEASE_JSON),
        release.to_json().as_bytes(),
        0o644,
        true,
    )?;
    Ok(release)
}

/// Reads `dir/release.json` and checks every file it names against its
/// size and SHA-256.
pub fn read_checked(dir: &Path) -> Result<Release> {
    let path = dir.join(release::RELEASE_JSON);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let release = Release::from_json(&bytes).with_context(|| format!("in {}", path.display()))?;
    for f in release.files() {
        let p = dir.join(&f.name);
        let mut file =
            std::fs::File::open(&p).with_context(|| format!("cannot open {}", p.display()))?;
        let mut hasher = Sha256::new();
        let size = std::io::copy(&mut file, &mut hasher)
            .with_context(|| format!("cannot read {}", p.display()))?;
        let sha = hex::encode(hasher.finalize());
        if size != f.size || sha != f.sha256 {
            bail!(
                "{} is {size} bytes with sha256 {sha}; release.json says {} bytes with sha256 {}",
                p.display(),
                f.size,
                f.sha256
            );
        }
    }
    Ok(release)
}

/// The cache entry of `key`.
pub fn entry(cache: &Path, key: &str) -> PathBuf {
    cache.join("releases").join(key)
}

/// A cached release, checked, copied into `out_release` and `out_artifacts`.
/// `None` when there is no usable entry (a damaged one is removed).
pub fn restore(
    cache: &Path,
    key: &str,
    out_release: &Path,
    out_artifacts: &Path,
) -> Result<Option<(Release, BuildInfo)>> {
    let dir = entry(cache, key);
    if !dir.join(BUILD_INFO).is_file() {
        return Ok(None);
    }
    let checked = read_checked(&dir.join(RELEASE_DIR)).and_then(|r| {
        let info_path = dir.join(BUILD_INFO);
        let text = std::fs::read(&info_path)
            .with_context(|| format!("cannot read {}", info_path.display()))?;
        let info: BuildInfo = serde_json::from_slice(&text)
            .with_context(|| format!("{} is not valid", info_path.display()))?;
        Ok((r, info))
    });
    let (release, info) = match checked {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(
                "the cached release {} is damaged ({e:#}); rebuilding it",
                dir.display()
            );
            std::fs::remove_dir_all(&dir)
                .with_context(|| format!("cannot remove {}", dir.display()))?;
            return Ok(None);
        }
    };
    // Marks the entry as used, for `prune`, before copying: another
    // build's prune then takes older entries, not this one.
    let _ = std::fs::File::open(dir.join(BUILD_INFO))
        .and_then(|f| f.set_modified(std::time::SystemTime::now()));
    // Copies, not links: a test or a person may change the output's files.
    let copied = copy_dir(&dir.join(RELEASE_DIR), out_release)
        .and_then(|()| copy_dir(&dir.join(super::ARTIFACTS_DIR), out_artifacts));
    if let Err(e) = copied {
        if dir.join(BUILD_INFO).is_file() {
            return Err(e);
        }
        // Pruned by a concurrent build while we copied: a miss.
        tracing::warn!(
            "the cached release {} went away while it was copied ({e:#}); rebuilding it",
            dir.display()
        );
        return Ok(None);
    }
    Ok(Some((release, info)))
}

/// Stores the release in `out_release` (and the artifacts) under `key`,
/// then removes the least recently used entries beyond [`KEEP`].
pub fn store(
    cache: &Path,
    key: &str,
    out_release: &Path,
    out_artifacts: &Path,
    info: &BuildInfo,
) -> Result<()> {
    let dir = entry(cache, key);
    let parent = dir
        .parent()
        .context("internal error: cache entry has no parent")?;
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create {}", parent.display()))?;
    let tmp = parent.join(format!(".{key}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("cannot clean {}", tmp.display()))?;
    }
    copy_dir(out_release, &tmp.join(RELEASE_DIR))?;
    copy_dir(out_artifacts, &tmp.join(super::ARTIFACTS_DIR))?;
    let info_text = serde_json::to_vec_pretty(info).context("cannot serialise build.json")?;
    std::fs::write(tmp.join(BUILD_INFO), info_text)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    std::fs::rename(&tmp, &dir).with_context(|| format!("cannot create {}", dir.display()))?;
    prune(parent);
    Ok(())
}

/// Removes the oldest entries beyond [`KEEP`]; failures only cost space.
fn prune(releases: &Path) {
    let Ok(read) = std::fs::read_dir(releases) else {
        return;
    };
    let mut entries: Vec<(std::time::SystemTime, PathBuf)> = read
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| {
            let used = std::fs::metadata(e.path().join(BUILD_INFO))
                .and_then(|m| m.modified())
                .ok()?;
            Some((used, e.path()))
        })
        .collect();
    entries.sort();
    let excess = entries.len().saturating_sub(KEEP);
    for (_, path) in entries.into_iter().take(excess) {
        if let Err(e) = std::fs::remove_dir_all(&path) {
            tracing::warn!(
                "cannot remove the old cached release {}: {e}",
                path.display()
            );
        }
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    for e in std::fs::read_dir(from).with_context(|| format!("cannot list {}", from.display()))? {
        let e = e.with_context(|| format!("cannot list {}", from.display()))?;
        if e.file_type().is_ok_and(|t| t.is_file()) {
            let target = to.join(e.file_name());
            std::fs::copy(e.path(), &target).with_context(|| {
                format!("cannot copy {} to {}", e.path().display(), target.display())
            })?;
        }
    }
    Ok(())
}

/// The release part of the manifest.
pub fn manifest_json(release: &Release, key: &str, from_cache: bool, entry: &Path) -> Value {
    json!({
        "directory": RELEASE_DIR,
        "version": release.version.as_str(),
        "key": key,
        "from_cache": from_cache,
        "cache_entry": entry.display().to_string(),
        "files": release.files().map(|f| json!({"name": f.name, "size": f.size, "sha256": f.sha256})).collect::<Vec<_>>(),
    })
}
