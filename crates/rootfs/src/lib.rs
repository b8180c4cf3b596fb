//! The root file system of a product (issue 4, item 2; the layout it
//! produces is fixed by the issue 4 contract, "Root tree contents added by
//! the builder"): a Debian tree made by mmdebstrap from
//! `product.debian`, configured as a read-only CLIP OS root, and a
//! deterministic EROFS image of it.
//!
//! Not a pure format crate: it runs `mmdebstrap`, `tar`, `chroot …
//! systemctl` and `mkfs.erofs`, and needs root (mmdebstrap's root mode,
//! file ownership).
//!
//! * [`build_tree`]: the unconfigured tree comes from the content-addressed
//!   cache ([`cache`]) or from mmdebstrap (minutes; the `.deb`s are cached
//!   too), is extracted into `work_dir/root` and configured there
//!   ([`configure`], [`state`], [`units`]);
//! * [`make_erofs`]: same tree, epoch and UUID give the same bytes.

pub mod cache;
mod cmd;
mod configure;
pub mod dpkg;
mod erofs;
mod error;
pub mod state;
pub mod units;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use configure::Boot as KernelFiles;
pub use erofs::{BLOCK, make_erofs};
pub use error::Error;
use product::Product;

/// A file the builder adds to the tree (e.g. `/usr/bin/clip-status` and its
/// unit), owned by root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraFile {
    /// Absolute path in the tree; its parent directories must not be
    /// symlinks there (write `/usr/bin/x`, not `/bin/x`).
    pub path: String,
    pub contents: Vec<u8>,
    /// Permission bits, e.g. `0o755` (SUID/SGID bits are cleared anyway).
    pub mode: u32,
}

/// How the tree cache is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CachePolicy {
    /// Use the cached tree when there is one, else build and cache it.
    #[default]
    Reuse,
    /// Rebuild with mmdebstrap even on a hit, picking up Debian updates
    /// (`clip build --refresh`); cached `.deb`s are still reused, and the
    /// cached tree is replaced.
    Refresh,
    /// Never run mmdebstrap: a miss is [`Error::NotCached`]. Nothing is
    /// downloaded.
    Offline,
}

/// What to build.
#[derive(Debug, Clone, Copy)]
pub struct TreeRequest<'a> {
    pub product: &'a Product,
    /// The user cache, e.g. `~/.cache/clip`; this crate uses `rootfs/` in it.
    pub cache_dir: &'a Path,
    /// Scratch space: the tree goes to `work_dir/root` (replaced if it
    /// exists), the kernel and stock initrd beside it.
    pub work_dir: &'a Path,
    pub source_date_epoch: u64,
    pub extra_files: &'a [ExtraFile],
    /// Units enabled in addition to `product.services.enabled`.
    pub extra_services: &'a [String],
    pub cache: CachePolicy,
}

/// A configured root tree.
#[derive(Debug, Clone)]
pub struct Tree {
    /// `work_dir/root`.
    pub root: PathBuf,
    /// Debian's kernel, moved out of the tree into `work_dir`; `None` when
    /// the product builds its kernel from source (no kernel package).
    pub kernel: Option<KernelFiles>,
    /// `(name, version)` of the installed packages, sorted by name.
    pub packages: Vec<(String, String)>,
    /// The unconfigured tree came from the cache (nothing was downloaded).
    pub from_cache: bool,
    /// The cache key (sha256 hex) of the unconfigured tree.
    pub cache_key: String,
    /// Paths inside the tree that had SUID or SGID bits (now cleared).
    pub suid_removed: Vec<String>,
    /// `debian.remove`: each package with the number of files removed.
    pub removed: Vec<(String, usize)>,
}

/// Builds and configures the root tree of `req.product` in
/// `req.work_dir/root`. Progress lines go to `progress`.
pub fn build_tree(req: &TreeRequest, progress: &dyn Fn(&str)) -> Result<Tree, Error> {
    let product = req.product;
    check_host(&product.debian.architecture)?;
    // Cheap checks first: the mmdebstrap run takes minutes.
    let mut enabled = product.services.enabled.clone();
    enabled.extend(req.extra_services.iter().cloned());
    for name in &enabled {
        if !units::valid_unit_name(name) {
            return Err(Error::ServiceName { name: name.clone() });
        }
    }
    for file in req.extra_files {
        configure::check_extra_path(&file.path)?;
    }
    let version = cmd::run(
        "mmdebstrap --version",
        Command::new("mmdebstrap").arg("--version"),
    )?;
    if !version.starts_with("mmdebstrap ") {
        return Err(Error::MmdebstrapVersion { output: version });
    }
    let recipe = cache::Recipe::new(&product.debian, &version, req.source_date_epoch);
    let key = recipe.key();
    let tarball = cache::tree_tarball(req.cache_dir, &key);
    let hit = tarball.is_file();
    let from_cache = match (req.cache, hit) {
        (CachePolicy::Reuse | CachePolicy::Offline, true) => {
            progress(&format!("root tree: cached ({})", tarball.display()));
            true
        }
        (CachePolicy::Offline, false) => return Err(Error::NotCached { path: tarball }),
        (CachePolicy::Reuse | CachePolicy::Refresh, _) => {
            run_mmdebstrap(req.cache_dir, &recipe, &tarball, progress)?;
            false
        }
    };

    fs::create_dir_all(req.work_dir).map_err(Error::io("create work directory", req.work_dir))?;
    let root = req.work_dir.join("root");
    if root.symlink_metadata().is_ok() {
        fs::remove_dir_all(&root).map_err(Error::io("remove the previous tree", &root))?;
    }
    fs::create_dir(&root).map_err(Error::io("create tree directory", &root))?;
    progress("root tree: extracting");
    cmd::run(
        "extract root tree",
        Command::new("tar")
            .args([
                "--extract",
                "--numeric-owner",
                "--preserve-permissions",
                "--xattrs",
            ])
            .arg("--xattrs-include=*")
            .arg("--file")
            .arg(&tarball)
            .arg("--directory")
            .arg(&root),
    )?;

    progress("root tree: configuring");
    let kernel = configure::take_boot_files(&root, req.work_dir, product.debian.kernel.is_some())?;
    configure::identity(&root, &product.os_release().render(), &product.name)?;
    configure::clean(&root)?;
    configure::install_extra(&root, req.extra_files)?;
    progress("root tree: applying service presets");
    configure::services(&root, &enabled)?;
    // Before the state paths move to the factory: /var/lib/dpkg goes there.
    let removed = if product.debian.remove.is_empty() {
        Vec::new()
    } else {
        progress(&format!(
            "root tree: removing {}",
            product.debian.remove.join(", ")
        ));
        configure::remove_packages(&root, &product.debian.remove)?
    };
    let status_path = root.join("var/lib/dpkg/status");
    let status =
        fs::read_to_string(&status_path).map_err(Error::io("read dpkg status", &status_path))?;
    let packages = dpkg::installed(&status);
    let suid_removed = configure::strip_suid(&root)?;
    state::apply(&root, &product.state)?;
    progress("root tree: ready");
    Ok(Tree {
        root,
        kernel,
        packages,
        from_cache,
        cache_key: key,
        suid_removed,
        removed,
    })
}

/// The identity of the cached unconfigured tree of `product`, if it is in
/// the cache: its recipe key and the SHA-256 of its tarball (so that a tree
/// replaced by `--refresh` gets a new identity). The hash is kept beside
/// the tarball with the tarball's size, mtime and inode, and recomputed
/// when any of them changed. Lets a caller key its own cache (the release
/// cache of `clip build`) without extracting the tree.
pub fn cached_tree_identity(
    product: &Product,
    cache_dir: &Path,
    source_date_epoch: u64,
) -> Result<Option<String>, Error> {
    let version = cmd::run(
        "mmdebstrap --version",
        Command::new("mmdebstrap").arg("--version"),
    )?;
    let recipe = cache::Recipe::new(&product.debian, &version, source_date_epoch);
    let key = recipe.key();
    let tarball = cache::tree_tarball(cache_dir, &key);
    let meta = match fs::metadata(&tarball) {
        Ok(m) if m.is_file() => m,
        _ => return Ok(None),
    };
    let stamp = format!(
        "{} {} {}",
        meta.len(),
        meta.mtime_nsec() + meta.mtime() * 1_000_000_000,
        meta.ino()
    );
    let sidecar = tarball.with_extension("tar.sha256");
    if let Ok(text) = fs::read_to_string(&sidecar) {
        if let Some((sha, rest)) = text.trim_end().split_once(' ') {
            if rest == stamp && sha.len() == 64 {
                return Ok(Some(format!("{key}:{sha}")));
            }
        }
    }
    use sha2::Digest;
    let mut file = fs::File::open(&tarball).map_err(Error::io("open the cached tree", &tarball))?;
    let mut hasher = sha2::Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(Error::io("hash the cached tree", &tarball))?;
    let sha = hex::encode(hasher.finalize());
    // Only a shortcut: a failed write costs a rehash next time.
    let tmp = sidecar.with_extension("sha256.tmp");
    if fs::write(&tmp, format!("{sha} {stamp}\n")).is_ok() {
        let _ = fs::rename(&tmp, &sidecar);
    }
    Ok(Some(format!("{key}:{sha}")))
}

/// Root, and a native architecture (the configuration runs the tree's own
/// binaries in a chroot).
fn check_host(architecture: &str) -> Result<(), Error> {
    let uid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    if uid != 0 {
        return Err(Error::NotRoot { uid });
    }
    let host = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    if architecture != host {
        return Err(Error::Architecture {
            product: architecture.to_owned(),
            host: host.to_owned(),
        });
    }
    Ok(())
}

/// Runs mmdebstrap into a temporary tarball beside `tarball` and renames it
/// into place once complete; the `.deb` cache is synced in and out.
fn run_mmdebstrap(
    cache_dir: &Path,
    recipe: &cache::Recipe,
    tarball: &Path,
    progress: &dyn Fn(&str),
) -> Result<(), Error> {
    let debs = cache::debs_dir(cache_dir, recipe);
    if debs.to_string_lossy().contains(char::is_whitespace) {
        return Err(Error::CachePath { path: debs });
    }
    fs::create_dir_all(&debs).map_err(Error::io("create deb cache", &debs))?;
    let trees = tarball.parent().unwrap_or(cache_dir);
    fs::create_dir_all(trees).map_err(Error::io("create tree cache", trees))?;
    let tmp = tempfile::Builder::new()
        .prefix(".tree-")
        .suffix(".tar.tmp")
        .tempfile_in(trees)
        .map_err(Error::io("create temporary tarball", trees))?;
    progress(&format!(
        "root tree: mmdebstrap {} ({} packages; a few minutes when nothing is cached)",
        recipe.suite,
        recipe.packages.len() + 1
    ));
    let mut command = Command::new("mmdebstrap");
    command
        .args(recipe.mmdebstrap_args(tmp.path(), &debs))
        .env("SOURCE_DATE_EPOCH", recipe.source_date_epoch.to_string());
    cmd::run_streaming("mmdebstrap", &mut command, &mut |line| {
        if let Some(info) = line.strip_prefix("I: ") {
            progress(&format!("mmdebstrap: {info}"));
        }
    })?;
    tmp.as_file()
        .sync_all()
        .map_err(Error::io("sync tree tarball", tmp.path()))?;
    tmp.persist(tarball)
        .map_err(|e| Error::io("rename tree tarball into the cache", tarball)(e.error))?;
    if let Ok(dir) = fs::File::open(trees) {
        let _ = dir.sync_all();
    }
    Ok(())
}
