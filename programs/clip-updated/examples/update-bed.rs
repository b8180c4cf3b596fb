//! A test bed for bench/clip-updated-apply: a disk image with v1 in slot
//! A, a repository offering v2 served on loopback, and v2's raw root and
//! verity area (for the reference `dd`). Prints `KEY=VALUE` lines, then
//! serves until stdin is closed.
//! Usage: update-bed ROOT_MIB
#![allow(clippy::cast_possible_truncation)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(300);
    let root_len = mib << 20;
    let root_size = (root_len as u64 + (8 << 20)).next_multiple_of(1 << 20);
    let verity_size = (root_len as u64 / 100)
        .max(1 << 20)
        .next_multiple_of(1 << 20)
        + (4 << 20);
    let bed = support::bed_sized(
        "1.0.0",
        |_| vec![support::payload("2.0.0", root_len)],
        support::key(2),
        support::now().plus_seconds(86400),
        root_len,
        root_size,
        verity_size,
        false,
    );
    let v2 = support::payload("2.0.0", root_len);
    std::fs::write(bed.path("raw-root"), &v2.files["root.erofs"]).unwrap();
    std::fs::write(bed.path("raw-verity"), &v2.files["root.verity"]).unwrap();
    let img = std::fs::read(bed.path("disk.img")).unwrap();
    let t = gpt::Gpt::read_image(&img).unwrap().gpt;
    let off = |n: &str| t.partitions.iter().find(|p| p.name == n).unwrap().offset();
    let mut o = std::io::stdout();
    writeln!(o, "DIR={}", bed.dir.path().display()).unwrap();
    writeln!(o, "ROOT_B={}", off("root-b")).unwrap();
    writeln!(o, "VERITY_B={}", off("verity-b")).unwrap();
    writeln!(o, "READY").unwrap();
    o.flush().unwrap();
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}
