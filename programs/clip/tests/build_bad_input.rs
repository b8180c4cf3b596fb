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

/// The kernel policy (issue 10): a fragment setting that Kconfig drops
/// (SCSI_VIRTIO needs SCSI, which trim.config turns off) fails the build
/// after `make olddefconfig`, before anything is compiled, naming the
/// setting, its fragment line and its reason. Downloads the kernel source
/// into the cache when it is not there yet.
#[test]
fn a_kernel_setting_the_configuration_drops_fails_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let p = edited_product(dir.path(), |t| {
        t.replace(
            "    \"kernel/hardening.config\",  # CLIP OS's and KSPP's settings\n",
            "    \"kernel/hardening.config\",  # CLIP OS's and KSPP's settings\n    \"kernel/extra.config\",\n",
        )
    });
    std::fs::write(
        p.join("kernel/extra.config"),
        "# A setting whose dependency is off.\nCONFIG_SCSI_VIRTIO=y  # virtio-scsi disks\n",
    )
    .unwrap();
    // Not --offline: the source is downloaded if no build did it yet.
    let run = clip(&[
        "build".as_ref(),
        p.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    let shipped: usize = std::fs::read_dir(product().join("kernel"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .map(|t| t.lines().filter(|l| l.starts_with("CONFIG_")).count())
        .sum();
    run.expect(1).stderr_has(&format!(
        "the kernel configuration does not meet the product's policy ({shipped} of {} settings hold):\n\
         CONFIG_SCSI_VIRTIO=y required (kernel/extra.config:2: virtio-scsi disks), the configuration has it off\n",
        shipped + 1
    ));
    assert!(!run.stderr.contains("compiling"), "{}", run.stderr);
    assert_nothing_built(&out);
}

/// The same policy for Debian's prebuilt kernel (`kernel.from =
/// "package"`): its /boot/config-* is checked, and a product that requires
/// no modules cannot ship it. Shares the root tree (Debian's kernel
/// installed) with crates/rootfs's test; builds it when it is not cached.
#[test]
fn debian_kernel_against_a_policy_it_does_not_meet_fails_the_build() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let p = edited_product(dir.path(), |t| {
        let mut kept = String::new();
        let mut skip_list = false;
        for line in t.lines() {
            if skip_list {
                skip_list = !line.starts_with(']');
                continue;
            }
            if line.starts_with("from = ") || line.starts_with("source_version = ") {
                continue;
            }
            if line.starts_with("config = [") {
                kept.push_str("config = [\"kernel/policy.config\"]\n");
                skip_list = true;
                continue;
            }
            kept.push_str(line);
            kept.push('\n');
            if line == "architecture = \"amd64\"" {
                kept.push_str("kernel = \"linux-image-amd64\"\n");
            }
        }
        kept
    });
    std::fs::write(
        p.join("kernel/policy.config"),
        "CONFIG_MODULES=n  # no modules\nCONFIG_DM_VERITY=m  # verity as a module\n",
    )
    .unwrap();
    let run = clip(&[
        "build".as_ref(),
        p.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ]);
    run.expect(1);
    for want in [
        "does not meet the product's kernel policy",
        "the kernel configuration does not meet the product's policy (1 of 2 settings hold):\n\
         CONFIG_MODULES=n required (kernel/policy.config:1: no modules), the configuration has CONFIG_MODULES=y\n",
    ] {
        run.stderr_has(want);
    }
    assert!(
        run.stderr.contains("error: Debian's kernel 6.12."),
        "{}",
        run.stderr
    );
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
