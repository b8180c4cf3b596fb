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
//!
//! Tables are read with `Gpt::read`, which uses the backup copy when the
//! primary is damaged (UEFI 2.10 §5.3.2) and says so; clip-init prints that
//! once per disk. Linux's own partition scan uses the backup only when the
//! primary is valid (or `gpt` is on the command line), so for a table read
//! from the backup whose partition devices are missing, clip-init adds the
//! table's partitions itself (`BLKPG_ADD_PARTITION`, `sys::blkpg`): the
//! boot, and the system after it, see the partitions clip-init matched.
//!
//! Ambiguity stops the boot rather than letting order decide: two entries
//! carrying one of the hash's GUIDs, two state partitions, or matches on two
//! disks. Each disk's table is read on a thread of its own, so a disk whose
//! reads hang delays the boot to the wait's deadline and no further.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use gpt::{Gpt, Partition, ReadGpt, Which, types};

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
/// root hash's partitions are not both there; an error when the table is
/// ambiguous (two entries carrying one of the root hash's GUIDs, or two
/// state partitions), since taking the first would let table order decide.
pub fn match_partitions<'a>(
    gpt: &'a Gpt,
    root_hash: &[u8; 32],
) -> Result<Option<[Option<&'a Partition>; 3]>> {
    let (root_uuid, verity_uuid) =
        types::verity_partition_uuids(root_hash).expect("a 32-byte hash has two halves");
    for (uuid, role) in [(root_uuid, "root"), (verity_uuid, "verity")] {
        // Counted whatever their type: a same-GUID entry of another type is
        // just as ambiguous.
        let entries: Vec<u32> = gpt
            .partitions
            .iter()
            .filter(|p| p.unique_guid == uuid)
            .map(|p| p.index + 1)
            .collect();
        if entries.len() > 1 {
            bail!(
                "GPT entries {entries:?} all have unique GUID {uuid} (the {role} partition of \
                 this root hash); partition GUIDs must be unique: refusing to guess"
            );
        }
    }
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

/// Reads the GPT of `/dev/<disk>`, from the backup copy if the primary is
/// damaged; `Err` text says why it has none.
fn read_gpt(disk: &str) -> GptRead {
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
    Gpt::read(sectors * 512, |offset, buf| file.read_exact_at(buf, offset))
        .map_err(|e| format!("no valid GPT: {e}"))
}

/// Adds every partition of `gpt` to the kernel's view of `/dev/<disk>`.
fn add_partitions(disk: &str, gpt: &Gpt) -> AddResult {
    let dev = format!("/dev/{disk}");
    let file = File::open(&dev).map_err(|e| format!("cannot open {dev}: {e}"))?;
    for p in &gpt.partitions {
        sys::blkpg::add_partition(&file, p.index + 1, p.offset(), p.size()).map_err(|e| {
            format!(
                "cannot add partition {} ({} bytes at byte {}): {e}",
                p.index + 1,
                p.size(),
                p.offset()
            )
        })?;
    }
    Ok(())
}

/// The whole disks in `/sys/block`, sorted (device-mapper, loop and RAM
/// disks left out).
fn list_disks() -> Result<Vec<String>> {
    let entries = match std::fs::read_dir("/sys/block") {
        Ok(entries) => entries,
        Err(e) => bail!("cannot list /sys/block: {e}"),
    };
    let mut disks: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|d| !d.starts_with("dm-") && !d.starts_with("loop") && !d.starts_with("ram"))
        .collect();
    disks.sort();
    Ok(disks)
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

type GptRead = std::result::Result<ReadGpt, String>;
type AddResult = std::result::Result<(), String>;
type AddPartitions = dyn Fn(&str, &Gpt) -> AddResult;

/// How the search reaches the machine; tests pass their own.
pub struct Host {
    pub list_disks: Box<dyn Fn() -> Result<Vec<String>>>,
    /// Runs on a thread of its own: it may block for ever.
    pub read_gpt: Arc<dyn Fn(&str) -> GptRead + Send + Sync>,
    pub node_exists: Box<dyn Fn(&Path) -> bool>,
    /// Tells the kernel about a table's partitions (see the module
    /// documentation).
    pub add_partitions: Box<AddPartitions>,
}

impl Host {
    pub fn real() -> Self {
        Self {
            list_disks: Box::new(list_disks),
            read_gpt: Arc::new(read_gpt),
            node_exists: Box::new(is_block_device),
            add_partitions: Box::new(add_partitions),
        }
    }
}

/// The search for the root hash's disk. Each disk's table is read on a
/// thread of its own, so that a disk whose reads never return cannot hold
/// the boot past its deadline: its read stays pending (a thread blocked in
/// the kernel cannot be cancelled) and is reported instead.
struct Search {
    host: Host,
    root_hash: [u8; 32],
    pending: HashMap<String, (Instant, Receiver<GptRead>)>,
    /// Per disk, what the last scan saw; becomes the error's "seen" list.
    notes: Vec<String>,
    /// Console lines already printed about the disks' tables (each once).
    said: HashSet<String>,
    /// Disks whose partitions clip-init added to the kernel.
    added: HashSet<String>,
    /// Per disk, what its last answered read showed: the "seen" entry of
    /// a disk whose fresh read has only just started.
    last: HashMap<String, String>,
}

/// What one scan decided.
enum Scan {
    Found(Found),
    /// The only match, but a disk has not answered yet: it could hold a
    /// second one. Taken only once the deadline has passed.
    FoundButPending(Found, Vec<String>),
    NotYet,
}

/// How long one scan waits for a disk's table before moving on.
const READ_PATIENCE: Duration = Duration::from_secs(1);

impl Search {
    fn new(host: Host, root_hash: &[u8; 32]) -> Self {
        Self {
            host,
            root_hash: *root_hash,
            pending: HashMap::new(),
            notes: Vec::new(),
            said: HashSet::new(),
            added: HashSet::new(),
            last: HashMap::new(),
        }
    }

    /// Starts the reads not already under way, then collects what answered
    /// by `until`.
    fn read_tables(&mut self, disks: &[String], until: Instant) -> Vec<(String, GptRead)> {
        self.pending.retain(|d, _| disks.contains(d));
        for disk in disks {
            if !self.pending.contains_key(disk) {
                let (tx, rx) = mpsc::channel();
                let read = Arc::clone(&self.host.read_gpt);
                let name = disk.clone();
                // A failed send only means the search is over.
                std::thread::spawn(move || drop(tx.send(read(&name))));
                self.pending.insert(disk.clone(), (Instant::now(), rx));
            }
        }
        let mut answered = Vec::new();
        for disk in disks {
            let Some((_, rx)) = self.pending.get(disk) else {
                continue;
            };
            let wait = until.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(read) => {
                    self.pending.remove(disk);
                    answered.push((disk.clone(), read));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.pending.remove(disk);
                    answered.push((disk.clone(), Err("its reader stopped".into())));
                }
            }
        }
        answered
    }

    fn scan(&mut self, deadline: Instant) -> Result<Scan> {
        for note in self.notes.drain(..) {
            if let Some((disk, _)) = note.split_once(": ") {
                self.last.insert(disk.to_owned(), note.clone());
            }
        }
        let disks = (self.host.list_disks)()?;
        let until = deadline.min(Instant::now() + READ_PATIENCE);
        let mut found: Vec<Found> = Vec::new();
        for (disk, read) in self.read_tables(&disks, until) {
            let read = match read {
                Ok(read) => read,
                Err(why) => {
                    self.notes.push(format!("{disk}: {why}"));
                    continue;
                }
            };
            if let Some(note) = read.note() {
                let line = format!("disk /dev/{disk}: {note}");
                if self.said.insert(line.clone()) {
                    say(&line);
                }
            }
            let gpt = &read.gpt;
            let matched = match_partitions(gpt, &self.root_hash)
                .map_err(|e| anyhow::anyhow!("disk /dev/{disk}: {e}"))?;
            let Some([Some(root), Some(verity), state]) = matched else {
                self.notes.push(format!(
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
            // The kernel adds the partition nodes shortly after the disk,
            // unless its scan found no valid primary table.
            let missing = |host: &Host| {
                [Some(&f.root), Some(&f.verity), f.state.as_ref()]
                    .into_iter()
                    .flatten()
                    .find(|p| !(host.node_exists)(&p.dev))
                    .cloned()
            };
            if read.used == Which::Backup
                && missing(&self.host).is_some()
                && self.added.insert(disk.clone())
            {
                match (self.host.add_partitions)(&disk, gpt) {
                    Ok(()) => say(&format!(
                        "disk /dev/{disk}: the kernel did not take the backup GPT; added its \
                         {} partitions",
                        gpt.partitions.len()
                    )),
                    Err(e) => say(&format!("disk /dev/{disk}: {e}")),
                }
            }
            if let Some(missing) = missing(&self.host) {
                self.notes.push(format!(
                    "{disk}: partition node {} not there yet",
                    missing.dev.display()
                ));
                continue;
            }
            found.push(f);
        }
        let mut silent: Vec<(String, String)> = self
            .pending
            .iter()
            .map(|(disk, (since, _))| {
                let line = format!(
                    "{disk}: its reads have not returned after {} ms",
                    since.elapsed().as_millis()
                );
                // A read started at the last instant: what the disk said before.
                let seen = match self.last.get(disk) {
                    Some(last) if since.elapsed() < READ_PATIENCE => last.clone(),
                    _ => line.clone(),
                };
                (line, seen)
            })
            .collect();
        silent.sort();
        self.notes
            .extend(silent.iter().map(|(_, seen)| seen.clone()));
        let silent: Vec<String> = silent.into_iter().map(|(line, _)| line).collect();
        if found.len() > 1 {
            let names: Vec<&str> = found.iter().map(|f| f.disk.as_str()).collect();
            bail!(
                "the root hash's partitions are on more than one disk ({}): refusing to guess",
                names.join(", ")
            );
        }
        Ok(match found.pop() {
            None => Scan::NotYet,
            Some(f) if silent.is_empty() => Scan::Found(f),
            Some(f) => Scan::FoundButPending(f, silent),
        })
    }
}

/// Polls every 50 ms until the disk appears, for at most `timeout`.
pub fn wait(root_hash: &[u8; 32], timeout: Duration) -> Result<Found> {
    search(Host::real(), root_hash, timeout)
}

/// [`wait`] on any host. A disk that never answers delays the boot to the
/// deadline, not beyond: then the one match found is taken, the silent
/// disks named on the console.
pub fn search(host: Host, root_hash: &[u8; 32], timeout: Duration) -> Result<Found> {
    let (root_uuid, verity_uuid) =
        types::verity_partition_uuids(root_hash).expect("a 32-byte hash has two halves");
    let start = Instant::now();
    let deadline = start + timeout;
    let mut search = Search::new(host, root_hash);
    loop {
        let found = match search.scan(deadline)? {
            Scan::Found(found) => found,
            Scan::FoundButPending(found, silent) if Instant::now() >= deadline => {
                say(&format!(
                    "disk /dev/{}: taken although other disks did not answer within {} s ({})",
                    found.disk,
                    timeout.as_secs(),
                    silent.join("; ")
                ));
                found
            }
            Scan::FoundButPending(..) | Scan::NotYet => {
                if Instant::now() >= deadline {
                    let seen = if search.notes.is_empty() {
                        "no disks".to_owned()
                    } else {
                        search.notes.join("; ")
                    };
                    bail!(
                        "no disk has a root partition with UUID {root_uuid} and a verity partition with UUID {verity_uuid} \
                         (from clip.verity.roothash) after {} s; seen: {seen}",
                        timeout.as_secs()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
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
        let mut hash = [7u8; 32];
        hash[16] = 6; // distinct halves: distinct root and verity GUIDs
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

    /// Distinct halves, as every real root hash has: the root and verity
    /// GUIDs differ.
    const HASH: [u8; 32] = *b"0123456789abcdefghijklmnopqrstuv";

    fn matching_table() -> Gpt {
        let (root, verity) = types::verity_partition_uuids(&HASH).unwrap();
        DiskLayout::new(64 << 20, Uuid::from_u128(1))
            .partition(spec(types::ROOT_X86_64, root, "root-a"))
            .partition(spec(types::ROOT_X86_64_VERITY, verity, "verity-a"))
            .build()
            .unwrap()
    }

    /// A host whose disk `hung` never answers (its reader blocks for ever,
    /// as a read on a dead device does) and whose `good` disks hold the
    /// matching table.
    fn host(disks: &[&str], good: &'static [&'static str], hung: &'static str) -> Host {
        let disks: Vec<String> = disks.iter().map(|d| (*d).to_owned()).collect();
        let table = matching_table();
        Host {
            list_disks: Box::new(move || Ok(disks.clone())),
            read_gpt: Arc::new(move |disk: &str| {
                if disk == hung {
                    loop {
                        std::thread::park();
                    }
                }
                if good.contains(&disk) {
                    Ok(ReadGpt {
                        gpt: table.clone(),
                        used: Which::Primary,
                        other: gpt::OtherCopy::Agrees,
                    })
                } else {
                    Err("no valid GPT: not a GPT".into())
                }
            }),
            node_exists: Box::new(|_| true),
            add_partitions: Box::new(|disk, _| panic!("partitions added to {disk}")),
        }
    }

    /// A table read from the backup: the kernel has no partition nodes
    /// until clip-init adds the table's partitions, once.
    #[test]
    fn partitions_of_a_backup_table_are_added_to_the_kernel_once() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let table = matching_table();
        let added = Arc::new(AtomicBool::new(false));
        let calls = Arc::new(AtomicUsize::new(0));
        let (a, c) = (Arc::clone(&added), Arc::clone(&calls));
        let host = Host {
            list_disks: Box::new(|| Ok(vec!["vda".to_owned()])),
            read_gpt: Arc::new(move |_: &str| {
                Ok(ReadGpt {
                    gpt: table.clone(),
                    used: Which::Backup,
                    other: gpt::OtherCopy::Damaged(gpt::Error::Signature { offset: 512 }),
                })
            }),
            node_exists: Box::new(move |_| a.load(Ordering::SeqCst)),
            add_partitions: Box::new(move |disk, gpt| {
                assert_eq!((disk, gpt.partitions.len()), ("vda", 2));
                c.fetch_add(1, Ordering::SeqCst);
                added.store(true, Ordering::SeqCst);
                Ok(())
            }),
        };
        let found = search(host, &HASH, TIMEOUT).unwrap();
        assert_eq!(found.root.dev, Path::new("/dev/vda1"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// A failed add is not retried in a loop: the search waits for the
    /// nodes until its deadline.
    #[test]
    fn a_failed_add_is_tried_once_and_the_missing_node_named() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let table = matching_table();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        let host = Host {
            list_disks: Box::new(|| Ok(vec!["vda".to_owned()])),
            read_gpt: Arc::new(move |_: &str| {
                Ok(ReadGpt {
                    gpt: table.clone(),
                    used: Which::Backup,
                    other: gpt::OtherCopy::Damaged(gpt::Error::Signature { offset: 512 }),
                })
            }),
            node_exists: Box::new(|_| false),
            add_partitions: Box::new(move |_, _| {
                c.fetch_add(1, Ordering::SeqCst);
                Err("cannot add partition 1: Device or resource busy".into())
            }),
        };
        let e = search(host, &HASH, TIMEOUT).unwrap_err().to_string();
        // The last scan's read started at the deadline: the note is what
        // the disk showed before.
        assert!(
            e.contains("after 2 s; seen: vda: partition node /dev/vda1 not there yet"),
            "{e}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    const TIMEOUT: Duration = Duration::from_secs(2);
    /// Far below "for ever", far above a loaded machine's scheduling noise.
    const SLACK: Duration = Duration::from_secs(3);

    #[test]
    fn a_disk_that_never_answers_delays_the_boot_to_the_deadline_only() {
        let start = Instant::now();
        let found = search(host(&["vda", "vdb"], &["vda"], "vdb"), &HASH, TIMEOUT).unwrap();
        let took = start.elapsed();
        assert_eq!(found.disk, "vda");
        assert_eq!(found.root.dev, Path::new("/dev/vda1"));
        assert!(took >= TIMEOUT, "taken before the silent disk's deadline");
        assert!(took < TIMEOUT + SLACK, "stalled for {took:?}");
    }

    #[test]
    fn a_silent_disk_is_named_when_nothing_is_found() {
        let start = Instant::now();
        let e = search(host(&["vda", "vdb"], &[], "vdb"), &HASH, TIMEOUT).unwrap_err();
        assert!(start.elapsed() < TIMEOUT + SLACK, "stalled");
        let e = e.to_string();
        assert!(e.contains("after 2 s; seen: "), "{e}");
        assert!(e.contains("vda: no valid GPT: not a GPT"), "{e}");
        assert!(e.contains("vdb: its reads have not returned after "), "{e}");
    }

    #[test]
    fn answering_disks_are_taken_at_once() {
        let start = Instant::now();
        let found = search(host(&["vda", "vdb"], &["vdb"], "none"), &HASH, TIMEOUT).unwrap();
        assert_eq!(found.disk, "vdb");
        assert!(start.elapsed() < TIMEOUT, "waited for the deadline");
    }

    #[test]
    fn two_matching_disks_are_refused() {
        let e = search(
            host(&["vda", "vdb"], &["vda", "vdb"], "none"),
            &HASH,
            TIMEOUT,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(
                "the root hash's partitions are on more than one disk (vda, vdb): refusing to guess"
            ),
            "{e}"
        );
    }

    #[test]
    fn two_entries_with_one_guid_are_refused_whatever_their_order_or_type() {
        let (root, verity) = types::verity_partition_uuids(&HASH).unwrap();
        for (first, second) in [
            (types::ROOT_X86_64, types::ROOT_X86_64),
            (types::LINUX_GENERIC, types::ROOT_X86_64),
            (types::ROOT_X86_64, types::LINUX_GENERIC),
        ] {
            let table = DiskLayout::new(64 << 20, Uuid::from_u128(1))
                .partition(spec(first, root, "root-a"))
                .partition(spec(types::ROOT_X86_64_VERITY, verity, "verity-a"))
                .partition(spec(second, root, "root-b"))
                .build()
                .unwrap();
            let e = match_partitions(&table, &HASH).unwrap_err().to_string();
            assert_eq!(
                e,
                format!(
                    "GPT entries [1, 3] all have unique GUID {root} (the root partition of this \
                     root hash); partition GUIDs must be unique: refusing to guess"
                )
            );
        }
        let table = DiskLayout::new(64 << 20, Uuid::from_u128(1))
            .partition(spec(types::ROOT_X86_64_VERITY, verity, "verity-b"))
            .partition(spec(types::ROOT_X86_64, root, "root-a"))
            .partition(spec(types::ROOT_X86_64_VERITY, verity, "verity-a"))
            .build()
            .unwrap();
        let e = match_partitions(&table, &HASH).unwrap_err().to_string();
        assert!(e.contains("GPT entries [1, 3] all have unique GUID"), "{e}");
        assert!(
            e.contains("(the verity partition of this root hash)"),
            "{e}"
        );
    }
}
