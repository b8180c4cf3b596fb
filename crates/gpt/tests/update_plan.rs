//! `ReadGpt::update_plan`: the A/B update's rewrite of the inactive slot's
//! entries, torn at every sector boundary and at bytes inside sectors, in
//! the plan's order and with each group's writes reversed (a device may
//! reorder writes between barriers): every intermediate disk reads, with
//! `Gpt::read`, as exactly the old or exactly the new table. sfdisk and
//! sgdisk check the final table.

use std::os::unix::fs::FileExt;
use std::process::Command;

use gpt::{
    Attributes, DiskLayout, Error, Gpt, OtherCopy, PartitionSpec, Region, Size, Step, UpdatePlan,
    Uuid, Which, types,
};

const MIB: u64 = 1 << 20;
const SIZE: u64 = 32 * MIB;
/// The table lives in the first and last 64 KiB; the rest stays zeros.
const END: usize = 64 << 10;

/// The first and last 64 KiB of a `SIZE`-byte disk.
#[derive(Clone)]
struct Disk {
    head: Vec<u8>,
    tail: Vec<u8>,
}

impl Disk {
    fn new(gpt: &Gpt) -> Self {
        let mut d = Disk {
            head: vec![0; END],
            tail: vec![0; END],
        };
        for r in gpt.regions().unwrap() {
            d.write(r.offset, &r.bytes);
        }
        d
    }

    fn place(&mut self, offset: u64) -> (&mut Vec<u8>, usize) {
        let tail_start = SIZE - END as u64;
        if offset >= tail_start {
            (
                &mut self.tail,
                usize::try_from(offset - tail_start).unwrap(),
            )
        } else {
            (&mut self.head, usize::try_from(offset).unwrap())
        }
    }

    fn write(&mut self, offset: u64, bytes: &[u8]) {
        let (buf, at) = self.place(offset);
        buf[at..at + bytes.len()].copy_from_slice(bytes);
    }

    fn byte(&mut self, offset: u64) -> &mut u8 {
        let (buf, at) = self.place(offset);
        &mut buf[at]
    }

    fn read(&self) -> Result<gpt::ReadGpt, Error> {
        let tail_start = SIZE - END as u64;
        Gpt::read(SIZE, |offset, buf| {
            let (src, at) = if offset >= tail_start {
                (&self.tail, usize::try_from(offset - tail_start).unwrap())
            } else {
                (&self.head, usize::try_from(offset).unwrap())
            };
            buf.copy_from_slice(&src[at..at + buf.len()]);
            Ok(())
        })
    }

    fn image(&self) -> Vec<u8> {
        let mut image = vec![0u8; usize::try_from(SIZE).unwrap()];
        image[..END].copy_from_slice(&self.head);
        let n = image.len();
        image[n - END..].copy_from_slice(&self.tail);
        image
    }
}

fn slot(priority: u8, tries: u8, ok: bool) -> Attributes {
    Attributes::default()
        .with_read_only(true)
        .with_priority(priority)
        .unwrap()
        .with_tries_remaining(tries)
        .unwrap()
        .with_successful(ok)
}

/// ESP, two root + verity slots, state: slot b is the inactive one.
fn old_table() -> Gpt {
    let p = |ty, n: u128, name: &str, mib, attributes| PartitionSpec {
        type_guid: ty,
        unique_guid: Uuid::from_u128(0x000a_11ce_0000 + n),
        name: name.into(),
        size: if mib == 0 {
            Size::Rest
        } else {
            Size::Bytes(mib * MIB)
        },
        attributes,
    };
    DiskLayout::new(SIZE, Uuid::from_u128(0xd15c))
        .partition(p(types::ESP, 1, "esp", 2, Attributes::default()))
        .partition(p(types::ROOT_X86_64, 2, "root-a", 8, slot(15, 0, true)))
        .partition(p(
            types::ROOT_X86_64_VERITY,
            3,
            "verity-a",
            1,
            Attributes::default().with_read_only(true),
        ))
        .partition(p(types::LINUX_GENERIC, 4, "root-b", 8, slot(0, 0, false)))
        .partition(p(
            types::LINUX_GENERIC,
            5,
            "verity-b",
            1,
            Attributes::default(),
        ))
        .partition(p(types::VAR, 6, "state", 0, Attributes::default()))
        .build()
        .unwrap()
}

/// Slot b's two entries after installing a release whose root hash gives
/// these GUIDs: types, unique GUIDs, names and attributes all change.
fn new_partitions(old: &Gpt) -> Vec<gpt::Partition> {
    let hash: Vec<u8> = (0x40u8..0x60).collect();
    let (root, verity) = types::verity_partition_uuids(&hash).unwrap();
    let mut parts = old.partitions.clone();
    parts[3].type_guid = types::ROOT_X86_64;
    parts[3].unique_guid = root;
    parts[3].name = "root-b 2.0.1".into();
    parts[3].attributes = slot(14, 3, false);
    parts[4].type_guid = types::ROOT_X86_64_VERITY;
    parts[4].unique_guid = verity;
    parts[4].name = "verity-b 2.0.1".into();
    parts[4].attributes = Attributes::default().with_read_only(true);
    parts
}

/// The plan's writes in order, or with each group (the writes between two
/// barriers) reversed, as a device that reorders them might.
fn writes(plan: &UpdatePlan, reverse_groups: bool) -> Vec<Region> {
    let mut out = Vec::new();
    let mut group = Vec::new();
    for step in &plan.steps {
        match step {
            Step::Write(r) => group.push(r.clone()),
            Step::Barrier => {
                if reverse_groups {
                    group.reverse();
                }
                out.append(&mut group);
            }
        }
    }
    assert!(group.is_empty(), "the plan ends with a barrier");
    out
}

/// Byte counts at which to stop the stream: every sector boundary, a few
/// bytes inside every sector, and every byte of the header sectors.
fn tear_points(regions: &[Region]) -> Vec<usize> {
    let mut points = Vec::new();
    let mut at = 0;
    for r in regions {
        let len = r.bytes.len();
        if len == 512 {
            points.extend(at..at + 512);
        } else {
            for sector in (0..len).step_by(512) {
                for inside in [0, 1, 16, 20, 88, 92, 128, 255, 256, 300, 511] {
                    points.push(at + sector + inside);
                }
            }
        }
        at += len;
    }
    points.push(at);
    points
}

/// Applies the stream of `regions` torn at each point in turn to `disk`,
/// reading the table at each: counts of (old, new) reads; panics on an error
/// or any other table.
fn tear_everywhere(mut disk: Disk, regions: &[Region], old: &Gpt, new: &Gpt) -> (usize, usize) {
    let stream: Vec<(u64, u8)> = regions
        .iter()
        .flat_map(|r| {
            r.bytes
                .iter()
                .enumerate()
                .map(move |(i, &b)| (r.offset + i as u64, b))
        })
        .collect();
    let (mut olds, mut news) = (0, 0);
    let mut written = 0;
    for k in tear_points(regions) {
        for &(offset, b) in &stream[written..k] {
            *disk.byte(offset) = b;
        }
        written = k;
        let read = disk
            .read()
            .unwrap_or_else(|e| panic!("torn after {k} bytes: no table: {e}"));
        if read.gpt == *old {
            olds += 1;
        } else if read.gpt == *new {
            news += 1;
        } else {
            panic!("torn after {k} bytes: a table neither old nor new: {read:?}");
        }
    }
    (olds, news)
}

/// The starting disks: intact, or with one copy damaged, or with a backup
/// that is valid but differs.
fn starts() -> Vec<(&'static str, Disk, Which)> {
    let old = old_table();
    let intact = Disk::new(&old);
    let last = SIZE - 512;
    let mut primary_header = intact.clone();
    *primary_header.byte(512 + 60) ^= 1;
    let mut primary_entries = intact.clone();
    *primary_entries.byte(1024 + 3 * 128 + 60) ^= 1; // root-b's name
    let mut backup_header = intact.clone();
    *backup_header.byte(last + 17) ^= 0x40;
    let mut backup_differs = intact.clone();
    let mut other = old.clone();
    other.partitions[5].name = "stale".into();
    for r in other.regions().unwrap().into_iter().skip(2) {
        backup_differs.write(r.offset, &r.bytes);
    }
    vec![
        ("intact", intact, Which::Backup),
        ("primary header damaged", primary_header, Which::Primary),
        ("primary entries damaged", primary_entries, Which::Primary),
        ("backup header damaged", backup_header, Which::Backup),
        ("backup valid but different", backup_differs, Which::Backup),
    ]
}

#[test]
fn a_torn_update_reads_as_the_old_or_the_new_table() {
    let old = old_table();
    for (what, disk, first) in starts() {
        let read = disk.read().unwrap();
        assert_eq!(read.gpt, old, "{what}");
        let plan = read.update_plan(new_partitions(&old)).unwrap();
        assert_eq!(plan.first, first, "{what}");
        assert_eq!(plan.old, old);
        let new = plan.new.clone();
        assert_eq!(new.partitions, new_partitions(&old));
        for reverse in [false, true] {
            let regions = writes(&plan, reverse);
            let (olds, news) = tear_everywhere(disk.clone(), &regions, &old, &new);
            // Both outcomes happen: the tear points straddle the switch.
            assert!(olds > 0 && news > 0, "{what}: {olds} old, {news} new");
        }
        // Complete: the new table in both copies, any damage healed.
        let mut done = disk.clone();
        for r in writes(&plan, false) {
            done.write(r.offset, &r.bytes);
        }
        let after = done.read().unwrap();
        assert_eq!(after.gpt, new, "{what}");
        assert_eq!(
            (after.used, after.other),
            (Which::Primary, OtherCopy::Agrees),
            "{what}"
        );
        assert_eq!(Gpt::parse_image(&done.image()).unwrap(), new, "{what}");
    }
}

/// The order is what makes it safe: writing the copy in use first (here
/// the backup, the primary being damaged) leaves no valid table when the
/// write tears.
#[test]
fn the_copy_in_use_written_first_loses_the_table_on_a_tear() {
    let old = old_table();
    let (_, disk, _) = starts().swap_remove(1);
    let read = disk.read().unwrap();
    assert_eq!(read.used, Which::Backup);
    let plan = read.update_plan(new_partitions(&old)).unwrap();
    let mut steps = plan.steps.clone();
    steps.rotate_left(3); // backup group first
    let wrong = UpdatePlan { steps, ..plan };
    let regions = writes(&wrong, false);
    let mut torn = disk.clone();
    let header = &regions[1];
    torn.write(regions[0].offset, &regions[0].bytes);
    torn.write(header.offset, &header.bytes[..50]);
    assert!(matches!(torn.read(), Err(Error::NoValidCopy { .. })));
}

#[test]
fn the_plan_is_two_groups_each_ending_with_a_barrier() {
    let old = old_table();
    let read = Disk::new(&old).read().unwrap();
    let plan = read.update_plan(new_partitions(&old)).unwrap();
    let last = SIZE - 512;
    let shape: Vec<(u64, usize)> = plan
        .steps
        .iter()
        .map(|s| match s {
            Step::Write(r) => (r.offset, r.bytes.len()),
            Step::Barrier => (0, 0),
        })
        .collect();
    assert_eq!(
        shape,
        [
            (last - 128 * 128, 128 * 128), // backup entries
            (last, 512),                   // backup header
            (0, 0),
            (1024, 128 * 128), // primary entries
            (512, 512),        // primary header
            (0, 0),
        ]
    );
}

#[test]
fn invalid_new_entries_are_refused() {
    let old = old_table();
    let read = Disk::new(&old).read().unwrap();
    let mut parts = new_partitions(&old);
    parts[4].first_lba = parts[3].last_lba;
    assert!(matches!(
        read.update_plan(parts),
        Err(Error::Overlap {
            index: 4,
            other: 3,
            ..
        })
    ));
}

fn run(tool: &str, args: &[&str]) -> String {
    let out = Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} is needed (./dev test installs it): {e}"));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The updated disk checked by sgdisk: no problems, and each entry as our
/// reader sees it.
#[test]
fn sgdisk_accepts_the_updated_table_and_sees_the_same_entries() {
    let old = old_table();
    let disk = Disk::new(&old);
    let plan = disk
        .read()
        .unwrap()
        .update_plan(new_partitions(&old))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.img");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(SIZE).unwrap();
    for r in disk
        .image()
        .chunks(512)
        .enumerate()
        .filter(|(_, s)| s.iter().any(|&b| b != 0))
    {
        file.write_all_at(r.1, r.0 as u64 * 512).unwrap();
    }
    for step in &plan.steps {
        if let Step::Write(r) = step {
            file.write_all_at(&r.bytes, r.offset).unwrap();
        }
    }
    drop(file);
    let img = path.to_str().unwrap();
    let verify = run("sgdisk", &["-v", img]);
    assert!(verify.contains("No problems found"), "{verify}");
    let ours = Gpt::read(SIZE, |o, b| {
        std::fs::File::open(&path).unwrap().read_exact_at(b, o)
    })
    .unwrap();
    assert_eq!(ours.gpt, plan.new);
    for p in &ours.gpt.partitions {
        let info = run("sgdisk", &["-i", &(p.index + 1).to_string(), img]);
        for expected in [
            format!(
                "Partition GUID code: {}",
                p.type_guid.to_string().to_uppercase()
            ),
            format!(
                "Partition unique GUID: {}",
                p.unique_guid.to_string().to_uppercase()
            ),
            format!("First sector: {} ", p.first_lba),
            format!("Last sector: {} ", p.last_lba),
            format!("Attribute flags: {:016X}", p.attributes.0),
            format!("Partition name: '{}'", p.name),
        ] {
            assert!(info.contains(&expected), "{expected:?} not in\n{info}");
        }
    }
}
