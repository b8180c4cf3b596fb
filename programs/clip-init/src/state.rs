//! Steps 7-9: the state partition and the read-write paths bind-mounted
//! from it over the read-only root (issue 4 contract, "Root tree contents"
//! and "clip-init behaviour" 7-9).
//!
//! `/usr/lib/clip/state.json` on the verified root lists the paths, with
//! the fields of product.toml's `[[state.paths]]`. Each path lives in the
//! state file system at the same relative path; a missing one is created
//! (under a temporary name, renamed once complete) with the entry's mode and
//! owner, and a directory is seeded from `/usr/share/factory/<path>`. The
//! state file system is not verified: no symlink in it is ever followed.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use contract::state::{FACTORY_DIR, Kind, MountOption, StateConfig, StatePath, lookup_id};
use rustix::mount::{MountFlags, mount_bind, mount_remount};

use crate::console::say;
use crate::seed;

/// The mount flags of a state path's options.
fn flags(entry: &StatePath) -> MountFlags {
    entry
        .options
        .iter()
        .fold(MountFlags::empty(), |f, o| f | flag(*o))
}

fn flag(option: MountOption) -> MountFlags {
    match option {
        MountOption::Nodev => MountFlags::NODEV,
        MountOption::Nosuid => MountFlags::NOSUID,
        MountOption::Noexec => MountFlags::NOEXEC,
        MountOption::Noatime => MountFlags::NOATIME,
        MountOption::Nosymfollow => MountFlags::NOSYMFOLLOW,
    }
}

/// Resolves owner and group names with the root's `/etc/passwd` and
/// `/etc/group` (`root` is always 0).
fn resolve(sysroot: &Path, file: &str, name: &str, what: &str, path: &str) -> Result<u32> {
    if name == "root" {
        return Ok(0);
    }
    let db = sysroot.join(file);
    let text = fs::read_to_string(&db).with_context(|| format!("cannot read {}", db.display()))?;
    lookup_id(&text, name).with_context(|| {
        format!(
            "state path {path}: {what} {name:?} is not in {}",
            db.display()
        )
    })
}

/// `<state>/<rel>`, checking that no component is a symlink (the state
/// file system is writable offline, unlike the root).
fn state_location(state: &Path, rel: &str) -> Result<PathBuf> {
    let mut at = state.to_path_buf();
    for part in rel.split('/') {
        at.push(part);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                bail!(
                    "{} on the state partition is a symlink; refusing to follow it",
                    at.display()
                )
            }
            _ => {}
        }
    }
    Ok(at)
}

/// Makes sure one state path exists on the state file system, and says
/// what it did.
fn ensure(sysroot: &Path, state: &Path, entry: &StatePath) -> Result<PathBuf> {
    let target = state_location(state, entry.relative())?;
    if let Ok(meta) = fs::symlink_metadata(&target) {
        let kind_ok = match entry.kind {
            Kind::Dir => meta.is_dir(),
            Kind::File => meta.is_file(),
        };
        if !kind_ok {
            bail!(
                "{} on the state partition is not a {}",
                target.display(),
                if entry.kind == Kind::Dir {
                    "directory"
                } else {
                    "regular file"
                }
            );
        }
        say(&format!("state {} (kept)", entry.path));
        return Ok(target);
    }
    let uid = resolve(sysroot, "etc/passwd", &entry.owner, "owner", &entry.path)?;
    let gid = resolve(sysroot, "etc/group", &entry.group, "group", &entry.path)?;
    let mode = entry.mode_bits()?;

    let parent = target.parent().context("state path without parent")?;
    let name = target.file_name().context("state path without name")?;
    let mut dir = state.to_path_buf();
    for part in Path::new(entry.relative())
        .parent()
        .into_iter()
        .flat_map(Path::components)
    {
        dir.push(part);
        if !dir.exists() {
            fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            seed::set_owner_and_mode(&dir, 0, 0, 0o755)?;
        }
    }
    // Built under a temporary name: an interrupted boot leaves no
    // half-seeded directory that the next boot would keep.
    let tmp = parent.join(format!(".{}.clip-init-new", name.to_string_lossy()));
    match fs::symlink_metadata(&tmp) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(&tmp),
        Ok(_) => fs::remove_file(&tmp),
        Err(_) => Ok(()),
    }
    .with_context(|| format!("cannot remove the leftover {}", tmp.display()))?;
    let how = match entry.kind {
        Kind::File => {
            let mut file = fs::File::create_new(&tmp)
                .with_context(|| format!("cannot create {}", tmp.display()))?;
            let how = if entry.path == MACHINE_ID {
                // A fresh ID rather than an empty file: with an empty one,
                // systemd takes every boot until it can commit an ID as a
                // first boot and tries to write /etc/machine-id itself.
                let id = new_machine_id()?;
                std::io::Write::write_all(&mut file, id.as_bytes())
                    .and_then(|()| file.sync_all())
                    .with_context(|| format!("cannot write {}", tmp.display()))?;
                "created, new machine ID"
            } else {
                "created"
            };
            seed::set_owner_and_mode(&tmp, uid, gid, mode)?;
            how.to_owned()
        }
        Kind::Dir => {
            fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
            seed::set_owner_and_mode(&tmp, uid, gid, mode)?;
            let factory = sysroot.join(FACTORY_DIR).join(entry.relative());
            match fs::symlink_metadata(&factory) {
                Ok(m) if m.is_dir() => {
                    for note in seed::copy_tree(&factory, &tmp)? {
                        say(&format!("state {}: {note}", entry.path));
                    }
                    "created, seeded from factory".to_owned()
                }
                Ok(_) => {
                    say(&format!(
                        "state {}: {} is not a directory, not seeding",
                        entry.path,
                        factory.display()
                    ));
                    "created".to_owned()
                }
                Err(_) => "created".to_owned(),
            }
        }
    };
    fs::rename(&tmp, &target)
        .with_context(|| format!("cannot rename {} to {}", tmp.display(), target.display()))?;
    say(&format!("state {} ({how})", entry.path));
    Ok(target)
}

/// Steps 8: every state path created or kept, then bind-mounted over the
/// root with its options.
pub fn apply(sysroot: &Path, state: &Path, config: &StateConfig) -> Result<()> {
    for entry in &config.paths {
        let source = ensure(sysroot, state, entry)?;
        let mount_point = sysroot.join(entry.relative());
        let meta = fs::symlink_metadata(&mount_point).with_context(|| {
            format!(
                "mount point {} is missing from the root image",
                mount_point.display()
            )
        })?;
        let kind_ok = match entry.kind {
            Kind::Dir => meta.is_dir(),
            Kind::File => meta.is_file(),
        };
        if !kind_ok {
            bail!(
                "mount point {} in the root image is not a {:?}",
                mount_point.display(),
                entry.kind
            );
        }
        mount_bind(&source, &mount_point).with_context(|| {
            format!(
                "cannot bind-mount {} on {}",
                source.display(),
                mount_point.display()
            )
        })?;
        mount_remount(&mount_point, MountFlags::BIND | flags(entry), c"").with_context(|| {
            format!(
                "cannot set the options {:?} of {}",
                entry.options,
                mount_point.display()
            )
        })?;
    }
    Ok(())
}

/// The state path systemd reads the machine ID from (machine-id(5)).
const MACHINE_ID: &str = "/etc/machine-id";

/// A random machine ID in machine-id(5) form: 32 lower-case hex digits and
/// a newline (a v4 UUID's bits, as systemd generates them).
fn new_machine_id() -> Result<String> {
    let mut b = [0u8; 16];
    let n = rustix::rand::getrandom(&mut b, rustix::rand::GetRandomFlags::empty())
        .context("cannot get random bytes for the machine ID")?;
    if n != b.len() {
        bail!(
            "getrandom gave {n} bytes for the machine ID, not {}",
            b.len()
        );
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let mut s: String = b.iter().map(|x| format!("{x:02x}")).collect();
    s.push('\n');
    Ok(s)
}

#[cfg(test)]
mod tests {

    #[test]
    fn machine_ids_are_fresh_and_well_formed() {
        let a = new_machine_id().unwrap();
        assert_eq!(a.len(), 33);
        assert!(a.ends_with('\n'));
        assert!(
            a[..32]
                .bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(&a[12..13], "4");
        assert_ne!(a, new_machine_id().unwrap());
    }

    use super::*;
    use std::os::unix::fs::MetadataExt;

    const EXAMPLE: &str = r#"{"paths":[
        {"path":"/var/lib/dpkg","kind":"dir","mode":"0755","owner":"root","group":"root","options":["nosuid","nodev"]},
        {"path":"/var/lib","kind":"dir","mode":"0755","owner":"root","group":"root","options":["nodev","nosuid","noexec"]},
        {"path":"/etc/machine-id","kind":"file","mode":"0444"}
    ]}"#;

    #[test]
    fn state_json_parses_with_defaults_parents_first() {
        let c = StateConfig::parse(EXAMPLE).unwrap().in_mount_order();
        let paths: Vec<&str> = c.paths.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["/var/lib", "/etc/machine-id", "/var/lib/dpkg"]);
        let id = &c.paths[1];
        assert_eq!(
            (id.kind, id.owner.as_str(), id.group.as_str()),
            (Kind::File, "root", "root")
        );
        assert_eq!(id.mode_bits().unwrap(), 0o444);
        assert_eq!(
            flags(id),
            MountFlags::NODEV | MountFlags::NOSUID | MountFlags::NOEXEC
        );
        assert_eq!(flags(&c.paths[2]), MountFlags::NODEV | MountFlags::NOSUID);
        assert_eq!(c.paths[0].relative(), "var/lib");
    }

    #[test]
    fn state_paths_are_created_seeded_and_then_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let sysroot = tmp.path().join("sysroot");
        let state = tmp.path().join("state");
        let factory = sysroot.join(FACTORY_DIR).join("var/lib");
        fs::create_dir_all(factory.join("dpkg")).unwrap();
        fs::write(factory.join("dpkg/status"), "x").unwrap();
        fs::create_dir_all(&state).unwrap();
        let c = StateConfig::parse(EXAMPLE).unwrap().in_mount_order();

        let lib = ensure(&sysroot, &state, &c.paths[0]).unwrap();
        assert_eq!(lib, state.join("var/lib"));
        assert_eq!(fs::read_to_string(lib.join("dpkg/status")).unwrap(), "x");
        assert_eq!(fs::metadata(&lib).unwrap().mode() & 0o7777, 0o755);
        let id = ensure(&sysroot, &state, &c.paths[1]).unwrap();
        let m = fs::metadata(&id).unwrap();
        assert!(m.is_file() && m.len() == 33 && m.mode() & 0o7777 == 0o444);
        let written = fs::read_to_string(&id).unwrap();
        // No temporary names left behind.
        assert_eq!(fs::read_dir(state.join("var")).unwrap().count(), 1);

        // Second boot: kept as they are, not re-seeded, same machine ID.
        fs::remove_file(lib.join("dpkg/status")).unwrap();
        ensure(&sysroot, &state, &c.paths[0]).unwrap();
        assert!(!lib.join("dpkg/status").exists());
        ensure(&sysroot, &state, &c.paths[1]).unwrap();
        assert_eq!(fs::read_to_string(&id).unwrap(), written);
        // Kind mismatches are errors.
        let e = ensure(
            &sysroot,
            &state,
            &StatePath {
                kind: Kind::File,
                ..c.paths[0].clone()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        // A leftover of an interrupted boot is replaced.
        fs::create_dir_all(state.join("var/.log.clip-init-new/junk")).unwrap();
        let log = StatePath {
            path: "/var/log".into(),
            ..c.paths[0].clone()
        };
        ensure(&sysroot, &state, &log).unwrap();
        assert!(!state.join("var/.log.clip-init-new").exists());
        assert!(state.join("var/log").is_dir());
    }

    #[test]
    fn symlinks_on_the_state_partition_are_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        fs::create_dir_all(&state).unwrap();
        std::os::unix::fs::symlink(tmp.path(), state.join("var")).unwrap();
        let c = StateConfig::parse(EXAMPLE).unwrap().in_mount_order();
        let e = ensure(tmp.path(), &state, &c.paths[0]).unwrap_err();
        assert!(e.to_string().contains("is a symlink"), "{e}");
    }

    #[test]
    fn unknown_owners_are_named() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir_all(tmp.path().join("etc")).unwrap();
        fs::write(tmp.path().join("etc/passwd"), "root:x:0:0::/:/bin/sh\n").unwrap();
        let e = resolve(tmp.path(), "etc/passwd", "daemon", "owner", "/var/x").unwrap_err();
        assert!(e.to_string().contains("owner \"daemon\""), "{e}");
    }
}
