//! Seeding a new state directory from the root's factory copy
//! (`/usr/share/factory/<path>`, systemd's factory convention): a recursive
//! copy that keeps modes, owners and symlinks as they are.
//!
//! Symlinks are copied as symlinks and never followed, so the copy cannot
//! leave the factory tree; only real directories are descended into. Other
//! file types (devices, FIFOs, sockets) do not belong in a factory tree and
//! are skipped with a message.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, lchown, symlink};
use std::path::Path;

use anyhow::{Context, Result};

/// Copies the contents of directory `src` into the existing directory
/// `dst`. Returns one message per skipped entry.
pub fn copy_tree(src: &Path, dst: &Path) -> Result<Vec<String>> {
    let mut skipped = Vec::new();
    copy_dir_contents(src, dst, &mut skipped)?;
    Ok(skipped)
}

fn copy_dir_contents(src: &Path, dst: &Path, skipped: &mut Vec<String>) -> Result<()> {
    let mut names: Vec<_> = fs::read_dir(src)
        .with_context(|| format!("cannot list {}", src.display()))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot list {}", src.display()))?;
    names.sort();
    for name in names {
        let from = src.join(&name);
        let to = dst.join(&name);
        let meta = fs::symlink_metadata(&from)
            .with_context(|| format!("cannot stat {}", from.display()))?;
        let ty = meta.file_type();
        if ty.is_symlink() {
            let target = fs::read_link(&from)
                .with_context(|| format!("cannot read link {}", from.display()))?;
            symlink(&target, &to)
                .with_context(|| format!("cannot create symlink {}", to.display()))?;
            lchown(&to, Some(meta.uid()), Some(meta.gid()))
                .with_context(|| format!("cannot set the owner of {}", to.display()))?;
            continue;
        }
        if ty.is_dir() {
            fs::create_dir(&to).with_context(|| format!("cannot create {}", to.display()))?;
            copy_dir_contents(&from, &to, skipped)?;
        } else if ty.is_file() {
            let mut input =
                fs::File::open(&from).with_context(|| format!("cannot open {}", from.display()))?;
            let mut output = fs::File::create_new(&to)
                .with_context(|| format!("cannot create {}", to.display()))?;
            std::io::copy(&mut input, &mut output)
                .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
        } else {
            skipped.push(format!(
                "skipped {} (not a file, directory or symlink)",
                from.display()
            ));
            continue;
        }
        set_owner_and_mode(&to, meta.uid(), meta.gid(), meta.mode() & 0o7777)?;
    }
    Ok(())
}

/// Owner first: chown clears the set-user/group-ID bits the mode may carry.
pub fn set_owner_and_mode(path: &Path, uid: u32, gid: u32, mode: u32) -> Result<()> {
    lchown(path, Some(uid), Some(gid))
        .with_context(|| format!("cannot set the owner of {} to {uid}:{gid}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {} to {mode:04o}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    /// Runs as root in the test container (chown needs it); as another user
    /// only ownership by that user is checked.
    fn ids() -> (u32, u32) {
        if rustix::process::geteuid().is_root() {
            (1234, 5678)
        } else {
            (
                rustix::process::geteuid().as_raw(),
                rustix::process::getegid().as_raw(),
            )
        }
    }

    #[test]
    fn modes_owners_and_symlinks_are_kept_and_nothing_is_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("factory");
        let dst = tmp.path().join("state");
        let outside = tmp.path().join("outside");
        fs::create_dir_all(src.join("sub/deeper")).unwrap();
        fs::create_dir(&dst).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret"), "outside").unwrap();
        fs::write(src.join("file"), "hello").unwrap();
        fs::write(src.join("sub/deeper/x"), "x").unwrap();
        symlink("file", src.join("rel-link")).unwrap();
        symlink(&outside, src.join("abs-dir-link")).unwrap();
        symlink("missing", src.join("dangling")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            src.join("fifo").as_path(),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let (uid, gid) = ids();
        set_owner_and_mode(&src.join("file"), uid, gid, 0o640).unwrap();
        set_owner_and_mode(&src.join("sub"), uid, gid, 0o2750).unwrap();
        set_owner_and_mode(&src.join("sub/deeper/x"), uid, gid, 0o4711).unwrap();
        lchown(src.join("rel-link"), Some(uid), Some(gid)).unwrap();

        let skipped = copy_tree(&src, &dst).unwrap();
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(skipped[0].contains("fifo"));
        assert!(!dst.join("fifo").exists());

        let m = |p: &str| fs::symlink_metadata(dst.join(p)).unwrap();
        assert_eq!(fs::read_to_string(dst.join("file")).unwrap(), "hello");
        assert_eq!(
            (m("file").mode() & 0o7777, m("file").uid(), m("file").gid()),
            (0o640, uid, gid)
        );
        assert_eq!((m("sub").mode() & 0o7777, m("sub").uid()), (0o2750, uid));
        assert_eq!(m("sub/deeper/x").mode() & 0o7777, 0o4711);
        assert_eq!(fs::read_to_string(dst.join("sub/deeper/x")).unwrap(), "x");
        for (link, target) in [
            ("rel-link", Path::new("file")),
            ("abs-dir-link", outside.as_path()),
            ("dangling", Path::new("missing")),
        ] {
            assert!(m(link).file_type().is_symlink(), "{link}");
            assert_eq!(fs::read_link(dst.join(link)).unwrap(), target);
        }
        assert_eq!(m("rel-link").uid(), uid);
        // The directory behind the absolute link was not copied.
        assert!(!m("abs-dir-link").file_type().is_dir());
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
        assert!(!m("file").file_type().is_fifo());
    }

    #[test]
    fn a_missing_source_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let e = copy_tree(&tmp.path().join("nope"), tmp.path()).unwrap_err();
        assert!(format!("{e:#}").contains("nope"), "{e:#}");
    }
}
