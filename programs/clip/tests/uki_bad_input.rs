//! `clip uki build` / `inspect` on bad input: a clear error naming the
//! problem, exit code 1 (2 for a bad command line), no panic, and no output
//! file (nor temporary file) left behind.

#[path = "support/said_once.rs"]
mod said_once;
mod uki_support;

use std::path::{Path, PathBuf};

use said_once::said_once;
use uki_support::{Inputs, clip, files_in, s};

/// Runs a build of `inputs` with the given overrides into a fresh `out`
/// directory and checks it fails with `phrase`, leaving the directory empty.
fn fails(inputs: &Inputs, replace: &[(&str, &str)], phrase: &str) {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("uki.efi");
    let mut args = inputs.args();
    for (flag, value) in replace {
        match args.iter().position(|a| a == flag) {
            Some(i) => args[i + 1] = (*value).to_owned(),
            None => args.extend([(*flag).to_owned(), (*value).to_owned()]),
        }
    }
    if !args.iter().any(|a| a == "--cmdline") {
        args.extend(["--cmdline".to_owned(), "quiet".to_owned()]);
    }
    args.extend(["--out".to_owned(), s(&out)]);
    let run = clip(&args);
    run.expect(1).stderr_has(phrase);
    said_once(&run.stderr);
    assert_eq!(
        files_in(out_dir.path()),
        Vec::<String>::new(),
        "left behind"
    );
}

fn write(inputs: &Inputs, name: &str, bytes: &[u8]) -> String {
    let p = inputs.path(name);
    std::fs::write(&p, bytes).unwrap();
    s(&p)
}

#[test]
fn kernel_or_stub_not_a_pe() {
    let inputs = Inputs::new(&[100]);
    let text = write(&inputs, "not-pe", b"this is not a PE image\n");
    fails(
        &inputs,
        &[("--linux", &text)],
        "the kernel is not a usable PE image",
    );
    fails(
        &inputs,
        &[("--stub", &text)],
        "the stub is not a usable PE image",
    );
    let empty = write(&inputs, "empty", b"");
    fails(&inputs, &[("--linux", &empty)], "MS-DOS signature");
}

fn truncations(path: &Path) -> Vec<(usize, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let pe = pe::PeFile::parse(&bytes).unwrap();
    let table = pe.section_table_offset();
    let last = pe
        .sections()
        .iter()
        .map(|s| s.raw_range().end)
        .max()
        .unwrap();
    [
        1,
        0x3c,
        0x40,
        pe.pe_offset() + 10,
        pe.optional_header_offset() + 30,
        table + 20,
        pe.size_of_headers() - 1,
        last / 2,
        last - 1,
    ]
    .into_iter()
    .map(|at| (at, bytes[..at].to_vec()))
    .collect()
}

#[test]
fn truncated_kernel_and_stub() {
    let inputs = Inputs::new(&[100]);
    for (what, path, phrase) in [
        (
            "linux",
            inputs.linux.clone(),
            "the kernel is not a usable PE image",
        ),
        (
            "stub",
            inputs.stub.clone(),
            "the stub is not a usable PE image",
        ),
    ] {
        for (at, bytes) in truncations(&path) {
            let cut = write(&inputs, &format!("{what}-{at}"), &bytes);
            fails(&inputs, &[(&format!("--{what}"), &cut)], phrase);
        }
    }
}

#[test]
fn truncated_images_do_not_inspect() {
    let inputs = Inputs::new(&[100]);
    for (at, bytes) in truncations(&inputs.stub) {
        let cut = write(&inputs, &format!("stub-{at}"), &bytes);
        clip(&["uki", "inspect", &cut])
            .expect(1)
            .stderr_has("invalid PE image at byte");
        clip(&["uki", "inspect", &cut, "--json"]).expect(1);
    }
}

#[test]
fn text_inputs() {
    let inputs = Inputs::new(&[100]);
    let nul = write(&inputs, "cmdline-nul", b"quiet\0ro");
    fails(
        &inputs,
        &[("--cmdline", &format!("@{nul}"))],
        ".cmdline has a NUL byte at offset 5",
    );
    let latin1 = write(&inputs, "cmdline-latin1", b"quiet caf\xe9");
    fails(
        &inputs,
        &[("--cmdline", &format!("@{latin1}"))],
        ".cmdline is not valid UTF-8 (bad byte at offset 9)",
    );
    let osrel = write(&inputs, "osrel-nul", b"ID=x\n\0");
    fails(
        &inputs,
        &[("--os-release", &osrel)],
        ".osrel has a NUL byte at offset 5",
    );
    fails(&inputs, &[("--uname", "6.1 x")], "is not a kernel release");
    let sbat = write(&inputs, "sbat", b"uki,1,UKI,uki,1,https://example.com/\n");
    fails(
        &inputs,
        &[("--sbat", &sbat)],
        "must start with an \"sbat,\" line",
    );
    let empty = write(&inputs, "empty-initrd", b"");
    fails(&inputs, &[("--initrd", &empty)], "initrd 0 is empty");
}

/// The kernel keeps at most 2047 bytes of command line (x86
/// COMMAND_LINE_SIZE is 2048 with the NUL): one byte more is refused, given
/// directly or in a file; what counts is the line as stored.
#[test]
fn cmdline_longer_than_the_kernel_takes() {
    let inputs = Inputs::new(&[100]);
    let longest = format!("quiet {}", "x".repeat(2041));
    assert_eq!(longest.len(), 2047);
    let over = format!("{longest}y");
    let refusal = ".cmdline is 2048 bytes long; the kernel takes at most 2047 (COMMAND_LINE_SIZE 2048 with the NUL)";
    fails(&inputs, &[("--cmdline", &over)], refusal);
    let file = write(&inputs, "cmdline-2048", over.as_bytes());
    fails(&inputs, &[("--cmdline", &format!("@{file}"))], refusal);

    for (name, cmdline) in [
        ("direct", longest.clone()),
        (
            "file",
            format!("@{}", write(&inputs, "cmdline-2047", longest.as_bytes())),
        ),
        // Whitespace runs collapse before the length is counted.
        ("spaced", format!("  quiet   {}  ", "x".repeat(2041))),
    ] {
        let out = inputs.path(&format!("uki-{name}.efi"));
        let mut args = inputs.args();
        args.extend(["--cmdline", &cmdline, "--out", &s(&out)].map(str::to_owned));
        clip(&args).expect(0);
        let image = std::fs::read(&out).unwrap();
        let report = uki::inspect(&image).unwrap();
        assert_eq!(report.text(".cmdline"), Some(&*longest), "{name}");
    }
}

#[test]
fn missing_files() {
    let inputs = Inputs::new(&[100]);
    let missing = s(&inputs.path("does-not-exist"));
    for flag in ["--stub", "--linux", "--initrd", "--os-release", "--sbat"] {
        fails(&inputs, &[(flag, &missing)], "does-not-exist");
    }
    fails(
        &inputs,
        &[("--cmdline", &format!("@{missing}"))],
        "cannot read command line file",
    );
    clip(&["uki", "inspect", &missing])
        .expect(1)
        .stderr_has("cannot read image");
}

#[test]
fn existing_output_needs_force() {
    let inputs = Inputs::new(&[100]);
    let out: PathBuf = inputs.path("uki.efi");
    std::fs::write(&out, b"precious").unwrap();
    let mut args = inputs.args();
    args.extend(["--cmdline", "quiet", "--out", &s(&out)].map(str::to_owned));
    clip(&args)
        .expect(1)
        .stderr_has("already exists (use --force");
    assert_eq!(std::fs::read(&out).unwrap(), b"precious");
    args.push("--force".to_owned());
    clip(&args).expect(0);
    assert!(pe::PeFile::parse(&std::fs::read(&out).unwrap()).is_ok());
    assert!(
        !files_in(inputs.dir.path())
            .iter()
            .any(|f| f.starts_with(".clip-tmp"))
    );
}

#[test]
fn bad_command_line() {
    let inputs = Inputs::new(&[100]);
    // No --initrd, no --cmdline, unknown flag.
    let mut args = inputs.args();
    let i = args.iter().position(|a| a == "--initrd").unwrap();
    args.drain(i..i + 2);
    args.extend(["--cmdline", "x", "--out", "/nonexistent/x"].map(str::to_owned));
    clip(&args).expect(2);
    clip(&["uki", "build", "--bogus"]).expect(2);
    clip(&["uki", "inspect"]).expect(2);
}

/// Each cause is printed once: "the stub is not a usable PE image: invalid
/// PE image at byte 0x0: …", not followed by the same cause again.
#[test]
fn causes_are_printed_once() {
    let inputs = Inputs::new(&[100]);
    let text = write(&inputs, "not-pe", b"this is not a PE image\n");
    let cause = "invalid PE image at byte 0x0: no \"MZ\" MS-DOS signature";
    let out = s(&inputs.path("uki.efi"));
    let mut build = inputs.args();
    let i = build.iter().position(|a| a == "--stub").unwrap();
    build[i + 1] = text.clone();
    build.extend(["--cmdline", "quiet", "--out", &out].map(str::to_owned));
    let inspect = ["uki", "inspect", &text].map(str::to_owned).to_vec();
    for (args, context) in [
        (
            build,
            "error: cannot build the UKI: the stub is not a usable PE image: ",
        ),
        (inspect, "error: cannot inspect "),
    ] {
        let run = clip(&args);
        run.expect(1).stderr_has(context).stderr_has(cause);
        assert_eq!(run.stderr.matches(cause).count(), 1, "{}", run.stderr);
        said_once(&run.stderr);
    }

    // Assembling: SBAT data too large for the stub's .sbat section (its
    // raw size, read from the stub).
    let room = {
        let stub = std::fs::read(&inputs.stub).unwrap();
        let pe = pe::PeFile::parse(&stub).unwrap();
        pe.section(".sbat").unwrap().raw_range().len()
    };
    let line = "clip,1,CLIP OS,clip,1,https://example.org\n";
    let sbat = format!("sbat,1,x\n{}", line.repeat(room / line.len() + 1));
    let sbat = write(&inputs, "big.sbat", sbat.as_bytes());
    fails(
        &inputs,
        &[("--sbat", &sbat)],
        "error: cannot build the UKI: cannot add the sections to the stub: new .sbat contents of",
    );
}

/// An openssl RSA key: (private, public) PEM paths in `inputs`' directory.
fn openssl_key(inputs: &Inputs, tag: &str, bits: &str) -> (String, String) {
    let key = inputs.path(&format!("{tag}.key"));
    let public = inputs.path(&format!("{tag}.pub"));
    uki_support::run(
        std::process::Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt"])
            .arg(format!("rsa_keygen_bits:{bits}"))
            .arg("-out")
            .arg(&key),
    );
    uki_support::run(
        std::process::Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&public),
    );
    (s(&key), s(&public))
}

/// PCR-policy keys a TPM could not use, or halves of different keys, are
/// refused before anything is written; --phase needs a key to sign with.
#[test]
fn unusable_pcr_policy_keys() {
    let inputs = Inputs::new(&[100]);
    let (key, public) = openssl_key(&inputs, "a", "2048");
    let (_, other) = openssl_key(&inputs, "b", "2048");
    let (big, big_public) = openssl_key(&inputs, "c", "3072");
    fails(
        &inputs,
        &[("--pcr-private-key", &key), ("--pcr-public-key", &other)],
        &format!("error: {other} is not the public key of {key}"),
    );
    fails(
        &inputs,
        &[("--pcr-private-key", &big)],
        &format!(
            "error: cannot use PCR-policy key {big}: the PCR-policy key is RSA-3072; it must be RSA-2048"
        ),
    );
    fails(
        &inputs,
        &[("--pcr-public-key", &big_public)],
        "the PCR-policy key is RSA-3072",
    );
    let pkcs1 = inputs.path("pkcs1.pub");
    uki_support::run(
        std::process::Command::new("openssl")
            .args(["rsa", "-pubin", "-in", &public, "-RSAPublicKey_out", "-out"])
            .arg(&pkcs1),
    );
    fails(
        &inputs,
        &[
            ("--pcr-private-key", &key),
            ("--pcr-public-key", &s(&pkcs1)),
        ],
        "is a PKCS#1 RSAPublicKey, not a SubjectPublicKeyInfo; convert it: openssl rsa -RSAPublicKey_in",
    );
    fails(
        &inputs,
        &[("--pcr-private-key", &public)],
        &format!("cannot use PCR-policy private key {public}: no private key among the PEM blocks"),
    );
    let mut args = inputs.args();
    args.extend(["--cmdline", "x", "--phase", "enter-initrd", "--out"].map(str::to_owned));
    args.push(s(&inputs.path("x.efi")));
    clip(&args).expect(2).stderr_has("--pcr-private-key <FILE>");
}

/// --pcr-public-key alone embeds .pcrpkey (the file, verbatim) and signs
/// nothing, as ukify does.
#[test]
fn pcr_public_key_alone_embeds_pcrpkey_only() {
    let inputs = Inputs::new(&[100]);
    let (_, public) = openssl_key(&inputs, "a", "2048");
    let out = inputs.path("uki.efi");
    let mut args = inputs.args();
    args.extend(
        [
            "--cmdline",
            "quiet",
            "--pcr-public-key",
            &public,
            "--json",
            "--out",
        ]
        .map(str::to_owned),
    );
    args.push(s(&out));
    let report = clip(&args).expect(0).json();
    assert!(report["pcr_signatures"].is_null(), "{report}");
    assert_eq!(report["pcr11_after_stub"].as_str().unwrap().len(), 64);
    let bytes = std::fs::read(&out).unwrap();
    let pe = pe::PeFile::parse(&bytes).unwrap();
    assert_eq!(
        pe.section_contents(pe.section(".pcrpkey").unwrap()),
        &std::fs::read(&public).unwrap()[..]
    );
    assert!(pe.section(".pcrsig").is_none());
}
