//! Step 10: switch_root into the verified root and exec systemd, as
//! util-linux `switch_root(8)` does: move /dev, /proc and /sys into the new
//! root, delete the initramfs files (they would otherwise stay in memory),
//! move the new root onto `/`, chroot into it and exec `/sbin/init`.

use std::convert::Infallible;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};
use rustix::mount::mount_move;
use rustix::process::{chdir, chroot};

use crate::console::say;

/// Deletes everything below `dir` that is on device `dev`, without
/// following symlinks or entering other mounts. Best effort.
fn delete_tree(dir: &Path, dev: u64) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.dev() != dev {
            continue;
        }
        if meta.is_dir() {
            delete_tree(&path, dev);
            let _ = fs::remove_dir(&path);
        } else {
            let _ = fs::remove_file(&path);
        }
    }
}

/// Never returns on success: the process becomes `/sbin/init` of the new root.
pub fn switch_root(new_root: &Path) -> Result<Infallible> {
    for api in ["dev", "proc", "sys"] {
        let from = Path::new("/").join(api);
        let to = new_root.join(api);
        mount_move(&from, &to)
            .with_context(|| format!("cannot move {} to {}", from.display(), to.display()))?;
    }
    let root_dev = fs::symlink_metadata("/").context("cannot stat /")?.dev();
    delete_tree(Path::new("/"), root_dev);

    chdir(new_root).with_context(|| format!("cannot chdir to {}", new_root.display()))?;
    mount_move(".", "/").with_context(|| format!("cannot move {} to /", new_root.display()))?;
    chroot(".").context("cannot chroot into the new root")?;
    chdir("/").context("cannot chdir to / in the new root")?;

    say("switching to systemd");
    let err = Command::new("/sbin/init")
        .args(std::env::args_os().skip(1))
        .exec();
    Err(err).context("cannot execute /sbin/init of the verified root")
}
