//! Step 5: the dm-verity mapping of the root partition, through the
//! device-mapper ioctls (kernel `Documentation/admin-guide/device-mapper/
//! verity.rst`; the sequence of [`crate::mapper`]):
//! DEV_CREATE `clip-root-<slot>`, TABLE_LOAD read-only, resume, and
//! TABLE_STATUS must report `V`.
//!
//! The table is the contract's: version 1, sha256, 4096-byte blocks, the
//! tree after the 4096-byte superblock area of the verity partition (hash
//! start block 1), no corruption options: a block that does not match the
//! signed root hash reads as EIO.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use dm::{VerityOptions, VerityStatus, VerityTable, request};

use crate::console::say;
use crate::disk::Part;
use crate::mapper::{Mapper, Mapping, dev_numbers};
use contract::cmdline::{BLOCK_SIZE, BootParams};

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

    let mapper = Mapper::open()?;
    let active = mapper.activate(
        &Mapping {
            name: &name,
            uuid: &uuid,
            targets: vec![target],
            read_only: true,
        },
        |mapper, active| {
            let status = mapper.call(
                "TABLE_STATUS",
                &active.name,
                request::table_status(&active.name, false, request::STATUS_BUFFER_SIZE),
            )?;
            match dm::verity_status(&status)
                .with_context(|| format!("cannot read the verity status of {}", active.name))?
            {
                VerityStatus::Verified => Ok(()),
                VerityStatus::Corrupted => bail!("{} reports corruption (status C)", active.name),
            }
        },
    )?;
    say(&format!(
        "verity root {} {} verified",
        params.slot.as_str(),
        params.root_hash_hex()
    ));
    Ok(active.node)
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
