//! Step 4: find the disk holding the root and verity partitions of the
//! signed root hash (issue 4 contract, "Partitions").
//!
//! Every whole disk in `/sys/block` is read with `crates/gpt`. The root and
//! verity partitions are matched by their unique GUIDs, which the
//! Discoverable Partitions Specification derives from the root hash
//! (`gpt::types::verity_partition_uuids`), and by type; labels are never
//! trusted. The state partition is the one of type "var" named `state` on
//! the same disk. GPT entry `i` is partition device `<disk><i+1>`, or
//! `<disk>p<i+1>` when the disk name ends in a digit (`nvme0n1p1`).

use std::fs::File;
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use gpt::{Gpt, Partition, types};

use crate::console::say;

/// One partition found: its device node and GPT entry.
#[derive(Debug, Clone)]
pub struct Part {
    pub dev: PathBuf,
    pub entry: Partition,
}

/// What the boot needs from the disk.
#[derive(Debug, Clone)]
pub struct Found {
    pub disk: String,
    pub root: Part,
    pub verity: Part,
    /// `None` when the disk has no partition of type var named `state`.
    pub state: Option<Part>,
}

/// `vda`, 0 → `vda1`; `nvme0n1`, 2 → `nvme0n1p3`.
pub fn partition_device_name(disk: &str, index: u32) -> String {
    let number = u64::from(index) + 1;
    if disk.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{disk}p{number}")
    } else {
        format!("{disk}{number}")
    }
}

/// Picks root, verity and state out of a parsed table. `Ok(None)` when the
/// root hash's partitions are not both there.
pub fn match_partitions<'a>(
    gpt: &'a Gpt,
    root_hash: &[u8; 32],
) -> Result<Option<[Option<&'a Partition>; 3]>> {
    let (root_uuid, verity_uuid) =
        types::verity_partition_uuids(root_hash).expect("a 32-byte hash has two halves");
    let find = |uuid, ty| {
        gpt.partitions
            .iter()
            .find(|p| p.unique_guid == uuid && p.type_guid == ty)
    };
    let (Some(root), Some(verity)) = (
        find(root_uuid, types::ROOT_X86_64),
        find(verity_uuid, types::ROOT_X86_64_VERITY),
    ) else {
        return Ok(None);
    };
    let states: Vec<&Partition> = gpt
        .partitions
        .iter()
        .filter(|p| p.type_guid == types::VAR && p.name == "state")
        .collect();
    if states.len() > 1 {
        bail!(
            "{} partitions of type var are named \"state\" (entries {:?}); expected one",
            states.len(),
            states.iter().map(|p| p.index + 1).collect::<Vec<_>>()
        );
    }
    Ok(Some([Some(root), Some(verity), states.first().copied()]))
}

/// Reads the GPT of `/dev/<disk>`; `Err` text says why it has none.
fn read_gpt(disk: &str) -> std::result::Result<Gpt, String> {
    let sectors: u64 = std::fs::read_to_string(format!("/sys/block/{disk}/size"))
        .map_err(|e| format!("cannot read its size: {e}"))?
        .trim()
        .parse()
        .map_err(|e| format!("bad size: {e}"))?;
    if sectors == 0 {
        return Err("empty".into());
    }
    let dev = format!("/dev/{disk}");
    let file = File::open(&dev).map_err(|e| format!("cannot open {dev}: {e}"))?;
    Gpt::parse(sectors * 512, |offset, buf| file.read_exact_at(buf, offset))
        .map_err(|e| format!("no valid GPT: {e}"))
}

fn part(disk: &str, p: &Partition) -> Part {
    Part {
        dev: Path::new("/dev").join(partition_device_name(disk, p.index)),
        entry: p.clone(),
    }
}

fn is_block_device(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device())
}

/// One scan of `/sys/block`. `Ok(None)` if nothing matches yet; `notes`
/// gets one line per disk looked at.
fn scan(root_hash: &[u8; 32], notes: &mut Vec<String>) -> Result<Option<Found>> {
    notes.clear();
    let mut found: Vec<Found> = Vec::new();
    let entries = match std::fs::read_dir("/sys/block") {
        Ok(entries) => entries,
        Err(e) => bail!("cannot list /sys/block: {e}"),
    };
    let mut disks: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|d| !d.starts_with("dm-") && !d.starts_with("loop") && !d.starts_with("ram"))
        .collect();
    disks.sort();
    for disk in disks {
        let gpt = match read_gpt(&disk) {
            Ok(gpt) => gpt,
            Err(why) => {
                notes.push(format!("{disk}: {why}"));
                continue;
            }
        };
        let matched = match_partitions(&gpt, root_hash)
            .map_err(|e| anyhow::anyhow!("disk /dev/{disk}: {e}"))?;
        let Some([Some(root), Some(verity), state]) = matched else {
            notes.push(format!(
                "{disk}: GPT with {} partitions, none for this root hash",
                gpt.partitions.len()
            ));
            continue;
        };
        let f = Found {
            root: part(&disk, root),
            verity: part(&disk, verity),
            state: state.map(|s| part(&disk, s)),
            disk: disk.clone(),
        };
        // The kernel adds the partition nodes shortly after the disk.
        let nodes = [Some(&f.root), Some(&f.verity), f.state.as_ref()];
        if let Some(missing) = nodes
            .into_iter()
            .flatten()
            .find(|p| !is_block_device(&p.dev))
        {
            notes.push(format!(
                "{disk}: partition node {} not there yet",
                missing.dev.display()
            ));
            continue;
        }
        found.push(f);
    }
    if found.len() > 1 {
        let names: Vec<&str> = found.iter().map(|f| f.disk.as_str()).collect();
        bail!(
            "the root hash's partitions are on more than one disk ({}): refusing to guess",
            names.join(", ")
        );
    }
    Ok(found.pop())
}

/// Polls every 50 ms until the disk appears, for at most `timeout`.
pub fn wait(root_hash: &[u8; 32], timeout: Duration) -> Result<Found> {
    let (root_uuid, verity_uuid) =
        types::verity_partition_uuids(root_hash).expect("a 32-byte hash has two halves");
    let start = Instant::now();
    let mut notes = Vec::new();
    loop {
        if let Some(found) = scan(root_hash, &mut notes)? {
            say(&format!(
                "disk /dev/{}: root {} verity {} state {} (after {} ms)",
                found.disk,
                found.root.dev.display(),
                found.verity.dev.display(),
                found
                    .state
                    .as_ref()
                    .map_or("none".into(), |s| s.dev.display().to_string()),
                start.elapsed().as_millis()
            ));
            return Ok(found);
        }
        if start.elapsed() >= timeout {
            let seen = if notes.is_empty() {
                "no disks".to_owned()
            } else {
                notes.join("; ")
            };
            bail!(
                "no disk has a root partition with UUID {root_uuid} and a verity partition with UUID {verity_uuid} \
                 (from clip.verity.roothash) after {} s; seen: {seen}",
                timeout.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gpt::{Attributes, DiskLayout, PartitionSpec, Size, Uuid};

    #[test]
    fn partition_names() {
        assert_eq!(partition_device_name("vda", 0), "vda1");
        assert_eq!(partition_device_name("sdb", 11), "sdb12");
        assert_eq!(partition_device_name("nvme0n1", 2), "nvme0n1p3");
        assert_eq!(partition_device_name("mmcblk0", 0), "mmcblk0p1");
    }

    fn spec(ty: Uuid, unique: Uuid, name: &str) -> PartitionSpec {
        PartitionSpec {
            type_guid: ty,
            unique_guid: unique,
            name: name.into(),
            size: Size::Bytes(1 << 20),
            attributes: Attributes::default(),
        }
    }

    #[test]
    fn partitions_are_matched_by_hash_derived_uuid_and_type() {
        let hash = [7u8; 32];
        let mut other = hash;
        other[0] = 8;
        other[31] = 8;
        let (root, verity) = types::verity_partition_uuids(&hash).unwrap();
        let (root2, _) = types::verity_partition_uuids(&other).unwrap();
        let layout = DiskLayout::new(64 << 20, Uuid::from_u128(1))
            .partition(spec(types::ESP, Uuid::from_u128(2), "esp"))
            // The label of the right slot, wrong UUID: not taken.
            .partition(spec(types::ROOT_X86_64, root2, "root-a"))
            .partition(spec(types::ROOT_X86_64, root, "anything"))
            .partition(spec(types::ROOT_X86_64_VERITY, verity, "verity-a"))
            .partition(spec(types::VAR, Uuid::from_u128(3), "state"));
        let gpt = layout.build().unwrap();
        let [r, v, s] = match_partitions(&gpt, &hash).unwrap().unwrap();
        assert_eq!(r.unwrap().index, 2);
        assert_eq!(v.unwrap().index, 3);
        assert_eq!(s.unwrap().index, 4);
        assert!(match_partitions(&gpt, &other).unwrap().is_none());

        // Right UUID, wrong type: not taken.
        let layout = DiskLayout::new(64 << 20, Uuid::from_u128(1))
            .partition(spec(types::LINUX_GENERIC, root, "root-a"))
            .partition(spec(types::ROOT_X86_64_VERITY, verity, "verity-a"));
        assert!(
            match_partitions(&layout.build().unwrap(), &hash)
                .unwrap()
                .is_none()
        );

        // Two state partitions: refused.
        let layout = DiskLayout::new(64 << 20, Uuid::from_u128(1))
            .partition(spec(types::ROOT_X86_64, root, "root-a"))
            .partition(spec(types::ROOT_X86_64_VERITY, verity, "verity-a"))
            .partition(spec(types::VAR, Uuid::from_u128(3), "state"))
            .partition(spec(types::VAR, Uuid::from_u128(4), "state"));
        let e = match_partitions(&layout.build().unwrap(), &hash).unwrap_err();
        assert!(e.to_string().contains("named \"state\""), "{e}");
    }
}
