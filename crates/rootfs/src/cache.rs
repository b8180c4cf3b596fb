//! The content-addressed cache of unconfigured root trees, and the
//! mmdebstrap command line that fills it.
//!
//! Layout under the cache directory (`~/.cache/clip`):
//!
//! * `rootfs/debs/<suite>-<arch>/`: every `.deb` ever downloaded, synced into
//!   the chroot's `/var/cache/apt/archives` before apt runs and back out after
//!   (mmdebstrap `sync-in`/`sync-out` hooks), so a rebuild after a package
//!   list change downloads only the new packages;
//! * `rootfs/trees/<key>.tar`: mmdebstrap's tarball of the finished but
//!   unconfigured tree, `<key>` = sha256 of [`key_text`]. A hit is extracted
//!   and nothing is downloaded; a refresh rebuilds it (new Debian updates).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Bumped whenever the way a tree is produced changes in a way the key
/// does not otherwise capture (e.g. how the tarball is post-processed).
pub const FORMAT_VERSION: u32 = 1;

/// The mmdebstrap options that do not depend on the product. They are part
/// of the cache key, so changing one here invalidates the cached trees.
///
/// * `--mode=root`: we run as root; real ownership and device nodes.
/// * `--variant=apt`: the Essential set plus apt (smaller than minbase).
/// * no recommends: only what the product lists and their dependencies.
/// * `--skip=essential/unlink`: keep the Essential `.deb`s in the archive
///   directory so the `sync-out` hook saves them in the deb cache too.
/// * the setup hook asks initramfs-tools (read from its `modules.d`) to put
///   the EROFS module in Debian's own initrd, which the builder keeps only to
///   compare boot times on the same root (bench/boot-time): without it that
///   initrd cannot mount an EROFS root.
pub const FIXED_OPTIONS: &[&str] = &[
    "--mode=root",
    "--format=tar",
    "--variant=apt",
    "--aptopt=APT::Install-Recommends \"false\"",
    "--skip=essential/unlink",
    "--setup-hook=mkdir -p \"$1\"/usr/share/initramfs-tools/modules.d && echo erofs > \"$1\"/usr/share/initramfs-tools/modules.d/clip-erofs",
];

/// What determines an unconfigured tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipe {
    pub suite: String,
    pub mirror: String,
    pub architecture: String,
    /// The kernel package (`linux-image-amd64`); none for a kernel built
    /// from source.
    pub kernel: Option<String>,
    /// Sorted, without duplicates; the kernel package is not in it.
    pub packages: Vec<String>,
    /// `mmdebstrap --version` output, e.g. `mmdebstrap 1.3.5`.
    pub mmdebstrap_version: String,
    /// Timestamps and some file contents (e.g. /etc/shadow's last-change
    /// day) depend on it.
    pub source_date_epoch: u64,
}

impl Recipe {
    pub fn new(debian: &product::Debian, mmdebstrap_version: &str, source_date_epoch: u64) -> Self {
        let mut packages: Vec<String> = debian
            .packages
            .iter()
            .filter(|p| Some(*p) != debian.kernel.as_ref())
            .cloned()
            .collect();
        packages.sort();
        packages.dedup();
        Self {
            suite: debian.suite.clone(),
            mirror: debian.mirror.trim_end_matches('/').to_owned(),
            architecture: debian.architecture.clone(),
            kernel: debian.kernel.clone(),
            packages,
            mmdebstrap_version: mmdebstrap_version.trim().to_owned(),
            source_date_epoch,
        }
    }

    /// The canonical text hashed into the key, one `name=value` per line.
    pub fn key_text(&self) -> String {
        format!(
            "clip rootfs tree format {FORMAT_VERSION}\nsuite={}\nmirror={}\narchitecture={}\n\
             kernel={}\npackages={}\nmmdebstrap={}\noptions={}\nsource_date_epoch={}\n",
            self.suite,
            self.mirror,
            self.architecture,
            self.kernel.as_deref().unwrap_or_default(),
            self.packages.join(","),
            self.mmdebstrap_version,
            FIXED_OPTIONS.join(" "),
            self.source_date_epoch,
        )
    }

    /// sha256 of [`Recipe::key_text`], lowercase hex.
    pub fn key(&self) -> String {
        hex::encode(Sha256::digest(self.key_text().as_bytes()))
    }

    /// The arguments after `mmdebstrap`: fixed options, the packages and the
    /// deb cache hooks, then suite, target tarball and mirror.
    pub fn mmdebstrap_args(&self, target: &Path, debs: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = FIXED_OPTIONS.iter().map(OsString::from).collect();
        args.push(format!("--architectures={}", self.architecture).into());
        let mut include = self.packages.clone();
        include.extend(self.kernel.clone());
        args.push(format!("--include={}", include.join(",")).into());
        args.push("--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives/".into());
        let mut sync_in = OsString::from("--setup-hook=sync-in ");
        sync_in.push(debs);
        sync_in.push(" /var/cache/apt/archives/");
        args.push(sync_in);
        let mut sync_out = OsString::from("--customize-hook=sync-out /var/cache/apt/archives ");
        sync_out.push(debs);
        args.push(sync_out);
        args.push(self.suite.clone().into());
        args.push(target.into());
        args.push(self.mirror.clone().into());
        args
    }
}

/// Where the cache keeps the `.deb`s of one suite and architecture.
pub fn debs_dir(cache_dir: &Path, recipe: &Recipe) -> PathBuf {
    cache_dir
        .join("rootfs/debs")
        .join(format!("{}-{}", recipe.suite, recipe.architecture))
}

/// Where the cache keeps the tree tarball for `key`.
pub fn tree_tarball(cache_dir: &Path, key: &str) -> PathBuf {
    cache_dir.join("rootfs/trees").join(format!("{key}.tar"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian() -> product::Debian {
        product::Debian {
            suite: "trixie".into(),
            mirror: "http://deb.debian.org/debian".into(),
            architecture: "amd64".into(),
            kernel: Some("linux-image-amd64".into()),
            packages: vec!["systemd".into(), "dbus".into(), "udev".into()],
            remove: Vec::new(),
        }
    }

    #[test]
    fn key_ignores_package_order_and_duplicates() {
        let a = Recipe::new(&debian(), "mmdebstrap 1.3.5\n", 1);
        let mut d = debian();
        d.packages = vec![
            "udev".into(),
            "dbus".into(),
            "systemd".into(),
            "dbus".into(),
        ];
        let b = Recipe::new(&d, "mmdebstrap 1.3.5", 1);
        assert_eq!(a.packages, ["dbus", "systemd", "udev"]);
        assert_eq!(a.key(), b.key());
        assert_eq!(a.key().len(), 64);
    }

    #[test]
    fn key_changes_with_every_input() {
        let base = Recipe::new(&debian(), "mmdebstrap 1.3.5", 1).key();
        let mut keys = vec![base.clone()];
        let mut d = debian();
        d.suite = "forky".into();
        keys.push(Recipe::new(&d, "mmdebstrap 1.3.5", 1).key());
        let mut d = debian();
        d.mirror = "http://mirror.example/debian".into();
        keys.push(Recipe::new(&d, "mmdebstrap 1.3.5", 1).key());
        let mut d = debian();
        d.architecture = "arm64".into();
        keys.push(Recipe::new(&d, "mmdebstrap 1.3.5", 1).key());
        let mut d = debian();
        d.kernel = Some("linux-image-cloud-amd64".into());
        keys.push(Recipe::new(&d, "mmdebstrap 1.3.5", 1).key());
        let mut d = debian();
        d.packages.push("kmod".into());
        keys.push(Recipe::new(&d, "mmdebstrap 1.3.5", 1).key());
        keys.push(Recipe::new(&debian(), "mmdebstrap 1.5.6", 1).key());
        keys.push(Recipe::new(&debian(), "mmdebstrap 1.3.5", 2).key());
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len(), "{keys:?}");
    }

    #[test]
    fn trailing_slash_of_the_mirror_does_not_matter() {
        let mut d = debian();
        d.mirror.push('/');
        assert_eq!(
            Recipe::new(&d, "mmdebstrap 1.3.5", 1).key(),
            Recipe::new(&debian(), "mmdebstrap 1.3.5", 1).key()
        );
    }

    #[test]
    fn mmdebstrap_command_line() {
        let r = Recipe::new(&debian(), "mmdebstrap 1.3.5", 1);
        let args = r.mmdebstrap_args(Path::new("/c/t.tar.tmp"), Path::new("/c/debs"));
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "--mode=root",
                "--format=tar",
                "--variant=apt",
                "--aptopt=APT::Install-Recommends \"false\"",
                "--skip=essential/unlink",
                "--setup-hook=mkdir -p \"$1\"/usr/share/initramfs-tools/modules.d && echo erofs > \"$1\"/usr/share/initramfs-tools/modules.d/clip-erofs",
                "--architectures=amd64",
                "--include=dbus,systemd,udev,linux-image-amd64",
                "--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives/",
                "--setup-hook=sync-in /c/debs /var/cache/apt/archives/",
                "--customize-hook=sync-out /var/cache/apt/archives /c/debs",
                "trixie",
                "/c/t.tar.tmp",
                "http://deb.debian.org/debian",
            ]
        );
    }
}
