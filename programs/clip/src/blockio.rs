//! File I/O at the edge: sizes, streaming reads and crash-safe writes.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::mpsc;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Bytes read per chunk handed to the hashers.
const CHUNK: usize = 4 << 20;

/// Size of a regular file or block device.
pub fn size_of(file: &File, path: &Path) -> Result<u64> {
    let meta = file
        .metadata()
        .with_context(|| format!("cannot stat {}", path.display()))?;
    if meta.is_file() {
        return Ok(meta.len());
    }
    if meta.is_dir() {
        bail!("{} is a directory", path.display());
    }
    let mut f = file;
    f.seek(SeekFrom::End(0))
        .with_context(|| format!("cannot find the size of {}", path.display()))
}

/// True when both paths name the same inode (a missing `b` is never the same).
pub fn same_file(a: &Path, b: &Path) -> Result<bool> {
    let ma = std::fs::metadata(a).with_context(|| format!("cannot stat {}", a.display()))?;
    match std::fs::metadata(b) {
        Ok(mb) => Ok(ma.dev() == mb.dev() && ma.ino() == mb.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot stat {}", b.display())),
    }
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_owned());
    bar
}

/// Reads `len` bytes from `offset` in chunks of whole `block` bytes and hands
/// each to `consume` with its position relative to `offset`. A reader thread
/// keeps the next chunk coming while `consume` works on the current one.
pub fn stream<F>(
    file: &File,
    path: &Path,
    offset: u64,
    len: u64,
    block: usize,
    mut consume: F,
) -> Result<()>
where
    F: FnMut(u64, &[u8]) -> Result<()>,
{
    let chunk = (CHUNK / block).max(1) * block;
    let (full_tx, full_rx) = mpsc::sync_channel::<std::io::Result<(u64, Vec<u8>)>>(2);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut pos = 0u64;
            while pos < len {
                let n = usize::try_from((len - pos).min(chunk as u64)).unwrap_or(chunk);
                let mut buf = empty_rx.try_recv().unwrap_or_default();
                buf.resize(n, 0);
                let read = file
                    .read_exact_at(&mut buf, offset + pos)
                    .map(|()| (pos, buf));
                let failed = read.is_err();
                if full_tx.send(read).is_err() || failed {
                    return;
                }
                pos += n as u64;
            }
        });
        for item in full_rx {
            let (pos, buf) = item.with_context(|| {
                format!(
                    "cannot read {} (is it shorter than expected?)",
                    path.display()
                )
            })?;
            consume(pos, &buf)?;
            // The reader may have finished; a failed send only drops the buffer.
            let _ = empty_tx.send(buf);
        }
        Ok(())
    })
}

/// Makes a regular `file` at least `len` bytes long (zero-filled).
fn extend(file: &File, len: u64) -> std::io::Result<()> {
    let meta = file.metadata()?;
    if meta.is_file() && meta.len() < len {
        file.set_len(len)?;
    }
    Ok(())
}

/// True when `path` is a block or character device (a missing path is not).
pub fn is_device(path: &Path) -> Result<bool> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.file_type().is_block_device() || m.file_type().is_char_device()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot stat {}", path.display())),
    }
}

/// Writes `parts` (offset, bytes) to `path`, durably, and makes the file at
/// least `len` bytes long (zero-filled), so that fixed-size areas exist even
/// when nothing is written at their end.
///
/// The file is written under a temporary name beside it and renamed into
/// place only once complete and synced, so a failure (a full disk) never
/// leaves a file that looks finished, and an existing file, which this
/// replaces (callers check `--force`), keeping its permissions, stays
/// intact until then. A device is written in place ([`update_in_place`]).
pub fn write_parts(path: &Path, parts: &[(u64, &[u8])], len: u64) -> Result<()> {
    if is_device(path)? {
        return update_in_place(path, parts, len);
    }
    let old = match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Some(m.permissions()),
        Ok(_) => bail!("{} is neither a regular file nor a device", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("cannot stat {}", path.display())),
    };
    let tmp = temp_beside(path)?;
    let file = tmp.as_file();
    parts
        .iter()
        .try_for_each(|(offset, bytes)| file.write_all_at(bytes, *offset))
        .and_then(|()| extend(file, len))
        .and_then(|()| match &old {
            Some(permissions) => file.set_permissions(permissions.clone()),
            None => Ok(()),
        })
        .and_then(|()| file.sync_all())
        .with_context(|| {
            format!(
                "cannot write {} (as {})",
                path.display(),
                tmp.path().display()
            )
        })?;
    commit(tmp, path, old.is_some())
}

/// Writes `parts` into the existing file or device `path` in place, in
/// reverse order, each synced before the next (callers put the superblock
/// first, so it is written last), after making a regular file at least
/// `len` bytes long. For devices, and for a hash area inside its data file,
/// where writing a copy beside would not do.
pub fn update_in_place(path: &Path, parts: &[(u64, &[u8])], len: u64) -> Result<()> {
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open {} for writing", path.display()))?;
    extend(&file, len).with_context(|| format!("cannot extend {}", path.display()))?;
    for (offset, bytes) in parts.iter().rev() {
        file.write_all_at(bytes, *offset)
            .and_then(|()| file.sync_data())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Writes `bytes` to a new file `path` with permissions `mode`, atomically:
/// a temporary file beside it is written, synced and renamed into place, so
/// readers see either nothing or the whole file. An existing `path` is
/// replaced only when `replace` is set.
pub fn write_file_atomically(path: &Path, bytes: &[u8], mode: u32, replace: bool) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let mut tmp = temp_beside(path)?;
    tmp.write_all(bytes)
        .and_then(|()| {
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(mode))
        })
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| {
            format!(
                "cannot write {} (as {})",
                path.display(),
                tmp.path().display()
            )
        })?;
    commit(tmp, path, replace)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A temporary file (mode 0600) in `path`'s directory, removed if dropped.
fn temp_beside(path: &Path) -> Result<tempfile::NamedTempFile> {
    let dir = parent_dir(path);
    tempfile::Builder::new()
        .prefix(".clip-tmp-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))
}

/// Renames a complete, synced temporary file to `path` and syncs the
/// directory so the rename itself survives a crash.
fn commit(tmp: tempfile::NamedTempFile, path: &Path, replace: bool) -> Result<()> {
    let persisted = if replace {
        tmp.persist(path).map(drop)
    } else {
        tmp.persist_noclobber(path).map(drop)
    };
    persisted.map_err(|e| anyhow::anyhow!("cannot create {}: {}", path.display(), e.error))?;
    File::open(parent_dir(path))
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync the directory of {}", path.display()))
}
