//! `clip boot` refuses bad input before starting QEMU: a clear message
//! naming the problem, exit code 1 (2 for a malformed command line), no
//! panic, no QEMU or swtpm left behind.

#[path = "support/run.rs"]
mod run;
#[path = "support/said_once.rs"]
mod said_once;

use std::path::{Path, PathBuf};

use run::{Run, clip};
use said_once::said_once;

/// A 4 MiB raw disk with a valid GPT and one (empty) ESP partition.
fn gpt_disk(dir: &Path) -> PathBuf {
    let size = 4 << 20;
    let table = gpt::DiskLayout::new(size, gpt::Uuid::from_u128(1))
        .partition(gpt::PartitionSpec {
            type_guid: gpt::types::ESP,
            unique_guid: gpt::Uuid::from_u128(2),
            name: "esp".into(),
            size: gpt::Size::Rest,
            attributes: gpt::Attributes::default(),
        })
        .build()
        .unwrap();
    let mut image = vec![0u8; usize::try_from(size).unwrap()];
    for r in table.regions().unwrap() {
        let at = usize::try_from(r.offset).unwrap();
        image[at..at + r.bytes.len()].copy_from_slice(&r.bytes);
    }
    let path = dir.join("disk.img");
    std::fs::write(&path, image).unwrap();
    path
}

/// A directory with the file names of `clip keys generate` (contents are
/// not looked at before the names are checked).
fn fake_keys(dir: &Path, without: Option<&str>) -> PathBuf {
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    for name in ["owner.guid", "PK.crt", "KEK.crt", "db.crt", "db.auth"] {
        if Some(name) != without {
            std::fs::write(keys.join(name), "x").unwrap();
        }
    }
    keys
}

fn boot(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Run {
    let mut v: Vec<std::ffi::OsString> = vec!["boot".into()];
    v.extend(args.iter().map(|a| a.as_ref().to_owned()));
    clip(&v)
}

fn fails(run: &Run, code: i32, phrases: &[&str]) {
    run.expect(code);
    for p in phrases {
        run.stderr_has(p);
    }
    said_once(&run.stderr);
}

#[test]
fn missing_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("nope.img");
    fails(
        &boot(&[&image]),
        1,
        &["cannot open disk image", &image.display().to_string()],
    );
    assert!(!dir.path().join("serial.log").exists());
}

#[test]
fn image_is_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    fails(&boot(&[&dir.path()]), 1, &["is not a regular file"]);
}

#[test]
fn image_without_gpt() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("zeros.img");
    std::fs::write(&image, vec![0u8; 1 << 20]).unwrap();
    fails(&boot(&[&image]), 1, &["is not a GPT disk image"]);
}

#[test]
fn timeout_zero_and_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let image = gpt_disk(dir.path());
    for t in ["0", "86401"] {
        fails(
            &boot(&[&image, &"--timeout", &t]),
            1,
            &[&format!("--timeout {t} is out of range")],
        );
    }
    fails(&boot(&[&image, &"--timeout", &"-5"]), 2, &["-5"]);
}

#[test]
fn update_server_other_than_loopback_http() {
    let dir = tempfile::tempdir().unwrap();
    let image = gpt_disk(dir.path());
    for (url, why) in [
        (
            "https://127.0.0.1:8443/",
            "not a plain http URL on 127.0.0.1 with a port",
        ),
        (
            "http://192.0.2.1:80/",
            "not a plain http URL on 127.0.0.1 with a port",
        ),
        (
            "http://127.0.0.1:99999/",
            "\"99999\" is not a TCP port (1 to 65535)",
        ),
    ] {
        fails(
            &boot(&[&image, &"--update-server", &url]),
            1,
            &[
                &format!("--update-server {url:?}: {why}"),
                "only http://127.0.0.1:PORT[/PATH] is accepted",
            ],
        );
    }
    assert!(!dir.path().join("serial.log").exists());
}

#[test]
fn max_boots_out_of_range_or_with_no_reboot() {
    let dir = tempfile::tempdir().unwrap();
    let image = gpt_disk(dir.path());
    for n in ["0", "101"] {
        fails(
            &boot(&[&image, &"--max-boots", &n]),
            1,
            &[&format!("--max-boots {n} is out of range: give 1 to 100")],
        );
    }
    fails(
        &boot(&[&image, &"--no-reboot", &"--max-boots", &"3"]),
        2,
        &["'--no-reboot' cannot be used with '--max-boots <N>'"],
    );
    assert!(!dir.path().join("serial.log").exists());
}

#[test]
fn secure_boot_without_a_complete_key_directory() {
    let dir = tempfile::tempdir().unwrap();
    let image = gpt_disk(dir.path());
    // Default: `keys` beside the image, absent here.
    fails(
        &boot(&[&image, &"--secure-boot"]),
        1,
        &[
            "does not exist",
            &dir.path().join("keys").display().to_string(),
        ],
    );
    for missing in ["PK.crt", "db.crt", "KEK.crt", "owner.guid"] {
        let d = tempfile::tempdir().unwrap();
        let keys = fake_keys(d.path(), Some(missing));
        fails(
            &boot(&[&image, &"--secure-boot", &"--keys", &keys]),
            1,
            &[&format!("has no {missing}")],
        );
    }
    // All names present but not certificates: enrollment refuses them.
    let d = tempfile::tempdir().unwrap();
    let keys = fake_keys(d.path(), None);
    fails(
        &boot(&[&image, &"--secure-boot", &"--keys", &keys]),
        1,
        &["cannot enroll"],
    );
}

#[test]
fn keys_without_secure_boot() {
    let dir = tempfile::tempdir().unwrap();
    let image = gpt_disk(dir.path());
    let keys = fake_keys(dir.path(), None);
    fails(
        &boot(&[&image, &"--keys", &keys]),
        1,
        &["--keys is only used with --secure-boot"],
    );
}

#[test]
fn empty_texts_and_too_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let image = gpt_disk(dir.path());
    fails(&boot(&[&image, &"--expect", &""]), 1, &["non-empty text"]);
    fails(&boot(&[&image, &"--refuse", &""]), 1, &["non-empty text"]);
    fails(
        &boot(&[&image, &"--answer", &"", &"x"]),
        1,
        &["error: --answer needs a non-empty PROMPT"],
    );
    // PROMPT without REPLY: clap's usage error.
    fails(
        &boot(&[&image, &"--answer", &"Key:"]),
        2,
        &["<PROMPT> <REPLY>"],
    );
    fails(&boot(&[&image, &"--memory", &"64"]), 1, &["too little"]);
}

#[test]
fn missing_programs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let image = gpt_disk(dir.path());
    let mut cmd = std::process::Command::new(run::clip_path());
    cmd.arg("boot")
        .arg(&image)
        .env("CLIP_QEMU", dir.path().join("no-qemu"));
    fails(&run::run_command(cmd), 1, &["no-qemu", "not found"]);

    let mut cmd = std::process::Command::new(run::clip_path());
    cmd.arg("boot")
        .arg(&image)
        .arg("--tpm")
        .env("CLIP_SWTPM", dir.path().join("no-swtpm"));
    fails(&run::run_command(cmd), 1, &["no-swtpm", "swtpm"]);
}

/// swtpm that cannot be started, or a TPM state directory that cannot be
/// made: the reason is given once (the qemu crate's error includes it; it
/// is not also its `source()`).
#[test]
fn tpm_failures_give_their_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let image = gpt_disk(dir.path());
    // A file that is not executable: found, but cannot be run.
    let swtpm = dir.path().join("swtpm");
    std::fs::write(&swtpm, "not a program").unwrap();
    let state = dir.path().join("tpm");
    let tpm_boot = || {
        let mut cmd = std::process::Command::new(run::clip_path());
        cmd.arg("boot")
            .arg(&image)
            .arg("--tpm")
            .env("CLIP_SWTPM", &swtpm);
        run::run_command(cmd)
    };

    // The state directory's path is taken by a file.
    std::fs::write(&state, "").unwrap();
    fails(
        &tpm_boot(),
        1,
        &[&format!(
            "error: cannot start the TPM (state in {0}): cannot create {0}: File exists (os error 17)\n",
            state.display()
        )],
    );

    std::fs::remove_file(&state).unwrap();
    fails(
        &tpm_boot(),
        1,
        &[&format!(
            "error: cannot start the TPM (state in {}): cannot start {}: Permission denied (os error 13)\n",
            state.display(),
            swtpm.display()
        )],
    );
}
