//! GNU cpio (the reference reader) lists and unpacks what the writer makes.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::process::Command;

fn pattern(i: usize) -> u8 {
    u8::try_from(i % 251).unwrap()
}

fn sample() -> Vec<u8> {
    let mut w = cpio::Writer::new(1_234_567_890);
    w.dir("dev", 0o755).unwrap();
    w.char_dev("dev/console", 0o600, 5, 1).unwrap();
    w.block_dev("dev/vda", 0o660, 254, 0).unwrap();
    w.dir("bin", 0o755).unwrap();
    w.file("bin/tool", 0o755, b"#!/bin/sh\necho hi\n").unwrap();
    w.file("empty", 0o644, b"").unwrap();
    // A size that is not a multiple of four, and one over a 512-byte block.
    let big: Vec<u8> = (0..5000).map(pattern).collect();
    w.file("bin/big", 0o600, &big).unwrap();
    w.symlink("sbin", "bin").unwrap();
    w.file("init", 0o755, b"x").unwrap();
    w.finish()
}

fn cpio(args: &[&str], dir: &std::path::Path, input: &[u8]) -> String {
    use std::io::Write;
    let mut child = Command::new("cpio")
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("cpio (Debian package cpio) must be installed: it is the oracle");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "cpio {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn gnu_cpio_lists_the_entries_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let list = cpio(&["-t", "--quiet", "-H", "newc"], dir.path(), &sample());
    let names: Vec<&str> = list.lines().collect();
    assert_eq!(
        names,
        [
            "dev",
            "dev/console",
            "dev/vda",
            "bin",
            "bin/tool",
            "empty",
            "bin/big",
            "sbin",
            "init"
        ]
    );
}

#[test]
fn gnu_cpio_unpacks_contents_modes_links_and_nodes() {
    let dir = tempfile::tempdir().unwrap();
    cpio(
        &[
            "-i",
            "--quiet",
            "-H",
            "newc",
            "-d",
            "-m",
            "--no-absolute-filenames",
        ],
        dir.path(),
        &sample(),
    );
    let p = |s: &str| dir.path().join(s);
    assert_eq!(
        std::fs::read(p("bin/tool")).unwrap(),
        b"#!/bin/sh\necho hi\n"
    );
    let big = std::fs::read(p("bin/big")).unwrap();
    assert_eq!(big.len(), 5000);
    assert!(big.iter().enumerate().all(|(i, &b)| b == pattern(i)));
    assert_eq!(std::fs::read(p("empty")).unwrap(), b"");
    let tool = std::fs::metadata(p("bin/tool")).unwrap();
    assert_eq!(tool.permissions().mode() & 0o7777, 0o755);
    assert_eq!(tool.mtime(), 1_234_567_890, "cpio -m keeps our mtime");
    assert_eq!(
        std::fs::metadata(p("bin/big"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o600
    );
    assert_eq!(std::fs::read_link(p("sbin")).unwrap().to_str(), Some("bin"));
    let console = std::fs::symlink_metadata(p("dev/console")).unwrap();
    assert!(console.file_type().is_char_device());
    assert_eq!(console.rdev(), (5 << 8) | 1, "makedev(5, 1)");
    let vda = std::fs::symlink_metadata(p("dev/vda")).unwrap();
    assert!(vda.file_type().is_block_device());
    assert_eq!(vda.rdev(), 254 << 8, "makedev(254, 0)");
}
