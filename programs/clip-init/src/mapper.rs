//! The one device-mapper sequence of clip-init, for every mapping it makes
//! (the verity root; dm-integrity and dm-crypt under the state partition):
//! DEV_CREATE, TABLE_LOAD, resume, a check of the live device, and on any
//! failure DEV_REMOVE, so that no half-set-up mapping is left behind. The
//! buffers come from `crates/dm`, the ioctls from `crates/sys`.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use dm::{Target, request};
use rustix::fs::{CWD, FileType, Mode, major, makedev, minor, mknodat};

/// A mapping to set up.
#[derive(Debug)]
pub struct Mapping<'a> {
    pub name: &'a str,
    pub uuid: &'a str,
    pub targets: Vec<Target>,
    pub read_only: bool,
}

/// A live mapping.
#[derive(Debug, Clone)]
pub struct Active {
    pub name: String,
    /// Its block device node.
    pub node: PathBuf,
}

/// The open control device.
pub struct Mapper {
    control: sys::dm::Control,
}

impl std::fmt::Debug for Mapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mapper")
    }
}

impl Mapper {
    pub fn open() -> Result<Self> {
        let control = sys::dm::Control::open()
            .with_context(|| format!("cannot open {}", sys::dm::CONTROL))?;
        Ok(Self { control })
    }

    /// One ioctl, its failure named with the step and the device.
    pub fn call(
        &self,
        what: &str,
        name: &str,
        req: Result<dm::Request, dm::Error>,
    ) -> Result<Vec<u8>> {
        let req = req.with_context(|| format!("cannot build the {what} request for {name}"))?;
        self.control
            .call(&req)
            .with_context(|| format!("device-mapper {what} of {name} failed"))
    }

    /// Sets up `m`; `check` looks at the live device before it is handed
    /// out (e.g. dm-verity's status). Any failure removes the mapping again.
    pub fn activate(
        &self,
        m: &Mapping<'_>,
        check: impl FnOnce(&Self, &Active) -> Result<()>,
    ) -> Result<Active> {
        let name = m.name;
        self.call(
            "DEV_CREATE",
            name,
            request::dev_create(name, Some(m.uuid), 0),
        )?;
        let flags = if m.read_only {
            dm::layout::flags::READONLY
        } else {
            0
        };
        let result = (|| {
            self.call(
                "TABLE_LOAD",
                name,
                request::table_load(name, &m.targets, flags),
            )
            .with_context(|| {
                let lines: Vec<String> = m
                    .targets
                    .iter()
                    .map(|t| {
                        format!(
                            "{} {} {} {}",
                            t.sector_start, t.length, t.target_type, t.params
                        )
                    })
                    .collect();
                format!("table: {}", lines.join("; "))
            })?;
            let reply = self.call("resume", name, request::resume(name))?;
            let reply = dm::Reply::parse(&reply).context("bad device-mapper resume reply")?;
            let (maj, min) = reply.major_minor();
            let active = Active {
                name: name.to_owned(),
                node: node(name, maj, min)?,
            };
            check(self, &active)?;
            Ok(active)
        })();
        if result.is_err() {
            // Best effort: the boot stops anyway, but a retry must not
            // find the name taken.
            let _ = self.remove(name);
        }
        result
    }

    /// Removes a mapping.
    pub fn remove(&self, name: &str) -> Result<()> {
        self.call("DEV_REMOVE", name, request::dev_remove(name))
            .map(drop)
    }
}

/// The block device `path` as `major:minor` (what dm tables take).
pub fn dev_numbers(path: &Path) -> Result<String> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    if !meta.file_type().is_block_device() {
        bail!("{} is not a block device", path.display());
    }
    Ok(format!("{}:{}", major(meta.rdev()), minor(meta.rdev())))
}

/// `/dev/dm-<minor>` as devtmpfs made it, or a node of our own.
fn node(name: &str, maj: u32, min: u32) -> Result<PathBuf> {
    let dev = makedev(maj, min);
    let dm = PathBuf::from(format!("/dev/dm-{min}"));
    if std::fs::metadata(&dm).is_ok_and(|m| m.file_type().is_block_device() && m.rdev() == dev) {
        return Ok(dm);
    }
    let own = PathBuf::from(format!("/dev/mapper/{name}"));
    if let Some(dir) = own.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    mknodat(
        CWD,
        &own,
        FileType::BlockDevice,
        Mode::from_raw_mode(0o600),
        dev,
    )
    .with_context(|| format!("cannot create device node {} ({maj}:{min})", own.display()))?;
    Ok(own)
}
