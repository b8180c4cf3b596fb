//! `clip uki build` and `clip uki inspect` on trixie's systemd-stub and
//! kernel, checked against objdump, osslsigncode and trixie's own ukify.

mod uki_support;

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;
use uki_support::{Inputs, OS_RELEASE, clip, osslsigncode_report, run, s};

const CMDLINE: &str = "root=PARTLABEL=root ro quiet";

/// Builds a UKI from `inputs` (two initrds by default) and returns its path
/// and the build's JSON report.
fn build(inputs: &Inputs, extra: &[&str]) -> (std::path::PathBuf, Value) {
    let out = inputs.path("uki.efi");
    let mut args = inputs.args();
    args.extend(["--cmdline", CMDLINE, "--uname", "6.12.0-test"].map(str::to_owned));
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    args.extend(["--out".to_owned(), s(&out), "--json".to_owned()]);
    let report = clip(&args).expect(0).json();
    (out, report)
}

fn inspect(path: &std::path::Path) -> Value {
    clip(&["uki", "inspect", path.to_str().unwrap(), "--json"])
        .expect(0)
        .json()
}

fn u64_of(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Section name → (size, vma, file offset).
type Layout = BTreeMap<String, (u64, u64, u64)>;

/// `objdump -h`: the section names in order, and their layout.
fn objdump_sections(path: &std::path::Path) -> (Vec<String>, Layout) {
    let out = run(Command::new("objdump").arg("-h").arg(path));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut names = Vec::new();
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // "Idx Name Size VMA LMA File-off Algn"
        if f.len() == 7 && f[0].parse::<u32>().is_ok() {
            let hex = |x: &str| u64::from_str_radix(x, 16).unwrap();
            names.push(f[1].to_owned());
            map.insert(f[1].to_owned(), (hex(f[2]), hex(f[3]), hex(f[5])));
        }
    }
    assert!(!names.is_empty(), "objdump listed no sections:\n{text}");
    (names, map)
}

fn image_base(path: &std::path::Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    pe::PeFile::parse(&bytes).unwrap().image_base()
}

#[test]
fn objdump_agrees_with_inspect() {
    let inputs = Inputs::new(&[100_001, 54_321]);
    let (uki, _) = build(&inputs, &[]);
    let report = inspect(&uki);
    let (names, objdump) = objdump_sections(&uki);
    let sections = report["sections"].as_array().unwrap();
    let ours: Vec<String> = sections
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ours, names);
    let base = image_base(&uki);
    for s in sections {
        let name = s["name"].as_str().unwrap();
        let (size, vma, offset) = objdump[name];
        assert_eq!(size, u64_of(&s["virtual_size"]), "{name} size");
        assert_eq!(vma, base + u64_of(&s["virtual_address"]), "{name} vma");
        assert_eq!(offset, u64_of(&s["file_offset"]), "{name} file offset");
    }
}

#[test]
fn layout_is_aligned_disjoint_and_keeps_the_stub() {
    let inputs = Inputs::new(&[3_000_001]);
    let (uki, _) = build(&inputs, &[]);
    let bytes = std::fs::read(&uki).unwrap();
    let pe = pe::PeFile::parse(&bytes).unwrap();
    let stub_bytes = std::fs::read(&inputs.stub).unwrap();
    let stub = pe::PeFile::parse(&stub_bytes).unwrap();

    let mut by_va = pe.sections().to_vec();
    by_va.sort_by_key(|s| s.virtual_address);
    for w in by_va.windows(2) {
        assert!(
            w[0].virtual_end() <= u64::from(w[1].virtual_address),
            "memory overlap {w:?}"
        );
        assert!(
            w[0].raw_range().end <= w[1].raw_range().start,
            "file overlap {w:?}"
        );
    }
    let n = stub.sections().len();
    for s in &pe.sections()[n..] {
        assert_eq!(s.virtual_address % pe.section_alignment(), 0, "{s:?}");
        assert_eq!(s.pointer_to_raw_data % pe.file_alignment(), 0, "{s:?}");
        assert_eq!(s.size_of_raw_data % pe.file_alignment(), 0, "{s:?}");
    }
    assert_eq!(
        u64::from(pe.size_of_image()),
        by_va
            .last()
            .unwrap()
            .virtual_end()
            .next_multiple_of(u64::from(pe.section_alignment()))
    );
    let names: Vec<&str> = pe.sections()[n..]
        .iter()
        .map(pe::Section::name_str)
        .collect();
    assert_eq!(names, [".osrel", ".cmdline", ".uname", ".linux", ".initrd"]);

    // The stub's sections are unchanged, except .sbat which gains the UKI's entry.
    for (old, new) in stub.sections().iter().zip(pe.sections()) {
        if old.name_str() == ".sbat" {
            let text = std::str::from_utf8(pe.section_contents(new)).unwrap();
            let stub_text = std::str::from_utf8(stub.section_contents(old)).unwrap();
            let stub_text = stub_text.trim_end_matches('\0');
            assert!(text.starts_with(stub_text), "{text:?} vs {stub_text:?}");
            assert!(text.ends_with(
                "uki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/\n\0"
            ));
            assert_eq!(
                (
                    old.virtual_address,
                    old.pointer_to_raw_data,
                    old.size_of_raw_data
                ),
                (
                    new.virtual_address,
                    new.pointer_to_raw_data,
                    new.size_of_raw_data
                )
            );
        } else {
            assert_eq!(old, new);
            assert_eq!(
                stub.section_data(old),
                pe.section_data(new),
                "{}",
                old.name_str()
            );
        }
    }
    // The kernel is stored byte for byte.
    let linux = std::fs::read(&inputs.linux).unwrap();
    assert_eq!(
        pe.section_contents(pe.section(".linux").unwrap()),
        &linux[..]
    );
    assert_eq!(pe.certificate_table(), None);
    let stored = u32::from_le_bytes(bytes[pe.checksum_offset()..][..4].try_into().unwrap());
    assert_eq!(stored, pe::pe_checksum(&bytes, pe.checksum_offset()));
    // Back to back in the file: the signature covers every section byte.
    assert_eq!(pe.raw_data_gaps(), Ok(vec![]));
}

/// A stub with bytes after its sections (systemd 252's carries a COFF
/// symbol table there) leaves them between its sections and the UKI's,
/// where no signature covers them: the build warns, and `clip sign` then
/// needs --allow-gaps.
#[test]
fn stub_trailing_bytes_become_a_gap() {
    let mut inputs = Inputs::new(&[4096]);
    let mut stub = std::fs::read(&inputs.stub).unwrap();
    stub.extend_from_slice(&[0x5a; 100]);
    let (last, sections_end, start) = {
        let pe = pe::PeFile::parse(&stub).unwrap();
        let last = pe
            .sections()
            .iter()
            .max_by_key(|s| s.raw_range().end)
            .unwrap();
        let fa = usize::try_from(pe.file_alignment()).unwrap();
        (
            last.name_str().to_owned(),
            last.raw_range().end,
            stub.len().next_multiple_of(fa),
        )
    };
    let gap = format!(
        "bytes {sections_end:#x}..{start:#x} ({} bytes) between section {last:?} and section \".osrel\" belong to no section",
        start - sections_end
    );
    inputs.stub = inputs.path("stub-with-trailer.efi");
    std::fs::write(&inputs.stub, &stub).unwrap();
    let out = inputs.path("uki.efi");
    let mut args = inputs.args();
    args.extend(["--cmdline", "quiet", "--out", &s(&out)].map(str::to_owned));
    clip(&args)
        .expect(0)
        .stderr_has(&format!("the UKI has {gap} (from the stub)"));

    let (key, cert) = uki_support::throwaway_key(inputs.dir.path());
    let signed = s(&inputs.path("signed.efi"));
    let sign = |extra: &[&str]| {
        let mut a = vec![
            "sign",
            "--key",
            key.to_str().unwrap(),
            "--cert",
            cert.to_str().unwrap(),
        ];
        a.extend([out.to_str().unwrap(), &signed]);
        a.extend(extra);
        clip(&a)
    };
    sign(&[])
        .expect(1)
        .stderr_has(&gap)
        .stderr_has("pass --allow-gaps");
    sign(&["--allow-gaps"]).expect(0).stderr_has(&gap);
}

#[test]
fn inspect_shows_exactly_what_was_given() {
    let inputs = Inputs::new(&[1001, 2002, 7]);
    // Whitespace in a --cmdline argument collapses (as in ukify)...
    let out = inputs.path("a.efi");
    let mut args = inputs.args();
    args.extend(
        [
            "--cmdline",
            "  quiet \t ro  ",
            "--uname",
            "6.12.9-x",
            "--out",
            &s(&out),
        ]
        .map(str::to_owned),
    );
    clip(&args).expect(0);
    let r = inspect(&out);
    assert_eq!(r["cmdline"], "quiet ro");
    assert_eq!(r["osrel"], OS_RELEASE);
    assert_eq!(r["uname"], "6.12.9-x");
    assert!(
        r["sbat"]
            .as_str()
            .unwrap()
            .starts_with("sbat,1,SBAT Version,")
    );

    // ... while @FILE is taken verbatim.
    let cmdline = "console=ttyS0  systemd.log_level=debug\n";
    std::fs::write(inputs.path("cmdline"), cmdline).unwrap();
    let out2 = inputs.path("b.efi");
    let mut args = inputs.args();
    let at = format!("@{}", s(&inputs.path("cmdline")));
    args.extend(["--cmdline", &at, "--uname", "6.12.9-x", "--out", &s(&out2)].map(str::to_owned));
    clip(&args).expect(0);
    assert_eq!(inspect(&out2)["cmdline"], cmdline);

    // The initrds are concatenated, each padded to 4 bytes.
    let bytes = std::fs::read(&out2).unwrap();
    let pe = pe::PeFile::parse(&bytes).unwrap();
    let mut expected = Vec::new();
    for i in &inputs.initrds {
        expected.extend(std::fs::read(i).unwrap());
        expected.resize(expected.len().next_multiple_of(4), 0);
    }
    assert_eq!(
        pe.section_contents(pe.section(".initrd").unwrap()),
        &expected[..]
    );
}

#[test]
fn uname_defaults_to_the_bzimage_release() {
    let inputs = Inputs::new(&[4096]);
    let out = inputs.path("uki.efi");
    let mut args = inputs.args();
    args.extend(["--cmdline", "quiet", "--out", &s(&out), "--json"].map(str::to_owned));
    let report = clip(&args).expect(0).json();
    // Debian names the file vmlinuz-<release>.
    let file = inputs.linux.file_name().unwrap().to_str().unwrap();
    let release = file.strip_prefix("vmlinuz-").unwrap();
    assert_eq!(report["uname"], release);
    assert_eq!(inspect(&out)["uname"], release);
}

#[test]
fn authenticode_digest_matches_osslsigncode() {
    let inputs = Inputs::new(&[12_345]);
    let (uki, report) = build(&inputs, &[]);
    let (key, cert) = uki_support::throwaway_key(inputs.dir.path());
    let signed = inputs.path("signed.efi");
    run(Command::new("osslsigncode")
        .args(["sign", "-h", "sha256", "-certs"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .arg("-in")
        .arg(&uki)
        .arg("-out")
        .arg(&signed));
    let (digest, _) = osslsigncode_report(&signed);
    assert_eq!(report["authenticode_sha256"], digest.expect("no digest"));
    // Our checksum is the one osslsigncode calculates for the unsigned file.
    let (_, checksum) = osslsigncode_report(&uki);
    let bytes = std::fs::read(&uki).unwrap();
    let pe = pe::PeFile::parse(&bytes).unwrap();
    let stored = u32::from_le_bytes(bytes[pe.checksum_offset()..][..4].try_into().unwrap());
    assert_eq!(format!("{stored:08x}"), checksum.expect("no checksum"));
}

/// Trixie's ukify (systemd 257) on the same inputs writes the same bytes,
/// except the CheckSum field, which ukify leaves at 0 and we compute.
#[test]
fn matches_trixie_ukify_byte_for_byte_but_the_checksum() {
    for initrds in [&[777_777usize][..], &[100_003, 5, 64]] {
        let inputs = Inputs::new(initrds);
        let (ours, _) = build(&inputs, &[]);
        let theirs = inputs.path("ukify.efi");
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(uki_support::ukify())
            .arg("build")
            .arg("--stub")
            .arg(&inputs.stub)
            .arg("--linux")
            .arg(&inputs.linux);
        for i in &inputs.initrds {
            cmd.arg("--initrd").arg(i);
        }
        cmd.arg(format!("--cmdline={CMDLINE}"))
            .arg(format!("--os-release=@{}", s(&inputs.os_release)))
            .arg("--uname=6.12.0-test")
            .arg("--output")
            .arg(&theirs);
        run(&mut cmd);
        let a = std::fs::read(&ours).unwrap();
        let b = std::fs::read(&theirs).unwrap();
        assert_eq!(a.len(), b.len(), "sizes differ");
        let checksum_at = pe::PeFile::parse(&a).unwrap().checksum_offset();
        let diff: Vec<usize> = (0..a.len()).filter(|&i| a[i] != b[i]).collect();
        assert!(
            diff.iter()
                .all(|i| (checksum_at..checksum_at + 4).contains(i)),
            "bytes differ outside CheckSum: first at {:#x} (of {})",
            diff.iter()
                .find(|i| !(checksum_at..checksum_at + 4).contains(i))
                .unwrap(),
            diff.len()
        );
        assert_eq!(
            &b[checksum_at..checksum_at + 4],
            &[0; 4],
            "ukify's CheckSum"
        );
        assert_eq!(
            u32::from_le_bytes(a[checksum_at..checksum_at + 4].try_into().unwrap()),
            pe::pe_checksum(&a, checksum_at)
        );
    }
}

/// An RSA-2048 PCR-policy key made by openssl: (private, public) PEM paths.
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

/// With a PCR-policy key, trixie's ukify (which runs trixie's
/// systemd-measure to sign, `--tools`) and `clip uki build` still write the
/// same bytes but the CheckSum: the same `.pcrpkey` (the public key file)
/// before `.linux`, the same measurement and signatures, the same `.pcrsig`
/// JSON (Python's json.dumps) last.
#[test]
fn matches_trixie_ukify_with_a_pcr_signature_byte_for_byte_but_the_checksum() {
    let inputs = Inputs::new(&[300_007]);
    let (key, public) = pcr_key(inputs.dir.path());
    for phases in [
        &["enter-initrd"][..],
        &["enter-initrd:leave-initrd", "enter-initrd"],
    ] {
        let mut extra = vec![
            "--pcr-private-key".to_owned(),
            s(&key),
            "--pcr-public-key".to_owned(),
            s(&public),
        ];
        for p in phases {
            extra.extend(["--phase".to_owned(), (*p).to_owned()]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let _ = std::fs::remove_file(inputs.path("uki.efi"));
        let (ours, report) = build(&inputs, &extra);
        let theirs = inputs.path("ukify-pcr.efi");
        let _ = std::fs::remove_file(&theirs);
        let mut cmd = Command::new("/usr/bin/python3");
        cmd.arg(uki_support::ukify())
            .arg("build")
            .arg("--stub")
            .arg(&inputs.stub)
            .arg("--linux")
            .arg(&inputs.linux);
        for i in &inputs.initrds {
            cmd.arg("--initrd").arg(i);
        }
        cmd.arg(format!("--cmdline={CMDLINE}"))
            .arg(format!("--os-release=@{}", s(&inputs.os_release)))
            .arg("--uname=6.12.0-test")
            .arg(format!("--pcr-private-key={}", s(&key)))
            .arg(format!("--pcr-public-key={}", s(&public)))
            .arg("--pcr-banks=sha256")
            .arg(format!("--phases={}", phases.join(" ")))
            .arg(format!(
                "--tools={}",
                s(uki_support::measure_support::tools_dir())
            ))
            .arg("--output")
            .arg(&theirs);
        run(&mut cmd);
        let a = std::fs::read(&ours).unwrap();
        let b = std::fs::read(&theirs).unwrap();
        assert_eq!(a.len(), b.len(), "sizes differ");
        let checksum_at = pe::PeFile::parse(&a).unwrap().checksum_offset();
        let diff: Vec<usize> = (0..a.len())
            .filter(|&i| a[i] != b[i] && !(checksum_at..checksum_at + 4).contains(&i))
            .collect();
        assert!(
            diff.is_empty(),
            "bytes differ outside CheckSum, first at {:#x}",
            diff[0]
        );

        let pe = pe::PeFile::parse(&a).unwrap();
        let names: Vec<&str> = pe.sections().iter().map(pe::Section::name_str).collect();
        assert_eq!(
            names[names.len() - 7..],
            [
                ".osrel", ".cmdline", ".uname", ".pcrpkey", ".linux", ".initrd", ".pcrsig"
            ]
        );
        assert_eq!(
            pe.section_contents(pe.section(".pcrpkey").unwrap()),
            &std::fs::read(&public).unwrap()[..]
        );
        let pcrsig: Value =
            serde_json::from_slice(pe.section_contents(pe.section(".pcrsig").unwrap())).unwrap();
        let entries = pcrsig["sha256"].as_array().unwrap();
        let signed = report["pcr_signatures"].as_array().unwrap();
        assert_eq!(entries.len(), phases.len());
        for (entry, ours) in entries.iter().zip(signed) {
            assert_eq!(entry["pol"], ours["policy"]);
            assert_eq!(entry["pkfp"], ours["pkfp"]);
            assert_eq!(entry["pcrs"], serde_json::json!([11]));
        }
        // systemd-measure sorts the phase paths; so do we.
        assert_eq!(signed[0]["phase"], "enter-initrd");
        assert_eq!(signed[0]["pcr11"], report["pcr11_enter_initrd"]);
    }
}

#[test]
fn inspect_text_output() {
    let inputs = Inputs::new(&[10]);
    let (uki, report) = build(&inputs, &[]);
    assert_eq!(report["size"], std::fs::metadata(&uki).unwrap().len());
    let text = clip(&["uki", "inspect", uki.to_str().unwrap()])
        .expect(0)
        .stdout
        .clone();
    for needle in [
        ".linux",
        ".initrd",
        ".cmdline:",
        CMDLINE,
        "ID=clipos",
        "6.12.0-test",
    ] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
}

/// Section names, `.cmdline` and `.osrel` are the image's bytes: text output
/// shows their control characters as escapes, so a UKI cannot drive the
/// terminal of whoever inspects it; JSON keeps the exact text.
#[test]
fn inspect_escapes_control_characters() {
    let inputs = Inputs::new(&[10]);
    let cmdline = "quiet \x1b]0;pwned\x07 ro\rroot=x\u{202e}";
    std::fs::write(inputs.path("cmdline"), cmdline).unwrap();
    let os_release = "NAME=\x1b[31mred\x1b[0m\nID=clipos\n";
    std::fs::write(&inputs.os_release, os_release).unwrap();
    let out = inputs.path("uki.efi");
    let mut args = inputs.args();
    let at = format!("@{}", s(&inputs.path("cmdline")));
    args.extend(
        [
            "--cmdline",
            &at,
            "--uname",
            "6.12.0-test",
            "--out",
            &s(&out),
        ]
        .map(str::to_owned),
    );
    clip(&args).expect(0);
    // Rename .uname to ESC [ 2 J . u n (clear screen).
    let mut bytes = std::fs::read(&out).unwrap();
    let header = {
        let pe = pe::PeFile::parse(&bytes).unwrap();
        let index = pe
            .sections()
            .iter()
            .position(|s| s.name_str() == ".uname")
            .unwrap();
        pe.section_table_offset() + index * pe::raw::section::SIZE
    };
    bytes[header..header + 8].copy_from_slice(b"\x1b[2J.un\0");
    std::fs::write(&out, &bytes).unwrap();

    let text = clip(&["uki", "inspect", &s(&out)]).expect(0).stdout.clone();
    let raw: Vec<char> = text
        .chars()
        .filter(|&c| c != '\n' && (c.is_control() || c == '\u{202e}'))
        .collect();
    assert!(raw.is_empty(), "raw control characters {raw:?} in:\n{text}");
    for shown in [
        "\n.cmdline:\n  quiet \\x1b]0;pwned\\x07 ro\\rroot=x\\u{202e}\n",
        "\n.osrel:\n  NAME=\\x1b[31mred\\x1b[0m\n  ID=clipos\n",
    ] {
        assert!(text.contains(shown), "{shown:?} not in:\n{text}");
    }
    // The renamed section's row in the section table.
    assert!(
        text.lines().any(|l| l.starts_with("\\x1b[2J.un ")),
        "section table row:\n{text}"
    );

    let json = inspect(&out);
    assert_eq!(json["cmdline"], cmdline);
    assert_eq!(json["osrel"], os_release);
    assert!(
        json["sections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "\x1b[2J.un")
    );
}
