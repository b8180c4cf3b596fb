//! Anti-rollback at build time (docs/anti-rollback.md): a signed UKI whose
//! os-release VERSION_ID is a release version without a rollback index is
//! refused with the reason; one with an index builds.

mod uki_support;

use std::process::Command;

use uki_support::{Inputs, clip, run, s};

fn pcr_key(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let key = dir.join("pcr.key");
    let public = dir.join("pcr.pub");
    run(Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key));
    run(Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(&public));
    (key, public)
}

fn build(
    inputs: &Inputs,
    version: &str,
    key: &std::path::Path,
    public: &std::path::Path,
) -> uki_support::Run {
    std::fs::write(
        &inputs.os_release,
        format!("ID=clipos\nNAME=\"CLIP OS\"\nVERSION_ID={version}\n"),
    )
    .unwrap();
    let out = inputs.path(&format!("uki-{version}.efi"));
    let mut args = inputs.args();
    args.extend(
        [
            "--cmdline",
            "quiet",
            "--pcr-private-key",
            &s(key),
            "--pcr-public-key",
            &s(public),
            "--out",
            &s(&out),
        ]
        .map(str::to_owned),
    );
    clip(&args)
}

#[test]
fn a_version_without_a_rollback_index_is_refused() {
    let inputs = Inputs::new(&[300_007]);
    let (key, public) = pcr_key(inputs.dir.path());
    build(&inputs, "2.0.0-test.1", &key, &public).expect(0);
    let run = build(&inputs, "2.0.0-nightly", &key, &public);
    run.expect(1).stderr_has(
        "version 2.0.0-nightly has no rollback index: pre-release \"nightly\" is not one of \
         [\"alpha\", \"beta\", \"dev\", \"pre\", \"rc\", \"test\"]",
    );
    assert!(!inputs.path("uki-2.0.0-nightly.efi").exists());
}
