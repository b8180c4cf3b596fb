//! The GPT disk image (UEFI §5.3, partition types of the UAPI Discoverable
//! Partitions Specification): ESP, root-a + verity-a, root-b + verity-b
//! (empty until an update writes them), state (blank: clip-init formats it
//! on first boot). Written sparse: unwritten areas are holes.

use anyhow::{Context, Result};
use gpt::{Attributes, DiskLayout, PartitionSpec, Size, Uuid, types};

/// One partition of the image, for the manifest and for placing contents.
#[derive(Debug, Clone)]
pub struct Placed {
    pub name: String,
    pub type_guid: Uuid,
    pub unique_guid: Uuid,
    pub offset: u64,
    pub size: u64,
}

/// Partition sizes in bytes and the GUIDs that are not derived from a root
/// hash.
#[derive(Debug, Clone)]
pub struct Plan {
    pub esp: u64,
    pub root: u64,
    pub verity: u64,
    pub state: u64,
    pub disk_guid: Uuid,
    pub esp_guid: Uuid,
    pub state_guid: Uuid,
    /// (root, verity) GUIDs of slot A: the halves of its root hash.
    pub slot_a: (Uuid, Uuid),
    /// (root, verity) GUIDs of the empty slot B, until an update sets them.
    pub slot_b: (Uuid, Uuid),
}

const MIB: u64 = 1 << 20;

impl Plan {
    /// The disk: 1 MiB for the primary GPT, the partitions, 1 MiB for the
    /// backup GPT.
    pub fn disk_size(&self) -> u64 {
        MIB + self.esp + 2 * (self.root + self.verity) + self.state + MIB
    }

    pub fn layout(&self) -> Result<(gpt::Gpt, Vec<Placed>)> {
        let slot = |priority: u8, successful: bool| -> Result<Attributes> {
            Ok(Attributes::default()
                .with_read_only(true)
                .with_priority(priority)?
                .with_successful(successful))
        };
        let a = slot(1, true)?;
        // B is not bootable until written: priority 0, not auto-mounted.
        let b = slot(0, false)?.with_no_auto(true);
        let spec = |type_guid, unique_guid, name: &str, size, attributes| PartitionSpec {
            type_guid,
            unique_guid,
            name: name.to_owned(),
            size: Size::Bytes(size),
            attributes,
        };
        let layout = DiskLayout::new(self.disk_size(), self.disk_guid)
            .partition(spec(
                types::ESP,
                self.esp_guid,
                "esp",
                self.esp,
                Attributes::default(),
            ))
            .partition(spec(
                types::ROOT_X86_64,
                self.slot_a.0,
                "root-a",
                self.root,
                a,
            ))
            .partition(spec(
                types::ROOT_X86_64_VERITY,
                self.slot_a.1,
                "verity-a",
                self.verity,
                a,
            ))
            .partition(spec(
                types::ROOT_X86_64,
                self.slot_b.0,
                "root-b",
                self.root,
                b,
            ))
            .partition(spec(
                types::ROOT_X86_64_VERITY,
                self.slot_b.1,
                "verity-b",
                self.verity,
                b,
            ))
            .partition(spec(
                types::VAR,
                self.state_guid,
                "state",
                self.state,
                Attributes::default(),
            ));
        let table = layout.build().context("cannot lay out the GPT")?;
        let placed = table
            .partitions
            .iter()
            .map(|p| Placed {
                name: p.name.clone(),
                type_guid: p.type_guid,
                unique_guid: p.unique_guid,
                offset: p.first_lba * gpt::SECTOR_SIZE,
                size: (p.last_lba + 1 - p.first_lba) * gpt::SECTOR_SIZE,
            })
            .collect();
        Ok((table, placed))
    }
}

/// The placed partition called `name`.
pub fn find<'a>(placed: &'a [Placed], name: &str) -> Result<&'a Placed> {
    placed
        .iter()
        .find(|p| p.name == name)
        .with_context(|| format!("internal error: no partition {name} in the layout"))
}
