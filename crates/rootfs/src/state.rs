//! State paths (issue 4 contract, "Root tree contents added by the
//! builder"): each becomes an empty mount point in the image, its original
//! content moves to `/usr/share/factory/<path>` (systemd's factory
//! convention, used by clip-init to seed a fresh state partition), and
//! `/usr/lib/clip/state.json` lists them for clip-init.

use std::fs;
use std::os::unix::fs::{PermissionsExt, lchown};
use std::path::Path;

use contract::state::{FACTORY_DIR, Kind, STATE_JSON, StateConfig, StatePath, lookup_id};

use crate::Error;

/// Replaces every state path in `root` by an empty mount point, moving the
/// original to the factory directory, and writes state.json.
pub fn apply(root: &Path, state: &StateConfig) -> Result<(), Error> {
    let paths = &state.paths;
    let passwd = read_text(root, "etc/passwd")?;
    let group = read_text(root, "etc/group")?;
    for entry in paths {
        let rel = entry.path.trim_start_matches('/');
        let mode = entry.mode_bits()?;
        let uid = account(&passwd, &entry.owner, entry, "owner", "/etc/passwd")?;
        let gid = account(&group, &entry.group, entry, "group", "/etc/group")?;
        let target = root.join(rel);
        match fs::symlink_metadata(&target) {
            Ok(meta) => {
                let (found, expected) = (kind_name(&meta), entry.kind.as_str());
                if found != expected {
                    return Err(Error::StateKind {
                        path: entry.path.clone(),
                        found,
                        expected,
                    });
                }
                let factory = root.join(FACTORY_DIR).join(rel);
                if let Some(parent) = factory.parent() {
                    fs::create_dir_all(parent).map_err(Error::io("create factory dir", parent))?;
                }
                fs::rename(&target, &factory)
                    .map_err(Error::io("move state path to factory", &target))?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent)
                        .map_err(Error::io("create state mount point parent", parent))?;
                }
            }
            Err(e) => return Err(Error::io("inspect state path", &target)(e)),
        }
        match entry.kind {
            Kind::Dir => {
                fs::create_dir(&target).map_err(Error::io("create state mount point", &target))?
            }
            Kind::File => {
                fs::write(&target, b"").map_err(Error::io("create state mount point", &target))?
            }
        }
        lchown(&target, Some(uid), Some(gid))
            .map_err(Error::io("chown state mount point", &target))?;
        fs::set_permissions(&target, fs::Permissions::from_mode(mode))
            .map_err(Error::io("chmod state mount point", &target))?;
    }
    let json = root.join(STATE_JSON);
    if let Some(parent) = json.parent() {
        fs::create_dir_all(parent).map_err(Error::io("create /usr/lib/clip", parent))?;
    }
    fs::write(&json, state.render()).map_err(Error::io("write state.json", &json))?;
    fs::set_permissions(&json, fs::Permissions::from_mode(0o644))
        .map_err(Error::io("chmod state.json", &json))
}

fn read_text(root: &Path, rel: &str) -> Result<String, Error> {
    let path = root.join(rel);
    fs::read_to_string(&path).map_err(Error::io("read account database", path))
}

fn account(
    db: &str,
    name: &str,
    entry: &StatePath,
    what: &'static str,
    file: &'static str,
) -> Result<u32, Error> {
    lookup_id(db, name).ok_or_else(|| Error::UnknownAccount {
        path: entry.path.clone(),
        what,
        name: name.to_owned(),
        file,
    })
}

fn kind_name(meta: &fs::Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "dir"
    } else if t.is_file() {
        "file"
    } else if t.is_symlink() {
        "symlink"
    } else {
        "special file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contract::state::{Encryption, MountOption};
    use std::os::unix::fs::MetadataExt;

    fn path(path: &str, kind: Kind, mode: &str) -> StatePath {
        StatePath {
            path: path.into(),
            kind,
            mode: mode.into(),
            owner: "root".into(),
            group: "root".into(),
            options: vec![MountOption::Nodev, MountOption::Nosuid, MountOption::Noexec],
        }
    }

    fn state(paths: Vec<StatePath>) -> StateConfig {
        StateConfig {
            paths,
            encryption: Encryption::default(),
            recovery_hook: None,
        }
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("etc")).unwrap();
        fs::write(root.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        fs::write(root.join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        fs::write(root.join("etc/machine-id"), "").unwrap();
        fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
        fs::write(root.join("var/lib/dpkg/status"), "Package: x\n").unwrap();
        dir
    }

    #[test]
    fn apply_moves_content_to_factory_and_leaves_empty_mount_points() {
        let dir = tree();
        let root = dir.path();
        let mut home = path("/home", Kind::Dir, "1777");
        home.group = "staff".into();
        apply(
            root,
            &state(vec![
                path("/etc/machine-id", Kind::File, "0444"),
                path("/var/lib", Kind::Dir, "0755"),
                home,
            ]),
        )
        .unwrap();
        assert_eq!(fs::read_dir(root.join("var/lib")).unwrap().count(), 0);
        assert_eq!(
            fs::read(root.join("usr/share/factory/var/lib/dpkg/status")).unwrap(),
            b"Package: x\n"
        );
        let id = fs::metadata(root.join("etc/machine-id")).unwrap();
        assert_eq!((id.len(), id.mode() & 0o7777), (0, 0o444));
        assert!(root.join("usr/share/factory/etc/machine-id").is_file());
        // Absent in the tree: only the mount point, no factory copy.
        let home = fs::metadata(root.join("home")).unwrap();
        assert_eq!((home.mode() & 0o7777, home.gid()), (0o1777, 50));
        assert!(!root.join("usr/share/factory/home").exists());
        let json = fs::read_to_string(root.join(STATE_JSON)).unwrap();
        assert!(
            json.starts_with("{\"paths\":[{\"path\":\"/etc/machine-id\""),
            "{json}"
        );
    }

    #[test]
    fn apply_rejects_unknown_owner_and_wrong_kind() {
        let dir = tree();
        let mut p = path("/var/lib", Kind::Dir, "0755");
        p.owner = "nobody".into();
        let err = apply(dir.path(), &state(vec![p])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "state path /var/lib: owner \"nobody\" is not in the tree's /etc/passwd"
        );
        let err = apply(
            dir.path(),
            &state(vec![path("/var/lib", Kind::File, "0644")]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "state path /var/lib: is a dir in the tree, the product says file"
        );
    }
}
