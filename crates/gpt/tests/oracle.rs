//! Our tables checked by the reference tools (sfdisk from util-linux, sgdisk
//! from gdisk), and tables made by sfdisk parsed by us. A missing tool fails.

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::Command;

use gpt::{Attributes, DiskLayout, Gpt, PartitionSpec, Region, Size, Uuid, types};
use serde_json::Value;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn run(tool: &str, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut cmd = Command::new(tool);
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{tool} is needed (./dev test installs it): {e}"));
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A sparse image file with the regions written in.
fn write_image(path: &Path, size: u64, regions: &[Region]) {
    let file = std::fs::File::create(path).unwrap();
    file.set_len(size).unwrap();
    for r in regions {
        file.write_all_at(&r.bytes, r.offset).unwrap();
    }
}

fn parse_file(path: &Path) -> Result<Gpt, gpt::Error> {
    let file = std::fs::File::open(path).unwrap();
    let size = file.metadata().unwrap().len();
    Gpt::parse(size, |offset, buf| file.read_exact_at(buf, offset))
}

fn guid(n: u128) -> Uuid {
    // Deterministic, distinct, not all-zero fields.
    Uuid::from_u128(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834 ^ n)
}

/// The A/B layout of issue 4: ESP, two root + verity slots, state.
fn ab_layout() -> DiskLayout {
    let slot = |priority, tries, ok: bool| {
        Attributes::default()
            .with_read_only(true)
            .with_priority(priority)
            .unwrap()
            .with_tries_remaining(tries)
            .unwrap()
            .with_successful(ok)
    };
    let p = |type_guid, n, name: &str, size, attributes| PartitionSpec {
        type_guid,
        unique_guid: guid(n),
        name: name.into(),
        size,
        attributes,
    };
    let verity = Attributes::default().with_read_only(true);
    DiskLayout::new(2 * GIB, guid(0))
        .partition(p(
            types::ESP,
            1,
            "esp",
            Size::Bytes(256 * MIB),
            Attributes::default().with_required(true),
        ))
        .partition(p(
            types::ROOT_X86_64,
            2,
            "root-a",
            Size::Bytes(512 * MIB),
            slot(15, 0, true),
        ))
        .partition(p(
            types::ROOT_X86_64_VERITY,
            3,
            "verity-a",
            Size::Bytes(64 * MIB),
            verity,
        ))
        .partition(p(
            types::ROOT_X86_64,
            4,
            "root-b",
            Size::Bytes(512 * MIB),
            slot(14, 3, false).with_no_auto(true),
        ))
        .partition(p(
            types::ROOT_X86_64_VERITY,
            5,
            "verity-b",
            Size::Bytes(64 * MIB),
            verity.with_no_auto(true),
        ))
        .partition(p(
            types::VAR,
            6,
            "state",
            Size::Rest,
            Attributes::default().with_grow_fs(true),
        ))
}

/// sfdisk's spelling of an attribute field.
fn sfdisk_attrs(a: Attributes) -> Option<String> {
    let mut words = Vec::new();
    for (bit, word) in [
        (0, "RequiredPartition"),
        (1, "NoBlockIOProtocol"),
        (2, "LegacyBIOSBootable"),
    ] {
        if a.0 >> bit & 1 == 1 {
            words.push(word.to_string());
        }
    }
    let high: Vec<String> = (48..64)
        .filter(|b| a.0 >> b & 1 == 1)
        .map(|b| b.to_string())
        .collect();
    if !high.is_empty() {
        words.push(format!("GUID:{}", high.join(",")));
    }
    (!words.is_empty()).then(|| words.join(" "))
}

/// Compares a table with `sfdisk --json`'s view of the same image.
fn assert_matches_sfdisk(gpt: &Gpt, json: &Value) {
    let table = &json["partitiontable"];
    assert_eq!(table["label"], "gpt");
    assert_eq!(table["id"], gpt.disk_guid.to_string().to_uppercase());
    assert_eq!(table["firstlba"], gpt.first_usable_lba);
    assert_eq!(table["lastlba"], gpt.last_usable_lba);
    let parts = table["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), gpt.partitions.len());
    for (p, s) in gpt.partitions.iter().zip(parts) {
        assert!(
            s["node"]
                .as_str()
                .unwrap()
                .ends_with(&(p.index + 1).to_string())
        );
        assert_eq!(s["start"], p.first_lba, "{}", p.name);
        assert_eq!(s["size"], p.last_lba - p.first_lba + 1, "{}", p.name);
        assert_eq!(s["type"], p.type_guid.to_string().to_uppercase());
        assert_eq!(s["uuid"], p.unique_guid.to_string().to_uppercase());
        // sfdisk leaves out empty names.
        assert_eq!(s["name"].as_str().unwrap_or(""), p.name);
        assert_eq!(
            s["attrs"].as_str().map(String::from),
            sfdisk_attrs(p.attributes)
        );
    }
}

#[test]
fn ab_image_checks_with_sfdisk_and_sgdisk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.img");
    let gpt = ab_layout().build().unwrap();
    let regions = gpt.regions().unwrap();
    write_image(&path, 2 * GIB, &regions);
    // Sparse: only the table sectors are allocated.
    let allocated = std::os::unix::fs::MetadataExt::blocks(&std::fs::metadata(&path).unwrap());
    assert!(allocated * 512 < 4 * MIB, "{allocated} blocks");

    let img = path.to_str().unwrap();
    let json: Value = serde_json::from_str(&run("sfdisk", &["--json", img], None)).unwrap();
    assert_matches_sfdisk(&gpt, &json);
    let dump = run("sfdisk", &["-d", img], None);
    assert!(dump.contains(&format!(
        "label-id: {}",
        gpt.disk_guid.to_string().to_uppercase()
    )));
    assert!(
        dump.contains("name=\"root-b\", attrs=\"GUID:49,50,51,52,53,60,63\""),
        "{dump}"
    );

    let verify = run("sgdisk", &["-v", img], None);
    assert!(verify.contains("No problems found"), "{verify}");
    let print = run("sgdisk", &["-p", img], None);
    assert!(
        print.contains(&format!(
            "Disk identifier (GUID): {}",
            gpt.disk_guid.to_string().to_uppercase()
        )),
        "{print}"
    );
    assert!(print.contains("verity-b"), "{print}");

    // The slot layout: state takes the rest, up to the last 1 MiB boundary.
    let state = &gpt.partitions[5];
    assert_eq!(state.offset(), (256 + 512 + 64 + 512 + 64) * MIB + MIB);
    assert_eq!(state.offset() + state.size(), 2 * GIB - MIB);

    // Round trip: parse the file, serialise again, same bytes.
    let parsed = parse_file(&path).unwrap();
    assert_eq!(parsed, gpt);
    assert_eq!(parsed.regions().unwrap(), regions);
}

#[test]
fn sfdisk_made_table_parses() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sfdisk.img");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(256 * MIB)
        .unwrap();
    let script = "label: gpt\n\
        label-id: 01234567-89AB-CDEF-0123-456789ABCDEF\n\
        size=64MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, \
        uuid=11111111-2222-3333-4444-555555555555, name=\"EFI system\", \
        attrs=\"RequiredPartition,LegacyBIOSBootable\"\n\
        size=32MiB, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=\"rööt-a\", \
        attrs=\"GUID:48,49,50,51,56,60\"\n\
        type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=\"\"\n";
    let img = path.to_str().unwrap();
    run("sfdisk", &["-q", img], Some(script));
    let gpt = parse_file(&path).unwrap();
    let json: Value = serde_json::from_str(&run("sfdisk", &["--json", img], None)).unwrap();
    assert_matches_sfdisk(&gpt, &json);
    assert_eq!(gpt.partitions[1].name, "rööt-a");
    assert_eq!(gpt.partitions[1].attributes.priority(), 15);
    assert!(gpt.partitions[1].attributes.successful());
    assert!(gpt.partitions[1].attributes.read_only());
    assert_eq!(gpt.entry_count, 128);

    // Our serialisation of sfdisk's table: the same headers and entries.
    let bytes = std::fs::read(&path).unwrap();
    for r in gpt.regions().unwrap().iter().skip(1) {
        let at = usize::try_from(r.offset).unwrap();
        assert_eq!(
            bytes[at..at + r.bytes.len()],
            r.bytes[..],
            "region at {}",
            r.offset
        );
    }
    let head = &gpt.regions().unwrap()[0];
    assert_eq!(bytes[512..1024], head.bytes[512..1024], "primary header");
}
