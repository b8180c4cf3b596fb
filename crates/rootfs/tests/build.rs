//! Builds the clipos product's root tree with the real mmdebstrap (slow on a
//! cold cache: about a minute of downloads and dpkg) and checks the
//! configuration, the cache and the EROFS image against erofs-utils'
//! `fsck.erofs` (the oracle: a missing tool fails the tests).
//!
//! One build per test binary, shared; the cache is the user cache
//! (`$CLIP_CACHE`, else `~/.cache/clip`), so the next run is a cache hit.
//! Needs root.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use product::{Kind, Product};
use rootfs::{CachePolicy, ExtraFile, Tree, TreeRequest, build_tree, make_erofs};
use uuid::Uuid;

// The same as `clip build`'s default.
const EPOCH: u64 = 1_767_225_600;
const UUID: Uuid = Uuid::from_u128(0x5c1e_0000_0000_4000_8000_0000_0000_0001);
const UNIT: &str = "[Unit]\nDescription=test\n[Service]\nType=oneshot\nExecStart=/usr/bin/clip-test\n\
                    [Install]\nWantedBy=multi-user.target\n";

/// products/clipos with Debian's prebuilt kernel (`kernel.from =
/// "package"`): the tree path that installs and takes out a kernel package.
/// (The default product builds its kernel from source; its tree has none,
/// which `clip build`'s image tests cover.)
fn product() -> Product {
    let mut p = Product::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../products/clipos"))
        .unwrap();
    p.kernel.from = product::KernelFrom::Package;
    p.kernel.source_version = None;
    p.debian.kernel = Some("linux-image-amd64".into());
    p.validate().unwrap();
    p
}

fn cache_dir() -> PathBuf {
    match std::env::var_os("CLIP_CACHE") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/clip"),
    }
}

fn extra_files() -> Vec<ExtraFile> {
    vec![
        // SUID on purpose: extra files are stripped too.
        ExtraFile {
            path: "/usr/bin/clip-test".into(),
            contents: b"#!/bin/sh\necho hello\n".to_vec(),
            mode: 0o4755,
        },
        ExtraFile {
            path: "/usr/lib/systemd/system/clip-test.service".into(),
            contents: UNIT.as_bytes().to_vec(),
            mode: 0o644,
        },
    ]
}

fn build(
    name: &str,
    cache: CachePolicy,
    product: &Product,
) -> Result<(Tree, Vec<String>), rootfs::Error> {
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let files = extra_files();
    let services = ["clip-test.service".to_owned()];
    let lines = Mutex::new(Vec::new());
    let started = std::time::Instant::now();
    let tree = build_tree(
        &TreeRequest {
            product,
            cache_dir: &cache_dir(),
            work_dir: &work,
            source_date_epoch: EPOCH,
            extra_files: &files,
            extra_services: &services,
            cache,
        },
        &|line| {
            eprintln!("[{name}] {line}");
            lines.lock().unwrap().push(line.to_owned());
        },
    )?;
    eprintln!(
        "[{name}] build_tree took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok((tree, lines.into_inner().unwrap()))
}

struct Shared {
    tree: Tree,
    image: PathBuf,
    image_size: u64,
}

/// The first build (cold or warm) and its EROFS image.
fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let (tree, _) = build("tree-a", CachePolicy::Reuse, &product()).unwrap();
        let image = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tree-a.erofs");
        let started = std::time::Instant::now();
        let image_size = make_erofs(&tree.root, &image, EPOCH, UUID).unwrap();
        eprintln!(
            "make_erofs took {:.1} s, {image_size} bytes",
            started.elapsed().as_secs_f64()
        );
        Shared {
            tree,
            image,
            image_size,
        }
    })
}

/// Paths (inside `root`) of files and directories with SUID or SGID bits.
fn suid_files(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = path.symlink_metadata().unwrap();
            if !meta.file_type().is_symlink() && meta.mode() & 0o6000 != 0 {
                found.push(path.display().to_string());
            }
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    found
}

/// The checks shared by the tree and the extracted EROFS image.
fn check_contents(root: &Path, product: &Product) {
    let os_release = fs::read_to_string(root.join("usr/lib/os-release")).unwrap();
    assert!(
        os_release
            .lines()
            .any(|l| l == format!("VERSION_ID={}", product.version)),
        "{os_release}"
    );
    assert_eq!(
        fs::read_link(root.join("etc/os-release")).unwrap(),
        Path::new("../usr/lib/os-release")
    );
    let id = fs::symlink_metadata(root.join("etc/machine-id")).unwrap();
    assert!(id.is_file());
    assert_eq!((id.len(), id.mode() & 0o7777), (0, 0o444));
    assert_eq!(suid_files(root), Vec::<String>::new());
    for entry in &product.state.paths {
        let path = root.join(entry.path.trim_start_matches('/'));
        let meta = fs::symlink_metadata(&path).unwrap();
        assert_eq!(
            meta.mode() & 0o7777,
            u32::from_str_radix(&entry.mode, 8).unwrap(),
            "{}",
            entry.path
        );
        match entry.kind {
            Kind::Dir => assert_eq!(
                fs::read_dir(&path).unwrap().count(),
                0,
                "{} not empty",
                entry.path
            ),
            Kind::File => assert_eq!(meta.len(), 0, "{} not empty", entry.path),
        }
    }
    let factory = root.join("usr/share/factory");
    let status = fs::read_to_string(factory.join("var/lib/dpkg/status")).unwrap();
    assert!(status.contains("Package: systemd\n"));
    assert!(factory.join("var/lib/systemd").is_dir());
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(root.join("usr/lib/clip/state.json")).unwrap())
            .unwrap();
    let expected = serde_json::to_value(&product.state).unwrap();
    assert_eq!(json, expected);
    assert!(!root.join("boot").read_dir().unwrap().any(|e| {
        let name = e.unwrap().file_name();
        let name = name.to_string_lossy();
        name.starts_with("vmlinuz") || name.starts_with("initrd")
    }));
}

#[test]
fn tree_is_configured() {
    let s = shared();
    let product = product();
    let root = &s.tree.root;
    check_contents(root, &product);
    eprintln!("SUID/SGID removed: {:?}", s.tree.suid_removed);
    for expected in ["/usr/bin/su", "/usr/bin/mount", "/usr/bin/clip-test"] {
        assert!(
            s.tree.suid_removed.iter().any(|p| p == expected),
            "{:?}",
            s.tree.suid_removed
        );
    }
    // Kernel and stock initrd moved out, named after the modules directory.
    let kernel = s
        .tree
        .kernel
        .as_ref()
        .expect("Debian's kernel was taken out");
    assert!(
        kernel.kernel_version.ends_with("-amd64"),
        "{}",
        kernel.kernel_version
    );
    assert!(
        root.join("usr/lib/modules")
            .join(&kernel.kernel_version)
            .join("modules.dep")
            .is_file()
    );
    assert!(
        !kernel.vmlinuz.starts_with(root) && kernel.vmlinuz.metadata().unwrap().len() > 1 << 20
    );
    let config = kernel.config.as_ref().expect("Debian's /boot/config-*");
    assert!(
        std::fs::read_to_string(config)
            .unwrap()
            .contains("\nCONFIG_MODULES=y\n")
    );
    let initrd = kernel
        .initrd
        .as_ref()
        .expect("Debian's initramfs-tools made an initrd");
    assert!(!initrd.starts_with(root) && initrd.is_file());
    for name in ["vmlinuz", "initrd.img"] {
        assert!(root.join(name).symlink_metadata().is_err(), "/{name} left");
    }
    // Packages from dpkg's database.
    let names: Vec<&str> = s.tree.packages.iter().map(|(n, _)| n.as_str()).collect();
    for p in product
        .debian
        .packages
        .iter()
        .chain(product.debian.kernel.as_ref())
    {
        assert!(names.contains(&p.as_str()), "{p} not installed");
    }
    // Services: only the enabled ones, no login prompts, multi-user.
    let system = root.join("etc/systemd/system");
    assert!(
        system
            .join("sysinit.target.wants/systemd-pstore.service")
            .symlink_metadata()
            .is_ok()
    );
    assert!(
        system
            .join("multi-user.target.wants/clip-test.service")
            .symlink_metadata()
            .is_ok()
    );
    for gone in [
        "getty.target.wants/getty@tty1.service",
        "timers.target.wants/apt-daily.timer",
    ] {
        assert!(
            system.join(gone).symlink_metadata().is_err(),
            "{gone} still enabled"
        );
    }
    for masked in ["serial-getty@.service", "getty@.service", "getty.target"] {
        assert_eq!(
            fs::read_link(system.join(masked)).unwrap(),
            Path::new("/dev/null"),
            "{masked}"
        );
    }
    assert_eq!(
        fs::read_link(system.join("default.target")).unwrap(),
        Path::new("/usr/lib/systemd/system/multi-user.target")
    );
    // Build host leftovers and caches.
    assert_eq!(
        fs::read_to_string(root.join("etc/hostname")).unwrap(),
        "clipos\n"
    );
    assert!(root.join("etc/resolv.conf").symlink_metadata().is_err());
    assert_eq!(
        fs::read_link(root.join("usr/share/factory/var/lib/dbus/machine-id")).unwrap(),
        Path::new("/etc/machine-id")
    );
    let passwd = fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(
        passwd.starts_with("root:*:") || passwd.starts_with("root:x:"),
        "root not locked"
    );
    // The deb cache holds the kernel package for the next cold build.
    let debs = cache_dir().join("rootfs/debs/trixie-amd64");
    assert!(
        fs::read_dir(&debs).unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with("linux-image-")),
        "no kernel .deb in {}",
        debs.display()
    );
}

#[test]
fn erofs_is_deterministic_and_fsck_clean() {
    let s = shared();
    assert_eq!(s.image_size % 4096, 0);
    assert_eq!(fs::metadata(&s.image).unwrap().len(), s.image_size);
    let again = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tree-a-again.erofs");
    make_erofs(&s.tree.root, &again, EPOCH, UUID).unwrap();
    assert!(
        fs::read(&s.image).unwrap() == fs::read(&again).unwrap(),
        "two images of one tree differ"
    );
    fs::remove_file(&again).unwrap();

    let out = Command::new("fsck.erofs")
        .arg(&s.image)
        .output()
        .expect("fsck.erofs (erofs-utils) installed");
    assert!(
        out.status.success(),
        "fsck.erofs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let extract = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tree-a-extracted");
    if extract.exists() {
        fs::remove_dir_all(&extract).unwrap();
    }
    let out = Command::new("fsck.erofs")
        .arg(format!("--extract={}", extract.display()))
        .arg(&s.image)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fsck.erofs --extract: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    check_contents(&extract, &product());
    let mtime = fs::symlink_metadata(extract.join("usr/lib/os-release"))
        .unwrap()
        .mtime();
    assert_eq!(u64::try_from(mtime).unwrap(), EPOCH);
    fs::remove_dir_all(&extract).unwrap();
}

#[test]
fn warm_rebuild_downloads_nothing_and_gives_the_same_image() {
    let s = shared();
    // Offline never runs mmdebstrap: it succeeds only from the cache.
    let (tree, lines) = build("tree-b", CachePolicy::Offline, &product()).unwrap();
    assert!(tree.from_cache);
    assert_eq!(tree.cache_key, s.tree.cache_key);
    assert!(
        !lines.iter().any(|l| l.starts_with("mmdebstrap")),
        "{lines:?}"
    );
    assert_eq!(tree.packages, s.tree.packages);
    let image = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tree-b.erofs");
    make_erofs(&tree.root, &image, EPOCH, UUID).unwrap();
    assert!(
        fs::read(&s.image).unwrap() == fs::read(&image).unwrap(),
        "rebuilt image differs"
    );
    fs::remove_file(&image).unwrap();
    fs::remove_dir_all(tree.root.parent().unwrap()).unwrap();
}

/// Two mmdebstrap runs of one package list give the same image. The warm
/// rebuilds (above, and `clip build`'s reproducibility test) take the
/// cached tree, so this is where fresh builds are compared. The shared tree
/// is itself a fresh build or the cached result of an earlier one; when
/// Debian has updated a package since, a second fresh build is the
/// reference instead.
#[test]
fn two_fresh_builds_give_the_same_image() {
    let s = shared();
    let erofs = |name: &str, tree: &Tree| {
        let image = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.erofs"));
        make_erofs(&tree.root, &image, EPOCH, UUID).unwrap();
        let bytes = fs::read(&image).unwrap();
        fs::remove_file(&image).unwrap();
        bytes
    };
    let (fresh, _) = build("tree-fresh-1", CachePolicy::Refresh, &product()).unwrap();
    assert!(!fresh.from_cache, "Refresh took the cached tree");
    let (reference, what) = if fresh.packages == s.tree.packages {
        (fs::read(&s.image).unwrap(), "the shared tree's image")
    } else {
        let (again, _) = build("tree-fresh-2", CachePolicy::Refresh, &product()).unwrap();
        assert!(!again.from_cache, "Refresh took the cached tree");
        assert_eq!(
            again.packages, fresh.packages,
            "Debian changed a package between two fresh builds minutes apart: run again"
        );
        let image = erofs("tree-fresh-2", &again);
        fs::remove_dir_all(again.root.parent().unwrap()).unwrap();
        (image, "a second fresh build's image")
    };
    let image = erofs("tree-fresh-1", &fresh);
    assert!(
        image == reference,
        "a fresh build's image differs from {what} (same package versions)"
    );
    fs::remove_dir_all(fresh.root.parent().unwrap()).unwrap();
}

#[test]
fn offline_with_an_uncached_package_list_fails_clearly() {
    let mut product = product();
    product.debian.packages.push("less".into());
    let err = build("tree-c", CachePolicy::Offline, &product).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("the root tree for this package list is not cached"),
        "{text}"
    );
}

#[test]
fn bad_service_fails_before_any_download() {
    let mut product = product();
    product.services.enabled.push("no such.service".into());
    let err = build("tree-d", CachePolicy::Refresh, &product).unwrap_err();
    assert!(matches!(err, rootfs::Error::ServiceName { .. }), "{err}");
}
