//! The images pass fsck.fat (dosfstools) and mtools reads the files back:
//! the reference tools agree the file system is valid.

use std::process::Command;

fn sample(big: usize) -> esp::Esp {
    let mut esp = esp::Esp::new();
    esp.add(esp::BOOT_X64, b"MZ not really a PE".to_vec())
        .unwrap();
    esp.add("EFI/Linux/clip-0.1.0+1-abcdef.efi", vec![0x5a; big])
        .unwrap();
    esp.add("loader/loader.conf", b"timeout 0\n".to_vec())
        .unwrap();
    esp
}

fn tool(program: &str, package: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} (Debian package {package}) is the oracle: {e}"))
}

fn check(size: u64, big: usize, fat32: bool, bits: &str) {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("esp.img");
    std::fs::write(&img, sample(big).fat32(fat32).build(size).unwrap()).unwrap();
    let img = img.to_str().unwrap();

    let fsck = tool("fsck.fat", "dosfstools", &["-n", "-v", img]);
    let report = String::from_utf8_lossy(&fsck.stdout);
    assert!(
        fsck.status.success(),
        "fsck.fat -n: {report}{}",
        String::from_utf8_lossy(&fsck.stderr)
    );
    assert!(
        report.contains(&format!("2 FATs, {bits} bit entries")),
        "expected FAT{bits}:\n{report}"
    );

    let out = tool(
        "mcopy",
        "mtools",
        &["-i", img, "-n", "::/EFI/BOOT/BOOTX64.EFI", "-"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"MZ not really a PE");
    let out = tool(
        "mcopy",
        "mtools",
        &["-i", img, "::/EFI/Linux/clip-0.1.0+1-abcdef.efi", "-"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), big);
    assert!(out.stdout.iter().all(|&b| b == 0x5a));
    let dirlist = tool("mdir", "mtools", &["-i", img, "-b", "-/", "::/"]);
    let listing = String::from_utf8_lossy(&dirlist.stdout);
    for path in ["::/EFI/BOOT/BOOTX64.EFI", "::/loader/loader.conf"] {
        assert!(listing.contains(path), "{path} missing from:\n{listing}");
    }
}

#[test]
fn fat12_image_is_valid() {
    check(2 << 20, 1 << 20, false, "12");
}

#[test]
fn fat16_image_is_valid() {
    check(64 << 20, 20 << 20, false, "16");
}

#[test]
fn forced_fat32_images_are_valid() {
    check(esp::MIN_FAT32, 3 << 20, true, "32");
    check(300 << 20, 20 << 20, true, "32");
}
