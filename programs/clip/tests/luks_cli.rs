//! `clip luks` against cryptsetup 2.6 on plain files: what `format` and
//! `add-key` write opens with cryptsetup, headers cryptsetup writes open
//! with `test-key`, `remove-key` revokes for both tools, and every refusal
//! (an existing LUKS header without --force, the last keyslot, a wrong
//! passphrase with exit 3) names the problem and leaves the file as it was.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Run, clip, clip_path, run_program};
use serde_json::Value;

fn cryptsetup(args: &[&str]) -> Run {
    let path = [
        "/usr/sbin/cryptsetup",
        "/sbin/cryptsetup",
        "/usr/bin/cryptsetup",
    ]
    .iter()
    .map(Path::new)
    .find(|p| p.is_file())
    .expect("cryptsetup not found: ./dev installs cryptsetup-bin");
    run_program(path, args)
}

/// clip with `input` on stdin.
fn clip_stdin(args: &[&str], input: &[u8]) -> Run {
    let mut child = Command::new(clip_path())
        .args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("clip starts");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    Run {
        what: format!("clip {}", args.join(" ")),
        code: out.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }

    fn key(&self, name: &str, pass: &[u8]) -> String {
        std::fs::write(self.path(name), pass).unwrap();
        self.s(name)
    }

    /// clip luks format with a fast PBKDF2 keyslot; the JSON report.
    fn format(&self, image: &str, key: &str, extra: &[&str]) -> Value {
        let mut args = vec![
            "luks",
            "format",
            image,
            "--key-file",
            key,
            "--pbkdf",
            "pbkdf2",
            "--pbkdf-iterations",
            "1000",
            "--json",
        ];
        args.extend_from_slice(extra);
        let run = clip(&args);
        run.assert_success();
        run.json()
    }

    fn cryptsetup_opens(&self, image: &str, key: &str) -> i32 {
        cryptsetup(&["open", "--test-passphrase", "--key-file", key, image]).code
    }
}

const MIB20: &str = "20971520";

#[test]
fn format_and_keys_interoperate_with_cryptsetup() {
    let d = Dir::new();
    let img = d.s("disk.img");
    let a = d.key("a", b"passphrase A");
    let b = d.key("b", b"passphrase B");
    let report = d.format(&img, &a, &["--size", MIB20, "--label", "state"]);
    assert_eq!(report["keyslot"], 0);
    assert_eq!(report["data_offset"], 16 << 20);
    assert_eq!(report["data_size"], 4 << 20);
    assert_eq!(report["cipher"], "aes-xts-plain64");
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 20 << 20);
    let dump = cryptsetup(&["luksDump", &img]);
    dump.assert_success();
    assert!(
        dump.stdout.contains("Label:         \tstate\n"),
        "{}",
        dump.stdout
    );
    assert_eq!(d.cryptsetup_opens(&img, &a), 0);
    assert_eq!(d.cryptsetup_opens(&img, &b), 2);

    // add-key with both passphrases on stdin, Argon2id.
    let run = clip_stdin(
        &[
            "luks",
            "add-key",
            &img,
            "--pbkdf",
            "argon2id",
            "--pbkdf-time",
            "1",
            "--pbkdf-memory",
            "8192",
            "--pbkdf-parallel",
            "2",
            "--json",
        ],
        b"passphrase A\npassphrase B\n",
    );
    run.assert_success();
    assert_eq!(run.json()["keyslot"], 1);
    assert_eq!(run.json()["opened_with"], 0);
    assert_eq!(d.cryptsetup_opens(&img, &b), 0);

    // test-key names the keyslot; a wrong passphrase is exit 3.
    let run = clip(&["luks", "test-key", &img, "--key-file", &b]);
    run.assert_success();
    assert!(run.stdout.contains("Keyslot: 1\n"), "{}", run.stdout);
    let wrong = d.key("w", b"passphrase C");
    let run = clip(&["luks", "test-key", &img, "--key-file", &wrong, "--json"]);
    run.expect(3)
        .stderr_has("opens with this passphrase (tried 0 1)");
    assert_eq!(
        run.json(),
        serde_json::json!({"opened": false, "tried": [0, 1]})
    );
    let run = clip(&[
        "luks",
        "test-key",
        &img,
        "--key-file",
        &b,
        "--key-slot",
        "0",
    ]);
    run.expect(3).stderr_has("(tried 0)");

    // remove-key by passphrase: A is gone for both tools, B still opens.
    let run = clip(&["luks", "remove-key", &img, "--key-file", &a, "--json"]);
    run.assert_success();
    assert_eq!(run.json()["removed_keyslot"], 0);
    assert_eq!(d.cryptsetup_opens(&img, &a), 2);
    assert_eq!(d.cryptsetup_opens(&img, &b), 0);

    // The last keyslot needs --force.
    let before = std::fs::read(&img).unwrap();
    let run = clip(&["luks", "remove-key", &img, "--key-slot", "1"]);
    run.expect(1)
        .stderr_has("keyslot 1 is the last one that opens");
    assert!(
        std::fs::read(&img).unwrap() == before,
        "a refused remove-key changed the file"
    );
    clip(&["luks", "remove-key", &img, "--key-slot", "1", "--force"]).assert_success();
    let run = cryptsetup(&["open", "--test-passphrase", "--key-file", &b, &img]);
    run.expect(1).stderr_has("No usable keyslot is available.");
}

#[test]
fn format_refuses_an_existing_luks_header_without_force() {
    let d = Dir::new();
    let img = d.s("disk.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(20 << 20)
        .unwrap();
    let old = d.key("old", b"old passphrase");
    cryptsetup(&[
        "luksFormat",
        "--type",
        "luks2",
        "--batch-mode",
        "--pbkdf",
        "pbkdf2",
        "--pbkdf-force-iterations",
        "1000",
        "--key-file",
        &old,
        &img,
    ])
    .assert_success();
    let before = std::fs::read(&img).unwrap();
    let new = d.key("new", b"new passphrase");
    let run = clip(&[
        "luks",
        "format",
        &img,
        "--key-file",
        &new,
        "--pbkdf-minimal",
    ]);
    run.expect(1).stderr_has(&format!(
        "error: {img} already holds a LUKS header (magic at offset 0); formatting would destroy its keyslots and so the data: use --force"
    ));
    assert!(
        std::fs::read(&img).unwrap() == before,
        "a refused format changed the file"
    );

    // Only the secondary copy left: still refused.
    let mut bytes = before.clone();
    bytes[..6].fill(0);
    std::fs::write(&img, &bytes).unwrap();
    clip(&[
        "luks",
        "format",
        &img,
        "--key-file",
        &new,
        "--pbkdf-minimal",
    ])
    .expect(1)
    .stderr_has("already holds a LUKS header (magic at offset 16384)");

    std::fs::write(&img, &before).unwrap();
    // clip reads cryptsetup's header.
    clip(&["luks", "test-key", &img, "--key-file", &old]).assert_success();
    d.format(&img, &new, &["--force"]);
    assert_eq!(d.cryptsetup_opens(&img, &old), 2);
    assert_eq!(d.cryptsetup_opens(&img, &new), 0);
    assert_eq!(std::fs::metadata(&img).unwrap().len(), 20 << 20);
}

#[test]
fn format_refusals_and_integrity() {
    let d = Dir::new();
    let key = d.key("k", b"some passphrase");
    let missing = d.s("missing.img");
    clip(&["luks", "format", &missing, "--key-file", &key])
        .expect(1)
        .stderr_has("does not exist: give --size to create it");
    assert!(!d.path("missing.img").exists());
    clip(&[
        "luks",
        "format",
        &missing,
        "--key-file",
        &key,
        "--size",
        "1048576",
    ])
    .expect(1)
    .stderr_has("no room for data after the header");
    clip(&[
        "luks",
        "format",
        &missing,
        "--key-file",
        &key,
        "--size",
        MIB20,
        "--integrity",
        "crc32",
    ])
    .expect(1)
    .stderr_has("--integrity \"crc32\": expected");
    let empty = d.key("empty", b"");
    clip(&[
        "luks",
        "format",
        &missing,
        "--key-file",
        &empty,
        "--size",
        MIB20,
    ])
    .expect(1)
    .stderr_has("is empty");
    assert!(!d.path("missing.img").exists());

    // Existing contents (here a fake ext4 magic at 1080) need --force too.
    let full = d.s("full.img");
    let mut bytes = vec![0u8; 20 << 20];
    bytes[1080..1082].copy_from_slice(&[0x53, 0xef]);
    std::fs::write(&full, &bytes).unwrap();
    clip(&["luks", "format", &full, "--key-file", &key, "--pbkdf-minimal"])
        .expect(1)
        .stderr_has("is not empty (non-zero byte at offset 1080): formatting would destroy its contents; use --force");
    assert!(
        std::fs::read(&full).unwrap() == bytes,
        "a refused format changed the file"
    );
    d.format(&full, &key, &["--force"]);
    assert_eq!(d.cryptsetup_opens(&full, &key), 0);

    let img = d.s("int.img");
    let report = d.format(&img, &key, &["--size", MIB20, "--integrity", "hmac-sha256"]);
    assert_eq!(report["integrity"], "hmac(sha256)");
    assert_eq!(report["key_size"], 96);
    let dump = cryptsetup(&["luksDump", &img]);
    dump.assert_success();
    assert!(
        dump.stdout.contains("\tintegrity: hmac(sha256)\n"),
        "{}",
        dump.stdout
    );
    assert_eq!(d.cryptsetup_opens(&img, &key), 0);
}

#[test]
fn dump_shows_both_copies_and_the_metadata() {
    let d = Dir::new();
    let img = d.s("disk.img");
    let key = d.key("k", b"dump passphrase");
    d.format(&img, &key, &["--size", MIB20]);
    let run = clip(&["luks", "dump", &img, "--json"]);
    run.assert_success();
    let ours = run.json();
    let theirs: Value =
        serde_json::from_str(&cryptsetup(&["luksDump", "--dump-json-metadata", &img]).stdout)
            .unwrap();
    assert_eq!(ours["metadata"], theirs);
    assert_eq!(
        ours["copies"]["secondary"],
        serde_json::json!({"state": "valid", "seqid": 2})
    );

    let mut bytes = std::fs::read(&img).unwrap();
    bytes[30] ^= 0xff;
    std::fs::write(&img, &bytes).unwrap();
    let run = clip(&["luks", "dump", &img]);
    run.assert_success();
    assert!(
        run.stdout.contains(
            "Primary copy:   damaged: LUKS2 primary header checksum (sha256) at offset 448 does not match the header and JSON area\n"
        ),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "Keyslot 0:      luks2, key 512 bits, priority normal, pbkdf2-sha256, 1000 iterations"
        ),
        "{}",
        run.stdout
    );
    bytes[16384 + 30] ^= 0xff;
    std::fs::write(&img, &bytes).unwrap();
    clip(&["luks", "dump", &img]).expect(1).stderr_has(
        "no valid LUKS2 header: primary: LUKS2 primary header checksum (sha256) at offset 448",
    );
}
