//! Step 5: the dm-verity mapping of the root partition, through the
//! device-mapper ioctls (kernel `Documentation/admin-guide/device-mapper/
//! verity.rst`; buffers from `crates/dm`, ioctls from `crates/sys`):
//! DEV_CREATE `clip-root-<slot>`, TABLE_LOAD read-only, resume, and
//! TABLE_STATUS must report `V`.
//!
//! The table is the contract's: version 1, sha256, 4096-byte blocks, the
//! tree after the 4096-byte superblock area of the verity partition (hash
//! start block 1), no corruption options: a block that does not match the
//! signed root hash reads as EIO.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use dm::{VerityOptions, VerityStatus, VerityTable, request};
use rustix::fs::{CWD, FileType, Mode, major, makedev, minor, mknodat};

use crate::console::say;
use crate::disk::Part;
use contract::cmdline::{BLOCK_SIZE, BootParams};

/// The block device `path` as `major:minor` (what dm tables take).
fn dev_numbers(path: &Path) -> Result<String> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot stat {}", path.display()))?;
    if !meta.file_type().is_block_device() {
        bail!("{} is not a block device", path.display());
    }
    Ok(format!("{}:{}", major(meta.rdev()), minor(meta.rdev())))
}

/// The verity table line's parameters for this boot.
pub fn table(params: &BootParams, data_dev: String, hash_dev: String) -> VerityTable {
    VerityTable {
        data_dev,
        hash_dev,
        data_block_size: BLOCK_SIZE,
        hash_block_size: BLOCK_SIZE,
        num_data_blocks: params.data_blocks,
        hash_start_block: 1,
        algorithm: "sha256".into(),
        root_hash: params.root_hash_hex(),
        salt: hex::encode(&params.salt),
        options: VerityOptions::default(),
    }
}

/// Sets up `clip-root-<slot>` and returns its device node.
pub fn open(params: &BootParams, root: &Part, verity: &Part) -> Result<PathBuf> {
    let data_bytes = params.data_blocks * u64::from(BLOCK_SIZE);
    if root.entry.size() < data_bytes {
        bail!(
            "root partition {} is {} bytes, smaller than clip.verity.data_blocks={} blocks of {BLOCK_SIZE} bytes",
            root.dev.display(),
            root.entry.size(),
            params.data_blocks
        );
    }
    let table = table(params, dev_numbers(&root.dev)?, dev_numbers(&verity.dev)?);
    let target = table.target().context("invalid verity table")?;
    let name = format!("clip-root-{}", params.slot.as_str());
    let uuid = format!(
        "CLIP-VERITY-{}-{}",
        params.slot.as_str(),
        params.root_hash_hex()
    );

    let control =
        sys::dm::Control::open().with_context(|| format!("cannot open {}", sys::dm::CONTROL))?;
    let call = |what: &str, req: Result<dm::Request, dm::Error>| {
        let req = req.with_context(|| format!("cannot build {what} request for {name}"))?;
        control
            .call(&req)
            .with_context(|| format!("device-mapper {what} of {name} failed"))
    };
    call("DEV_CREATE", request::dev_create(&name, Some(&uuid), 0))?;
    let result = (|| {
        call(
            "TABLE_LOAD",
            request::table_load(&name, &[target], dm::layout::flags::READONLY),
        )
        .with_context(|| {
            format!(
                "table: 0 {} verity {}",
                table.sectors().unwrap_or(0),
                table.params().unwrap_or_default()
            )
        })?;
        let reply = call("resume", request::resume(&name))?;
        let reply = dm::Reply::parse(&reply).context("bad device-mapper resume reply")?;
        let (maj, min) = reply.major_minor();
        let status = call(
            "TABLE_STATUS",
            request::table_status(&name, false, request::STATUS_BUFFER_SIZE),
        )?;
        match dm::verity_status(&status)
            .with_context(|| format!("cannot read the verity status of {name}"))?
        {
            VerityStatus::Verified => {}
            VerityStatus::Corrupted => bail!("{name} reports corruption (status C)"),
        }
        node(&name, maj, min)
    })();
    if result.is_err() {
        // Leave no half-set-up mapping behind (best effort: we power off anyway).
        let _ = request::dev_remove(&name).map(|r| control.call(&r));
    }
    let node = result?;
    say(&format!(
        "verity root {} {} verified",
        params.slot.as_str(),
        params.root_hash_hex()
    ));
    Ok(node)
}

/// `/dev/dm-<minor>` as devtmpfs made it, or a node of our own.
fn node(name: &str, maj: u32, min: u32) -> Result<PathBuf> {
    let dev = makedev(maj, min);
    let dm = PathBuf::from(format!("/dev/dm-{min}"));
    if std::fs::metadata(&dm).is_ok_and(|m| m.file_type().is_block_device() && m.rdev() == dev) {
        return Ok(dm);
    }
    let own = PathBuf::from(format!("/dev/mapper/{name}"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use contract::Slot;

    #[test]
    fn table_line_is_the_contracts() {
        let params = BootParams {
            slot: Slot::A,
            root_hash: [0xab; 32],
            salt: vec![0x01; 32],
            data_blocks: 1000,
        };
        let t = table(&params, "254:2".into(), "254:3".into());
        assert_eq!(t.sectors().unwrap(), 8000);
        assert_eq!(
            t.params().unwrap(),
            format!(
                "1 254:2 254:3 4096 4096 1000 1 sha256 {} {}",
                "ab".repeat(32),
                "01".repeat(32)
            )
        );
        let no_salt = BootParams {
            salt: vec![],
            ..params
        };
        assert!(
            table(&no_salt, "a".into(), "b".into())
                .params()
                .unwrap()
                .ends_with(" -")
        );
    }
}
