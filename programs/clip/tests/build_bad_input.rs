//! `clip build` refuses bad input before any download or root-tree work: a
//! clear message naming the problem, exit 1, no panic, and no disk.img or
//! manifest.json left in the output directory.

#[path = "support/run.rs"]
mod run;
#[path = "support/said_once.rs"]
mod said_once;

use std::path::Path;

use run::{Run, clip};
use said_once::said_once;

fn product() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../products/clipos")
}

fn build(product: &Path, out: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<std::ffi::OsString> = vec![
        "build".into(),
        product.into(),
        "--out".into(),
        out.into(),
        "--offline".into(),
    ];
    args.extend(extra.iter().map(Into::into));
    clip(&args)
}

fn assert_nothing_built(out: &Path) {
    for f in ["disk.img", "manifest.json"] {
        assert!(!out.join(f).exists(), "{f} was left in {}", out.display());
    }
}

/// The product file is named, and the reason it cannot be read is given
/// once (the product error includes it; it is not also its `source()`).
#[test]
fn missing_product_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let product = dir.path().join("no-such-product");
    let run = build(&product, &out, &[]);
    run.expect(1).stderr_has(&format!(
        "error: cannot load the product in {}: cannot read {}: No such file or directory (os error 2)\n",
        product.display(),
        product.join("product.toml").display()
    ));
    said_once(&run.stderr);
    assert_nothing_built(&out);
}

/// The shipped product with `edit` applied, in a temporary directory.
fn edited_product(dir: &Path, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    let text = std::fs::read_to_string(product().join("product.toml")).unwrap();
    let edited = edit(text.clone());
    assert_ne!(edited, text, "the edit changed nothing");
    let p = dir.join("product");
    std::fs::create_dir(&p).unwrap();
    std::fs::write(p.join("product.toml"), edited).unwrap();
    // The kernel fragments the product names.
    let fragments = product().join("kernel");
    std::fs::create_dir(p.join("kernel")).unwrap();
    for e in std::fs::read_dir(&fragments).unwrap().map(Result::unwrap) {
        std::fs::copy(e.path(), p.join("kernel").join(e.file_name())).unwrap();
    }
    p
}

#[test]
fn product_weakening_the_system_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let shell = edited_product(dir.path(), |t| {
        t.replace("\"panic=10\",", "\"panic=10\", \"systemd.debug_shell\",")
    });
    build(&shell, &out, &[])
        .expect(1)
        .stderr_has("\"systemd.debug_shell\" is refused: it starts a root shell that asks no password (check \"debug_shell\"");
    assert_nothing_built(&out);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let end = edited_product(dir.path(), |t| t.replace("\"panic=10\",", "\"--\","));
    build(&end, &out, &[])
        .expect(1)
        .stderr_has("\"--\" ends the kernel's parameters");
    assert_nothing_built(&out);

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let suid = edited_product(dir.path(), |t| {
        t.replacen("mode = \"0755\"", "mode = \"4755\"", 1)
    });
    build(&suid, &out, &[])
        .expect(1)
        .stderr_has("state.paths[1].mode: \"4755\" has the setuid bit set");
    assert_nothing_built(&out);
}

#[test]
fn missing_clip_init_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let programs = dir.path().join("programs");
    std::fs::create_dir(&programs).unwrap();
    let out = dir.path().join("out");
    build(
        &product(),
        &out,
        &["--programs", programs.to_str().unwrap()],
    )
    .expect(1)
    .stderr_has("clip-init is missing");
    assert_nothing_built(&out);
}

#[test]
fn dynamically_linked_clip_init_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let programs = dir.path().join("programs");
    std::fs::create_dir(&programs).unwrap();
    // Any dynamically linked executable: the initramfs has no loader for it.
    std::fs::copy("/bin/true", programs.join("clip-init")).unwrap();
    std::fs::copy("/bin/true", programs.join("clip-status")).unwrap();
    let out = dir.path().join("out");
    build(
        &product(),
        &out,
        &["--programs", programs.to_str().unwrap()],
    )
    .expect(1)
    .stderr_has("dynamically linked");
    assert_nothing_built(&out);

    std::fs::write(programs.join("clip-init"), b"#!/bin/sh\n").unwrap();
    build(
        &product(),
        &out,
        &["--programs", programs.to_str().unwrap()],
    )
    .expect(1)
    .stderr_has("not a 64-bit little-endian ELF");
    assert_nothing_built(&out);
}

#[test]
fn keys_directory_without_db_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let programs = dir.path().join("programs");
    std::fs::create_dir(&programs).unwrap();
    // A static ELF is needed to get past the program checks: any will do
    // here, the keys are checked before the root tree.
    let fake = static_elf();
    std::fs::write(programs.join("clip-init"), &fake).unwrap();
    std::fs::write(programs.join("clip-status"), &fake).unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let out = dir.path().join("out");
    build(
        &product(),
        &out,
        &[
            "--programs",
            programs.to_str().unwrap(),
            "--keys",
            keys.to_str().unwrap(),
        ],
    )
    .expect(1)
    .stderr_has("no db.key");
    assert_nothing_built(&out);
}

/// A key set made before the PCR-policy key: refused before any work,
/// naming the command that adds the key; a pcr-policy.pub of another key
/// is refused too.
#[test]
fn keys_without_the_pcr_policy_key_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let programs = dir.path().join("programs");
    std::fs::create_dir(&programs).unwrap();
    let fake = static_elf();
    std::fs::write(programs.join("clip-init"), &fake).unwrap();
    std::fs::write(programs.join("clip-status"), &fake).unwrap();
    let keys = dir.path().join("keys");
    clip(&["keys", "generate", keys.to_str().unwrap()]).assert_success();
    let pcr_pub = std::fs::read(keys.join("pcr-policy.pub")).unwrap();
    for f in ["pcr-policy.key", "pcr-policy.pub"] {
        std::fs::remove_file(keys.join(f)).unwrap();
    }
    let out = dir.path().join("out");
    let args = [
        "--programs",
        programs.to_str().unwrap(),
        "--keys",
        keys.to_str().unwrap(),
    ];
    let run = build(&product(), &out, &args);
    run.expect(1).stderr_has(&format!(
        "the key set in {k} has no PCR-policy key (pcr-policy.key), which signs the UKI's PCR 11 \
         policy (docs/tpm-policy.md); add it, keeping every other key: clip keys generate {k} --add-missing",
        k = keys.display()
    ));
    said_once(&run.stderr);
    assert_nothing_built(&out);

    // The suggested command; then a public key of another pair is refused.
    clip(&["keys", "generate", keys.to_str().unwrap(), "--add-missing"]).assert_success();
    std::fs::write(keys.join("pcr-policy.pub"), &pcr_pub).unwrap();
    let run = build(&product(), &out, &args);
    run.expect(1)
        .stderr_has(&format!(
            "cannot use the PCR-policy key in {k}: {k}/pcr-policy.pub is not the public key of {k}/pcr-policy.key",
            k = keys.display()
        ));
    said_once(&run.stderr);
    assert_nothing_built(&out);
}

/// OUT/keys is the build's own set: one an earlier build made before the
/// PCR-policy key existed gets the key added (with a warning), every other
/// file unchanged. (The build then stops: --offline with an empty cache.)
#[test]
fn build_adds_the_pcr_policy_key_to_its_own_key_set() {
    let dir = tempfile::tempdir().unwrap();
    let programs = dir.path().join("programs");
    std::fs::create_dir(&programs).unwrap();
    let fake = static_elf();
    std::fs::write(programs.join("clip-init"), &fake).unwrap();
    std::fs::write(programs.join("clip-status"), &fake).unwrap();
    let out = dir.path().join("out");
    let keys = out.join("keys");
    std::fs::create_dir(&out).unwrap();
    clip(&["keys", "generate", keys.to_str().unwrap()]).assert_success();
    for f in ["pcr-policy.key", "pcr-policy.pub"] {
        std::fs::remove_file(keys.join(f)).unwrap();
    }
    let snapshot = |d: &Path| {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let before = snapshot(&keys);
    let cache = dir.path().join("empty-cache");
    let run = build(
        &product(),
        &out,
        &[
            "--programs",
            programs.to_str().unwrap(),
            "--cache",
            cache.to_str().unwrap(),
        ],
    );
    run.expect(1).stderr_has(&format!(
        "added the keys its set lacked (PCR-policy key, online update key, update-root.json) \
         to {}; every other key is kept",
        keys.display()
    ));
    assert_nothing_built(&out);
    let after = snapshot(&keys);
    for (name, bytes) in &before {
        if name != "keys.json" {
            let now = &after.iter().find(|(n, _)| n == name).unwrap().1;
            assert_eq!(bytes, now, "{name} changed");
        }
    }
    let names: Vec<&str> = after.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"pcr-policy.key") && names.contains(&"pcr-policy.pub"),
        "{names:?}"
    );
    clip(&["keys", "show", keys.to_str().unwrap()]).assert_success();
}

/// A minimal 64-bit ELF header with no program headers (so no PT_INTERP).
fn static_elf() -> Vec<u8> {
    let mut e = vec![0u8; 64];
    e[..4].copy_from_slice(b"\x7fELF");
    e[4] = 2; // 64-bit
    e[5] = 1; // little-endian
    e
}
