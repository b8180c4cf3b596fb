//! The device's minimum version in the state partition
//! (docs/anti-rollback.md, "The state record"): a small JSON file,
//!
//! ```text
//! {"minimum":"2.0.0","index":"0x00020000_0000ffff"}   (index as 0x + 16 hex digits)
//! ```
//!
//! written atomically (a temporary file in the same directory, fsync,
//! rename, fsync of the directory), so a power cut leaves the old or the
//! new record. Raising never lowers: [`raise`] keeps a higher minimum.
//! The state partition is encrypted and integrity-protected (LUKS2 with
//! dm-integrity), so the disk alone cannot change it; root on the running
//! system can.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::Path;

use contract::Version;
use serde::{Deserialize, Serialize};

use crate::{Error, Indexed};

/// The record, relative to the root of the running system (in
/// `/var/lib/clip-updated/`, which the state partition holds).
pub const STATE_FILE: &str = "var/lib/clip-updated/minimum-version.json";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    minimum: String,
    index: String,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |error| Error::Io {
        path: path.display().to_string(),
        error,
    }
}

fn hex_index(index: u64) -> String {
    format!("{index:#018x}")
}

/// The recorded minimum, `None` when there is no record yet.
pub fn read(path: &Path) -> Result<Option<Version>, Error> {
    Ok(read_indexed(path)?.map(|i| i.version))
}

/// The recorded minimum with its rollback index (which must be the
/// version's).
pub fn read_indexed(path: &Path) -> Result<Option<Indexed>, Error> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    parse(&bytes).map(Some).map_err(|reason| Error::Malformed {
        path: path.display().to_string(),
        reason,
    })
}

/// Parses a record's bytes (untrusted: root on the running system can
/// write them): the reason when they are not a record whose index is its
/// version's.
pub fn parse(bytes: &[u8]) -> Result<Indexed, String> {
    let record: Record = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let version = Version::parse(&record.minimum).map_err(|e| e.to_string())?;
    let indexed = Indexed::new(version).map_err(|e| e.to_string())?;
    if record.index != hex_index(indexed.index) {
        return Err(format!(
            "index {} is not {}, the rollback index of {}",
            record.index,
            hex_index(indexed.index),
            indexed.version
        ));
    }
    Ok(indexed)
}

/// A record's bytes, as [`raise`] writes them.
pub fn render(minimum: &Indexed) -> String {
    let record = Record {
        minimum: minimum.version.to_string(),
        index: hex_index(minimum.index),
    };
    let mut text = serde_json::to_string(&record).unwrap_or_default();
    text.push('\n');
    text
}

/// What [`raise`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raised {
    /// The record was written: the minimum went `from` (None: no record)
    /// to `to`.
    Raised { from: Option<Version>, to: Version },
    /// The minimum already was `current`, at or above the version asked.
    Unchanged { current: Version },
}

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raised::Raised {
                from: Some(from),
                to,
            } => {
                write!(f, "minimum version raised from {from} to {to}")
            }
            Raised::Raised { from: None, to } => write!(f, "minimum version set to {to}"),
            Raised::Unchanged { current } => write!(f, "minimum version already {current}"),
        }
    }
}

/// Raises the minimum to `version` unless it is already at or above it.
/// The directory is created if missing (mode 0700).
pub fn raise(path: &Path, version: &Version) -> Result<Raised, Error> {
    let new = Indexed::new(version.clone())?;
    let current = read(path)?;
    if let Some(current) = current.as_ref().filter(|c| *c >= version) {
        return Ok(Raised::Unchanged {
            current: current.clone(),
        });
    }
    write_atomic(path, render(&new).as_bytes())?;
    Ok(Raised::Raised {
        from: current,
        to: new.version,
    })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if !dir.as_os_str().is_empty() {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
    }
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut file = fs::File::create(&tmp).map_err(io(&tmp))?;
    file.write_all(bytes).map_err(io(&tmp))?;
    file.sync_all().map_err(io(&tmp))?;
    drop(file);
    fs::rename(&tmp, path).map_err(io(path))?;
    if let Ok(d) = fs::File::open(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) {
        d.sync_all().map_err(io(dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn raise_never_lowers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("var/lib/clip-updated/minimum-version.json");
        assert_eq!(read(&path).unwrap(), None);
        let r = raise(&path, &v("1.0.0")).unwrap();
        assert_eq!(r.to_string(), "minimum version set to 1.0.0");
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"minimum\":\"1.0.0\",\"index\":\"0x00010000_0000ffff\"}\n".replace('_', "")
        );
        let r = raise(&path, &v("2.0.0-rc.1")).unwrap();
        assert_eq!(
            r.to_string(),
            "minimum version raised from 1.0.0 to 2.0.0-rc.1"
        );
        let r = raise(&path, &v("1.5.0")).unwrap();
        assert_eq!(r.to_string(), "minimum version already 2.0.0-rc.1");
        assert_eq!(read(&path).unwrap(), Some(v("2.0.0-rc.1")));
        let r = raise(&path, &v("2.0.0-rc.1")).unwrap();
        assert_eq!(
            r,
            Raised::Unchanged {
                current: v("2.0.0-rc.1")
            }
        );
    }

    #[test]
    fn a_forged_index_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        fs::write(
            &path,
            "{\"minimum\":\"1.0.0\",\"index\":\"0x0000000000000000\"}",
        )
        .unwrap();
        assert_eq!(
            read(&path).unwrap_err().to_string(),
            format!(
                "anti-rollback record {}: malformed: index 0x0000000000000000 is not 0x000100000000ffff, the rollback index of 1.0.0",
                path.display()
            )
            .replace(": malformed:", " is malformed:")
        );
    }
}
