//! System configuration of an extracted tree (issue 4, item 2): kernel and
//! initrd moved out, os-release, host leftovers and caches removed, extra
//! files, services (with the default network configuration when the product
//! enables systemd-networkd), empty machine-id, no SUID/SGID bits, state
//! paths.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use crate::{Error, ExtraFile, cmd, units};

/// The files of Debian's kernel package, taken out of the tree.
#[derive(Debug, Clone)]
pub struct Boot {
    /// E.g. `6.12.57+deb13-amd64` (the `/usr/lib/modules` directory name).
    pub kernel_version: String,
    /// The kernel image, moved into `work_dir`.
    pub vmlinuz: PathBuf,
    /// Debian's initramfs-tools initrd (kept for a boot-time comparison).
    pub initrd: Option<PathBuf>,
    /// Debian's `/boot/config-<version>`: what the kernel policy checks.
    pub config: Option<PathBuf>,
}

/// Moves `/boot/vmlinuz-<kver>` and `/boot/initrd.img-<kver>` to `out_dir`
/// and deletes the rest of the kernel boot files and the top-level
/// `/vmlinuz*`, `/initrd.img*` symlinks (they would dangle). The kernel goes
/// into the signed UKI, not the root file system.
pub(crate) fn take_boot_files(
    root: &Path,
    out_dir: &Path,
    expected: bool,
) -> Result<Option<Boot>, Error> {
    let modules = root.join("usr/lib/modules");
    let mut versions: Vec<String> = if modules.is_dir() {
        read_dir_names(&modules)?
            .into_iter()
            .filter(|v| modules.join(v).join("modules.dep").exists())
            .collect()
    } else {
        Vec::new()
    };
    versions.sort();
    let kernel_version = match versions.as_slice() {
        [one] => one.clone(),
        [] if !expected => return Ok(None),
        [] => {
            return Err(Error::Kernel {
                problem: "no /usr/lib/modules/<version>/modules.dep (is debian.kernel a kernel image package?)"
                    .into(),
            });
        }
        many => {
            return Err(Error::Kernel {
                problem: format!("several kernels installed: {}", many.join(", ")),
            });
        }
    };
    let boot = root.join("boot");
    let vmlinuz_in = boot.join(format!("vmlinuz-{kernel_version}"));
    if !vmlinuz_in.is_file() {
        return Err(Error::Kernel {
            problem: format!("/boot/vmlinuz-{kernel_version} is missing"),
        });
    }
    let vmlinuz = out_dir.join(format!("vmlinuz-{kernel_version}"));
    move_file(&vmlinuz_in, &vmlinuz)?;
    let initrd_in = boot.join(format!("initrd.img-{kernel_version}"));
    let initrd = if initrd_in.is_file() {
        let initrd = out_dir.join(format!("initrd.img-{kernel_version}"));
        move_file(&initrd_in, &initrd)?;
        Some(initrd)
    } else {
        None
    };
    let config_in = boot.join(format!("config-{kernel_version}"));
    let config = if config_in.is_file() {
        let config = out_dir.join(format!("config-{kernel_version}"));
        move_file(&config_in, &config)?;
        Some(config)
    } else {
        None
    };
    // Other kernels' leftovers and System.map (kernel symbol addresses are
    // of no use on the device).
    for name in read_dir_names(&boot)? {
        if ["vmlinuz", "initrd", "System.map"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            remove(&boot.join(name))?;
        }
    }
    for name in ["vmlinuz", "vmlinuz.old", "initrd.img", "initrd.img.old"] {
        let link = root.join(name);
        if link
            .symlink_metadata()
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            remove(&link)?;
        }
    }
    Ok(Some(Boot {
        kernel_version,
        vmlinuz,
        initrd,
        config,
    }))
}

/// Removes `names` from the tree after it was configured, as `dpkg --purge
/// --force-depends --force-remove-essential` would but without running
/// maintainer scripts (the image is never configured again): the files and
/// symlinks dpkg lists for the package (`var/lib/dpkg/info/NAME[:ARCH].list`),
/// then directories of that list left empty, its `info` files and its
/// stanza in the status database. A package that is not installed is an
/// error. Returns the number of files removed per package.
pub(crate) fn remove_packages(
    root: &Path,
    names: &[String],
) -> Result<Vec<(String, usize)>, Error> {
    let info = root.join("var/lib/dpkg/info");
    let status_path = root.join("var/lib/dpkg/status");
    let status =
        fs::read_to_string(&status_path).map_err(Error::io("read dpkg status", &status_path))?;
    let installed = crate::dpkg::installed(&status);
    let info_files = read_dir_names(&info)?;
    let mut report = Vec::new();
    for name in names {
        if !installed.iter().any(|(n, _)| n == name) {
            return Err(Error::Remove {
                package: name.clone(),
                problem: "it is not installed in the tree".into(),
            });
        }
        let mine: Vec<&String> = info_files
            .iter()
            .filter(|f| {
                f.strip_prefix(name.as_str()).is_some_and(|rest| {
                    rest.starts_with('.') || rest.strip_prefix(':').is_some_and(|a| a.contains('.'))
                })
            })
            .collect();
        let list = mine
            .iter()
            .find(|f| f.ends_with(".list"))
            .ok_or_else(|| Error::Remove {
                package: name.clone(),
                problem: "dpkg has no file list for it".into(),
            })?;
        let list_path = info.join(list);
        let text = fs::read_to_string(&list_path).map_err(Error::io("read", &list_path))?;
        let mut dirs = Vec::new();
        let mut removed = 0;
        for entry in text.lines().filter(|l| l.starts_with('/') && *l != "/.") {
            if entry.split('/').any(|c| c == "..") {
                return Err(Error::Remove {
                    package: name.clone(),
                    problem: format!("its file list names {entry:?}"),
                });
            }
            let path = root.join(entry.trim_start_matches('/'));
            match path.symlink_metadata() {
                Ok(m) if m.is_dir() => dirs.push(path),
                Ok(_) => {
                    fs::remove_file(&path).map_err(Error::io("remove", &path))?;
                    removed += 1;
                }
                Err(_) => {}
            }
        }
        // Deepest first; a directory another package still uses stays.
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            let _ = fs::remove_dir(&d);
        }
        for f in mine {
            remove(&info.join(f))?;
        }
        report.push((name.clone(), removed));
    }
    let left = crate::dpkg::without(&status, names);
    fs::write(&status_path, left).map_err(Error::io("write dpkg status", &status_path))?;
    Ok(report)
}

/// `/usr/lib/os-release` from the product, `/etc/os-release` a relative
/// symlink to it (as Debian has); the hostname is the product name and the
/// build host's `/etc/resolv.conf` (copied in by mmdebstrap) is removed.
pub(crate) fn identity(root: &Path, os_release: &str, hostname: &str) -> Result<(), Error> {
    write(root, "usr/lib/os-release", os_release.as_bytes(), 0o644)?;
    replace_symlink(root, "etc/os-release", "../usr/lib/os-release")?;
    write(
        root,
        "etc/hostname",
        format!("{hostname}\n").as_bytes(),
        0o644,
    )?;
    write(
        root,
        "etc/hosts",
        format!("127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
            .as_bytes(),
        0o644,
    )?;
    remove(&root.join("etc/resolv.conf"))
}

/// Removes what differs between builds or belongs to one machine: apt
/// lists and binary caches, `.deb`s, logs (directories are kept), the
/// ldconfig aux cache, debconf backups, SSH host keys; `/etc/machine-id`
/// becomes empty (mode 0444: systemd fills it at boot) and D-Bus's machine
/// id a symlink to it. `/dev` is emptied: the device nodes mmdebstrap made
/// do not belong in a verified root (devtmpfs is mounted over it at boot,
/// and a node left in the EROFS would outlive any device policy).
pub(crate) fn clean(root: &Path) -> Result<(), Error> {
    let dev = root.join("dev");
    if dev.is_dir() {
        for name in read_dir_names(&dev)? {
            remove(&dev.join(name))?;
        }
    }
    let lists = root.join("var/lib/apt/lists");
    for name in read_dir_names(&lists)? {
        if name != "partial" {
            remove(&lists.join(name))?;
        }
    }
    for (dir, pred) in [
        (
            "var/cache/apt",
            (|n: &str| n.ends_with(".bin")) as fn(&str) -> bool,
        ),
        ("var/cache/apt/archives", |n| n.ends_with(".deb")),
        ("var/cache/debconf", |n| n.ends_with("-old")),
        ("var/cache/ldconfig", |n| n == "aux-cache"),
        ("etc/ssh", |n| n.starts_with("ssh_host_")),
    ] {
        let dir = root.join(dir);
        for name in read_dir_names(&dir)? {
            if pred(&name) {
                remove(&dir.join(name))?;
            }
        }
    }
    remove_files_below(&root.join("var/log"))?;
    write(root, "etc/machine-id", b"", 0o444)?;
    if root.join("var/lib/dbus").is_dir() {
        replace_symlink(root, "var/lib/dbus/machine-id", "/etc/machine-id")?;
    }
    Ok(())
}

/// Checks an extra file's path: absolute, normal, not `/`.
pub(crate) fn check_extra_path(path: &str) -> Result<(), Error> {
    let normal = path.len() > 1
        && path
            .strip_prefix('/')
            .is_some_and(|rest| rest.split('/').all(|part| !matches!(part, "" | "." | "..")));
    if normal {
        Ok(())
    } else {
        Err(Error::ExtraFilePath {
            path: path.to_owned(),
            reason: "not an absolute path without `.`, `..` or `//`",
        })
    }
}

/// Installs the extra files (owner root). A parent directory that is a
/// symlink in the tree is refused: it could point outside the tree (write
/// `/usr/bin/x`, not `/bin/x`).
pub(crate) fn install_extra(root: &Path, files: &[ExtraFile]) -> Result<(), Error> {
    for file in files {
        check_extra_path(&file.path)?;
        let rel = file.path.trim_start_matches('/');
        let mut dir = root.to_path_buf();
        let parents: Vec<Component> = Path::new(rel).components().collect();
        for part in &parents[..parents.len() - 1] {
            dir.push(part);
            match dir.symlink_metadata() {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(Error::ExtraFilePath {
                        path: file.path.clone(),
                        reason: "a parent directory is a symlink in the tree (use the /usr path)",
                    });
                }
                Ok(_) => {}
                Err(_) => {
                    fs::create_dir(&dir).map_err(Error::io("create extra file directory", &dir))?;
                    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))
                        .map_err(Error::io("chmod extra file directory", &dir))?;
                }
            }
        }
        write(root, rel, &file.contents, file.mode)?;
    }
    Ok(())
}

/// The builder's network configuration for systemd-networkd, in the
/// verified root: DHCP (IPv4 only) on virtio NICs, the one QEMU gives the
/// guest under `clip boot --update-server` (its DHCP server hands out
/// 10.0.2.15/24, on the same network as the update server's address,
/// contract::update::SERVER_ADDRESS). Other NICs are left alone.
pub(crate) const NETWORK_FILE: &str = "usr/lib/systemd/network/80-clip-virtio.network";
pub(crate) const NETWORK_TEXT: &str = "\
# Written by the CLIP OS image builder: DHCP (IPv4) on virtio NICs, such as the
# one of QEMU's user network under `clip boot --update-server`.
[Match]
Driver=virtio_net

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no
";
/// The unit that makes [`NETWORK_FILE`] count.
pub(crate) const NETWORKD: &str = "systemd-networkd.service";

/// Installs [`NETWORK_FILE`] when `enabled` has [`NETWORKD`]; a tree
/// without it has no network configuration at all.
pub(crate) fn network(root: &Path, enabled: &[String]) -> Result<(), Error> {
    if enabled.iter().any(|u| u == NETWORKD) {
        let dir = root.join(NETWORK_FILE);
        let dir = dir.parent().unwrap_or(root);
        fs::create_dir_all(dir).map_err(Error::io("create directory", dir))?;
        write(root, NETWORK_FILE, NETWORK_TEXT.as_bytes(), 0o644)?;
    }
    Ok(())
}

/// Services: the preset file, `systemctl preset-all` by the tree's own
/// systemctl in a chroot, masked login prompts, `default.target`, the
/// network configuration ([`network`]). Every enabled unit must exist in
/// the tree.
pub(crate) fn services(root: &Path, enabled: &[String]) -> Result<(), Error> {
    network(root, enabled)?;
    for name in enabled {
        if !units::valid_unit_name(name) {
            return Err(Error::ServiceName { name: name.clone() });
        }
        let file = match name.split_once('@') {
            Some((prefix, rest)) if !rest.starts_with('.') => {
                let suffix = rest.rsplit_once('.').map_or("", |(_, s)| s);
                format!("{prefix}@.{suffix}")
            }
            _ => name.clone(),
        };
        let found = ["usr/lib/systemd/system", "etc/systemd/system"]
            .iter()
            .any(|dir| root.join(dir).join(&file).symlink_metadata().is_ok());
        if !found {
            return Err(Error::UnknownService { name: name.clone() });
        }
    }
    write(
        root,
        units::PRESET_FILE,
        units::preset_text(enabled).as_bytes(),
        0o644,
    )?;
    cmd::run(
        "systemctl preset-all",
        Command::new("chroot").arg(root).args([
            "/usr/bin/systemctl",
            "--root=/",
            "--preset-mode=full",
            "preset-all",
        ]),
    )?;
    for unit in units::masked(enabled) {
        replace_symlink(root, &format!("etc/systemd/system/{unit}"), "/dev/null")?;
    }
    replace_symlink(
        root,
        "etc/systemd/system/default.target",
        &format!("/usr/lib/systemd/system/{}", units::DEFAULT_TARGET),
    )
}

/// Clears the SUID and SGID bits of every file and directory; returns the
/// paths (inside the tree, sorted) that had them.
pub(crate) fn strip_suid(root: &Path) -> Result<Vec<String>, Error> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(Error::io("read directory", &dir))? {
            let entry = entry.map_err(Error::io("read directory", &dir))?;
            let path = entry.path();
            let meta = path.symlink_metadata().map_err(Error::io("stat", &path))?;
            if meta.file_type().is_symlink() {
                continue;
            }
            let mode = meta.permissions().mode();
            if mode & 0o6000 != 0 {
                fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o1777))
                    .map_err(Error::io("clear SUID/SGID bit", &path))?;
                found.push(inside(root, &path));
            }
            if meta.is_dir() {
                stack.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn inside(root: &Path, path: &Path) -> String {
    format!("/{}", path.strip_prefix(root).unwrap_or(path).display())
}

fn read_dir_names(dir: &Path) -> Result<Vec<String>, Error> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| {
                e.map(|e| e.file_name().to_string_lossy().into_owned())
                    .map_err(Error::io("read directory", dir))
            })
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io("read directory", dir)(e)),
    }
}

/// Removes a file, symlink or directory tree; absent is fine.
fn remove(path: &Path) -> Result<(), Error> {
    let result = match path.symlink_metadata() {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(Error::io("remove", path))
}

fn remove_files_below(dir: &Path) -> Result<(), Error> {
    for name in read_dir_names(dir)? {
        let path = dir.join(name);
        let meta = path.symlink_metadata().map_err(Error::io("stat", &path))?;
        if meta.is_dir() {
            remove_files_below(&path)?;
        } else {
            fs::remove_file(&path).map_err(Error::io("remove log file", &path))?;
        }
    }
    Ok(())
}

fn move_file(from: &Path, to: &Path) -> Result<(), Error> {
    fs::rename(from, to).map_err(Error::io("move kernel file out of the tree", from))
}

/// Writes `rel` in the tree, replacing whatever was there (a symlink is
/// replaced, not followed).
fn write(root: &Path, rel: &str, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let path = root.join(rel);
    remove(&path)?;
    fs::write(&path, bytes).map_err(Error::io("write", &path))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(Error::io("chmod", &path))
}

fn replace_symlink(root: &Path, rel: &str, target: &str) -> Result<(), Error> {
    let path = root.join(rel);
    remove(&path)?;
    symlink(target, &path).map_err(Error::io("create symlink", &path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn network_configuration_only_with_networkd() {
        let dir = tempfile::tempdir().unwrap();
        network(dir.path(), &["systemd-pstore.service".into()]).unwrap();
        assert!(!dir.path().join("usr").exists());
        network(dir.path(), &[NETWORKD.into()]).unwrap();
        let path = dir.path().join(NETWORK_FILE);
        assert_eq!(fs::read_to_string(&path).unwrap(), NETWORK_TEXT);
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o777, 0o644);
        for line in ["Driver=virtio_net", "DHCP=ipv4"] {
            assert!(NETWORK_TEXT.lines().any(|l| l == line), "{line}");
        }
    }

    #[test]
    fn extra_paths() {
        for ok in [
            "/usr/bin/clip-status",
            "/usr/lib/systemd/system/clip-status.service",
        ] {
            check_extra_path(ok).unwrap();
        }
        for bad in [
            "",
            "/",
            "usr/bin/x",
            "/usr/../etc/x",
            "/usr/./x",
            "/usr//x",
            "/usr/bin/",
        ] {
            assert!(check_extra_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn extra_files_are_installed_but_not_through_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        symlink("usr/bin", root.join("bin")).unwrap();
        let file = |path: &str| ExtraFile {
            path: path.into(),
            contents: b"#!/bin/sh\n".to_vec(),
            mode: 0o755,
        };
        install_extra(
            root,
            &[file("/usr/bin/clip-status"), file("/usr/lib/clip/x")],
        )
        .unwrap();
        let meta = fs::metadata(root.join("usr/bin/clip-status")).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o755);
        assert_eq!(
            fs::read(root.join("usr/lib/clip/x")).unwrap(),
            b"#!/bin/sh\n"
        );
        let err = install_extra(root, &[file("/bin/x")]).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
    }

    #[test]
    fn strip_suid_reports_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("usr/bin")).unwrap();
        fs::create_dir_all(root.join("var/mail")).unwrap();
        for (p, m) in [
            ("usr/bin/su", 0o4755),
            ("usr/bin/ls", 0o755),
            ("usr/bin/chkpwd", 0o2755),
        ] {
            fs::write(root.join(p), b"x").unwrap();
            fs::set_permissions(root.join(p), fs::Permissions::from_mode(m)).unwrap();
        }
        fs::set_permissions(root.join("var/mail"), fs::Permissions::from_mode(0o3775)).unwrap();
        symlink("su", root.join("usr/bin/su2")).unwrap();
        let found = strip_suid(root).unwrap();
        assert_eq!(found, ["/usr/bin/chkpwd", "/usr/bin/su", "/var/mail"]);
        assert_eq!(
            fs::metadata(root.join("usr/bin/su")).unwrap().mode() & 0o7777,
            0o755
        );
        // The sticky bit stays.
        assert_eq!(
            fs::metadata(root.join("var/mail")).unwrap().mode() & 0o7777,
            0o1775
        );
        assert!(strip_suid(root).unwrap().is_empty());
    }

    #[test]
    fn packages_are_removed_with_their_files_and_records() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in [
            "var/lib/dpkg/info",
            "usr/bin",
            "usr/share/perl/5.40",
            "usr/lib/apt",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        fs::write(
            root.join("var/lib/dpkg/status"),
            "Package: perl-base\nStatus: install ok installed\nVersion: 5.40\n\n\
             Package: bash\nStatus: install ok installed\nVersion: 5\n\n",
        )
        .unwrap();
        fs::write(
            root.join("var/lib/dpkg/info/perl-base.list"),
            "/.\n/usr\n/usr/bin\n/usr/bin/perl\n/usr/share/perl\n/usr/share/perl/5.40\n/usr/share/perl/5.40/strict.pm\n/usr/bin/perl5.40\n",
        )
        .unwrap();
        fs::write(root.join("var/lib/dpkg/info/perl-base.md5sums"), "x").unwrap();
        fs::write(root.join("var/lib/dpkg/info/bash.list"), "/usr/bin/bash\n").unwrap();
        for f in [
            "usr/bin/perl",
            "usr/share/perl/5.40/strict.pm",
            "usr/bin/bash",
        ] {
            fs::write(root.join(f), "x").unwrap();
        }
        symlink("perl", root.join("usr/bin/perl5.40")).unwrap();
        let report = remove_packages(root, &["perl-base".into()]).unwrap();
        assert_eq!(report, [("perl-base".to_owned(), 3)]);
        assert!(!root.join("usr/bin/perl").exists());
        assert!(root.join("usr/bin/perl5.40").symlink_metadata().is_err());
        assert!(
            !root.join("usr/share/perl").exists(),
            "empty directories go"
        );
        assert!(
            root.join("usr/bin/bash").is_file(),
            "other packages' files stay"
        );
        assert!(!root.join("var/lib/dpkg/info/perl-base.md5sums").exists());
        assert!(root.join("var/lib/dpkg/info/bash.list").exists());
        let status = fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
        assert_eq!(crate::dpkg::installed(&status).len(), 1);
        let err = remove_packages(root, &["perl-base".into()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot remove the package \"perl-base\" from the tree: it is not installed in the tree"
        );
    }

    #[test]
    fn clean_empties_logs_and_machine_id() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in [
            "var/log/apt",
            "var/lib/dbus",
            "etc/ssh",
            "var/lib/apt/lists/partial",
            "dev/pts",
        ] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        symlink("/proc/self/fd", root.join("dev/fd")).unwrap();
        for f in [
            "dev/null",
            "var/log/apt/history.log",
            "etc/ssh/ssh_host_ed25519_key",
            "var/lib/apt/lists/x_Packages",
        ] {
            fs::write(root.join(f), b"x").unwrap();
        }
        fs::write(root.join("etc/machine-id"), b"0123\n").unwrap();
        clean(root).unwrap();
        assert!(root.join("dev").is_dir());
        assert_eq!(fs::read_dir(root.join("dev")).unwrap().count(), 0);
        assert!(root.join("var/log/apt").is_dir());
        assert!(!root.join("var/log/apt/history.log").exists());
        assert!(!root.join("etc/ssh/ssh_host_ed25519_key").exists());
        assert_eq!(
            fs::read_dir(root.join("var/lib/apt/lists"))
                .unwrap()
                .count(),
            1
        );
        let id = fs::metadata(root.join("etc/machine-id")).unwrap();
        assert_eq!((id.len(), id.mode() & 0o7777), (0, 0o444));
        assert_eq!(
            fs::read_link(root.join("var/lib/dbus/machine-id")).unwrap(),
            Path::new("/etc/machine-id")
        );
    }
}
