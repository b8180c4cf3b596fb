//! The shipped product loads, round-trips, and every validation rule rejects
//! a bad value with a message naming the field.

use std::path::{Path, PathBuf};

use product::{Kind, MountOption, Product, ProductError};

fn shipped_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../products/clipos")
}

fn shipped_text() -> String {
    std::fs::read_to_string(shipped_dir().join("product.toml")).unwrap()
}

#[test]
fn shipped_product_loads() {
    let p = Product::load(&shipped_dir()).unwrap();
    assert_eq!(p.name, "clipos");
    assert_eq!(p.debian.suite, "trixie");
    assert_eq!(p.debian.kernel, None, "the kernel is built from source");
    assert_eq!(p.kernel.from, product::KernelFrom::Source);
    assert!(p.kernel.initramfs_modules().is_empty());
    for rel in &p.kernel.config {
        assert!(shipped_dir().join(rel).is_file(), "{rel}");
    }
    assert_eq!(p.sysctl["kernel.yama.ptrace_scope"].to_string(), "3");
    assert!(p.debian.packages.iter().any(|x| x == "systemd"));
    assert!(p.kernel.cmdline.iter().any(|a| a.starts_with("lockdown=")));
    let var_log = p.state.paths.iter().find(|s| s.path == "/var/log").unwrap();
    assert_eq!(var_log.kind, Kind::Dir);
    assert!(var_log.options.contains(&MountOption::Noexec));

    let b = p.partitions.bytes().unwrap();
    assert_eq!(b.esp, 256 << 20);
    assert_eq!(b.root, 2 << 30);
    assert_eq!(b.verity, 17 << 20, "derived from root");
    assert_eq!(b.state, 512 << 20);

    let os = p.os_release().render();
    assert!(os.contains("ID=clipos\n"), "{os}");
    assert!(os.contains("NAME=\"CLIP OS\"\n"), "{os}");
    assert!(os.contains(&format!("VERSION_ID={}\n", p.version)), "{os}");
    assert!(!p.cmdline().contains("  "));
}

#[test]
fn round_trip() {
    let p = Product::load(&shipped_dir()).unwrap();
    let text = p.to_toml().unwrap();
    let q = Product::parse(&text, Path::new("round-trip.toml")).unwrap();
    assert_eq!(p, q);
    // With every optional field present, too.
    let mut p2 = p.clone();
    p2.partitions.verity = Some("32M".into());
    let q2 = Product::parse(&p2.to_toml().unwrap(), Path::new("x")).unwrap();
    assert_eq!(p2, q2);
    assert_ne!(p, q2);
}

#[test]
fn defaults_apply() {
    let mut t: toml::Table = toml::from_str(&shipped_text()).unwrap();
    let debian = t["debian"].as_table_mut().unwrap();
    debian.remove("mirror");
    debian.remove("architecture");
    let path0 = t["state"]["paths"][1].clone();
    let mut path0 = path0.as_table().unwrap().clone();
    path0.remove("options");
    t["state"].as_table_mut().unwrap()["paths"]
        .as_array_mut()
        .unwrap()[1] = toml::Value::Table(path0);
    let p = Product::parse(&toml::to_string(&t).unwrap(), Path::new("x")).unwrap();
    assert_eq!(p.debian.mirror, "http://deb.debian.org/debian");
    assert_eq!(p.debian.architecture, "amd64");
    assert_eq!(p.state.paths[1].owner, "root");
    assert_eq!(
        p.state.paths[1].options,
        [MountOption::Nodev, MountOption::Nosuid, MountOption::Noexec]
    );
}

/// Walks `a.b[2].c` inside a TOML table and returns the value there (the
/// last key is created if missing).
fn slot<'a>(mut v: &'a mut toml::Value, path: &str) -> &'a mut toml::Value {
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, i)) => (k, Some(i.trim_end_matches(']').parse::<usize>().unwrap())),
            None => (part, None),
        };
        v = v
            .as_table_mut()
            .unwrap()
            .entry(key)
            .or_insert(toml::Value::Boolean(false));
        if let Some(i) = index {
            v = &mut v.as_array_mut().unwrap()[i];
        }
    }
    v
}

fn invalid_with(edits: &[(&str, toml::Value)]) -> String {
    let mut v: toml::Value = toml::from_str(&shipped_text()).unwrap();
    for (path, value) in edits {
        *slot(&mut v, path) = value.clone();
    }
    let text = toml::to_string(&v).unwrap();
    match Product::parse(&text, Path::new("bad.toml")) {
        Ok(_) => panic!("{edits:?} accepted"),
        Err(e @ ProductError::Invalid { .. }) => e.to_string(),
        Err(e) => panic!("{edits:?}: not a validation error: {e}"),
    }
}

fn s(x: &str) -> toml::Value {
    toml::Value::String(x.into())
}

fn list(xs: &[&str]) -> toml::Value {
    toml::Value::Array(xs.iter().map(|x| s(x)).collect())
}

#[test]
fn bad_fields_are_named() {
    let cases: Vec<(&str, toml::Value, &str)> = vec![
        ("name", s(""), r#"name: "" must match [a-z0-9-]+"#),
        (
            "name",
            s("Clip_OS"),
            r#"name: "Clip_OS" must match [a-z0-9-]+"#,
        ),
        ("pretty_name", s("  "), "pretty_name: must not be empty"),
        (
            "pretty_name",
            s("a\nb"),
            r#"pretty_name: "a\nb" must match printable characters"#,
        ),
        ("version", s("5.0"), r#"version: "5.0" is not a version"#),
        ("version", s("05.0.0"), r#"version: "05.0.0" is not"#),
        (
            "version",
            s("5.0.0-Alpha"),
            r#"version: "5.0.0-Alpha" is not"#,
        ),
        (
            "version",
            s("5.0.0+build"),
            r#"version: "5.0.0+build" is not"#,
        ),
        ("version", s("5.0.0-"), r#"version: "5.0.0-" is not"#),
        (
            "debian.suite",
            s("Trixie"),
            r#"debian.suite: "Trixie" must match [a-z]+"#,
        ),
        (
            "debian.mirror",
            s("ftp://x"),
            r#"debian.mirror: "ftp://x" is not an http"#,
        ),
        (
            "debian.mirror",
            s("http://a b"),
            r#"debian.mirror: "http://a b""#,
        ),
        (
            "debian.architecture",
            s("i386"),
            r#"debian.architecture: "i386" is not a supported"#,
        ),
        (
            "debian.kernel",
            s("Linux"),
            r#"debian.kernel: "Linux" is not a valid Debian package"#,
        ),
        (
            "debian.packages",
            list(&[]),
            "debian.packages: must not be empty",
        ),
        (
            "debian.packages",
            list(&["systemd", "x"]),
            r#"debian.packages[1]: "x" is not a valid"#,
        ),
        (
            "debian.packages",
            list(&["-x"]),
            r#"debian.packages[0]: "-x" is not a valid"#,
        ),
        (
            "debian.packages",
            list(&["dbus", "udev", "dbus"]),
            r#"debian.packages[2]: "dbus" is listed twice"#,
        ),
        (
            "debian.packages",
            list(&["linux-image-amd64"]),
            r#"debian.packages[0]: "linux-image-amd64": the kernel is built from source"#,
        ),
        (
            "debian.remove",
            list(&["perl-base", "systemd"]),
            r#"debian.remove[1]: "systemd" is also listed to be installed"#,
        ),
        (
            "debian.remove",
            list(&["apt", "apt"]),
            r#"debian.remove[1]: "apt" is listed twice"#,
        ),
        (
            "kernel.source_version",
            s("6.12 1"),
            r#"kernel.source_version: "6.12 1" must match a Debian version"#,
        ),
        (
            "kernel.config",
            list(&["../elsewhere.config"]),
            r#"kernel.config[0]: "../elsewhere.config" must match a relative path inside the product directory ending in .config"#,
        ),
        (
            "kernel.initramfs_modules",
            list(&["virtio_blk"]),
            "kernel.initramfs_modules: a kernel built from source has no modules",
        ),
        (
            "debian.kernel",
            s("linux-image-amd64"),
            r#"debian.kernel: "linux-image-amd64": the kernel is built from source (kernel.from = "source")"#,
        ),
        (
            "kernel.from",
            s("package"),
            "debian.kernel: missing: Debian's prebuilt kernel",
        ),
        (
            "sysctl.kernel",
            s("2"),
            r#"sysctl."kernel": "kernel" must match a dotted sysctl name"#,
        ),
        (
            "kernel.cmdline",
            list(&["quiet", "root=/dev/sda"]),
            r#"kernel.cmdline[1]: "root=/dev/sda" is added by the image builder"#,
        ),
        (
            "kernel.cmdline",
            list(&["roothash=ab"]),
            r#"kernel.cmdline[0]: "roothash=ab" is added"#,
        ),
        (
            "kernel.cmdline",
            list(&["systemd.verity_root_data=x"]),
            r#"kernel.cmdline[0]: "systemd.verity_root_data=x" is added"#,
        ),
        (
            "kernel.cmdline",
            list(&["dm_mod.create=x"]),
            r#"kernel.cmdline[0]: "dm_mod.create=x" is added"#,
        ),
        (
            "kernel.cmdline",
            list(&["ro"]),
            r#"kernel.cmdline[0]: "ro" is added"#,
        ),
        (
            "kernel.cmdline",
            list(&["a\0b"]),
            r#"kernel.cmdline[0]: "a\0b" is empty or contains"#,
        ),
        (
            "kernel.cmdline",
            list(&["a b"]),
            r#"kernel.cmdline[0]: "a b" is empty or contains"#,
        ),
        (
            "kernel.cmdline",
            list(&[""]),
            r#"kernel.cmdline[0]: "" is empty"#,
        ),
        (
            "kernel.cmdline",
            list(&["quiet", "quiet"]),
            r#"kernel.cmdline[1]: "quiet" is listed twice"#,
        ),
        (
            "kernel.cmdline",
            list(&[&"x".repeat(1025)]),
            "kernel.cmdline: is 1025 bytes long; at most 1024",
        ),
        (
            "state.paths[2].path",
            s("var/log"),
            r#"state.paths[2].path: "var/log" is not absolute"#,
        ),
        (
            "state.paths[2].path",
            s("/var/../usr"),
            r#"state.paths[2].path: "/var/../usr" is not normalised"#,
        ),
        (
            "state.paths[2].path",
            s("/var/log/"),
            r#"state.paths[2].path: "/var/log/" is not normalised"#,
        ),
        (
            "state.paths[2].path",
            s("/var//log"),
            r#"state.paths[2].path: "/var//log" is not normalised"#,
        ),
        (
            "state.paths[2].path",
            s("/var/my log"),
            r#"state.paths[2].path: "/var/my log" must match"#,
        ),
        (
            "state.paths[2].path",
            s("/usr/lib"),
            r#"state.paths[2].path: "/usr/lib" is not allowed"#,
        ),
        (
            "state.paths[2].path",
            s("/etc/passwd"),
            r#"state.paths[2].path: "/etc/passwd" is not allowed"#,
        ),
        (
            "state.paths[2].path",
            s("/variable"),
            r#"state.paths[2].path: "/variable" is not allowed"#,
        ),
        (
            "state.paths[2].path",
            s("/var/lib"),
            r#"state.paths[2].path: "/var/lib" is listed twice"#,
        ),
        (
            "state.paths[2].path",
            s("/var/lib/foo"),
            r#"state.paths[2].path: "/var/lib/foo" overlaps "/var/lib" (state.paths[1])"#,
        ),
        (
            "state.paths[2].path",
            s("/var"),
            r#"state.paths[2].path: "/var" overlaps "/var/lib" (state.paths[1])"#,
        ),
        (
            "state.paths[0].kind",
            s("dir"),
            r#"state.paths[0].path: "/etc/machine-id" is not allowed"#,
        ),
        ("state.paths[2].mode", s("755"), ""),
        (
            "state.paths[2].mode",
            s("0758"),
            r#"state.paths[2].mode: "0758" is not an octal mode"#,
        ),
        (
            "state.paths[2].mode",
            s("07555"),
            r#"state.paths[2].mode: "07555" is not an octal mode"#,
        ),
        (
            "state.paths[2].mode",
            s("0777"),
            r#"state.paths[2].mode: "0777" is world-writable without the sticky bit"#,
        ),
        (
            "state.paths[0].mode",
            s("0666"),
            r#"state.paths[0].mode: "0666" is world-writable"#,
        ),
        (
            "state.paths[2].mode",
            s("4755"),
            r#"state.paths[2].mode: "4755" has the setuid bit set: the image has no SUID or SGID files or directories"#,
        ),
        (
            "state.paths[2].mode",
            s("2755"),
            r#"state.paths[2].mode: "2755" has the setgid bit set: the image has no SUID"#,
        ),
        (
            "state.paths[2].mode",
            s("6755"),
            r#"state.paths[2].mode: "6755" has the setuid and setgid bits set"#,
        ),
        (
            "state.paths[2].mode",
            s("3777"),
            r#"state.paths[2].mode: "3777" has the setgid bit set"#,
        ),
        (
            "state.paths[0].mode",
            s("4444"),
            r#"state.paths[0].mode: "4444" has the setuid bit set"#,
        ),
        (
            "state.paths[0].mode",
            s("2444"),
            r#"state.paths[0].mode: "2444" has the setgid bit set"#,
        ),
        // Sticky directories stay allowed (a shared /var/tmp is 1777).
        ("state.paths[2].mode", s("1777"), ""),
        ("state.paths[2].mode", s("1755"), ""),
        (
            "state.paths[2].owner",
            s("Root"),
            r#"state.paths[2].owner: "Root" is not a user or group name"#,
        ),
        (
            "state.paths[2].group",
            s(""),
            r#"state.paths[2].group: "" is not a user"#,
        ),
        (
            "state.paths[2].options",
            list(&["nodev", "nodev"]),
            r#"state.paths[2].options[1]: "nodev" is listed twice"#,
        ),
        (
            "state.paths[2].options",
            list(&["nodev", "noexec"]),
            r#"state.paths[2].options: must include "nosuid": the state partition must never bring SUID files or device nodes into the system"#,
        ),
        (
            "state.paths[2].options",
            list(&["nosuid"]),
            r#"state.paths[2].options: must include "nodev""#,
        ),
        (
            "services.enabled",
            list(&["sshd"]),
            r#"services.enabled[0]: "sshd" is not a unit name"#,
        ),
        (
            "services.enabled",
            list(&["a b.service"]),
            r#"services.enabled[0]: "a b.service" is not a unit"#,
        ),
        (
            "services.enabled",
            list(&["x.service", "x.service"]),
            r#"services.enabled[1]: "x.service" is listed twice"#,
        ),
        (
            "partitions.esp",
            s("256"),
            r#"partitions.esp: size "256" must end in M (MiB) or G (GiB)"#,
        ),
        (
            "partitions.esp",
            s("0256M"),
            r#"partitions.esp: size "0256M" must not be zero"#,
        ),
        (
            "partitions.esp",
            s("1.5G"),
            r#"partitions.esp: size "1.5G" must be decimal digits"#,
        ),
        (
            "partitions.esp",
            s("32M"),
            r#"partitions.esp: "32M" is below the minimum of 64M"#,
        ),
        (
            "partitions.esp",
            s("5G"),
            r#"partitions.esp: "5G" is above the maximum of 4G"#,
        ),
        (
            "partitions.root",
            s("100M"),
            r#"partitions.root: "100M" is below the minimum of 256M"#,
        ),
        (
            "partitions.root",
            s("99999999999999999999G"),
            r#"partitions.root: size "99999999999999999999G" is too large"#,
        ),
        (
            "partitions.verity",
            s("16M"),
            r#"partitions.verity: "16M" is below the minimum of 17M"#,
        ),
        (
            "partitions.state",
            s("16M"),
            r#"partitions.state: "16M" is below the minimum of 48M"#,
        ),
        (
            "partitions.state",
            s("16385G"),
            r#"partitions.state: "16385G" is above the maximum of 16384G"#,
        ),
        (
            "partitions.state",
            s("16382G"),
            "partitions: \"esp + 2 × (root + verity) + state\" is above the maximum",
        ),
    ];
    for (path, value, want) in cases {
        if want.is_empty() {
            // Accepted: a sanity check that the table is not all failures.
            let mut v: toml::Value = toml::from_str(&shipped_text()).unwrap();
            *slot(&mut v, path) = value;
            Product::parse(&toml::to_string(&v).unwrap(), Path::new("x")).unwrap();
            continue;
        }
        let got = invalid_with(&[(path, value.clone())]);
        assert!(
            got.starts_with(want),
            "{path} = {value}:\n got {got}\nwant {want}"
        );
    }
}

#[test]
fn unknown_and_missing_fields_are_parse_errors() {
    for (edit, want) in [
        ("colour = \"red\"\n", "unknown field `colour`"),
        ("[debian]\n", "duplicate key"),
    ] {
        let text = format!("{edit}{}", shipped_text());
        let e = Product::parse(&text, Path::new("p/product.toml")).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, ProductError::Parse { .. }), "{msg}");
        assert!(msg.starts_with("p/product.toml: "), "{msg}");
        assert!(msg.contains(want), "{msg}");
    }
    // Unknown key inside a nested table, and an unknown mount option.
    let text = shipped_text().replace("kind = \"dir\"", "kind = \"dir\"\nsize = 1");
    let msg = Product::parse(&text, Path::new("x"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("unknown field `size`"), "{msg}");
    let text = shipped_text().replacen("\"noexec\"]", "\"exec\"]", 1);
    let msg = Product::parse(&text, Path::new("x"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("unknown variant `exec`"), "{msg}");
    let text = shipped_text().replace("suite = \"trixie\"", "");
    let msg = Product::parse(&text, Path::new("x"))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("missing field `suite`"), "{msg}");
}

#[test]
fn missing_directory_is_a_read_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = Product::load(dir.path()).unwrap_err();
    assert!(matches!(e, ProductError::Read { .. }));
    assert!(e.to_string().contains("product.toml"), "{e}");
}

#[test]
fn documented_example_loads() {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/product.md"),
    )
    .unwrap();
    let start = doc.find("```toml\n").expect("example in docs/product.md") + 8;
    let len = doc[start..].find("```").unwrap();
    let p = Product::parse(&doc[start..start + len], Path::new("docs/product.md")).unwrap();
    assert_eq!(p.state.paths.len(), 2);
    assert_eq!(p.partitions.bytes().unwrap().verity, 17 << 20);
}

/// `why` of each check, as the refusal states it (the start of the text).
const WHY: &[(&str, &str)] = &[
    (
        "init",
        "it replaces the first program (clip-init in the initramfs",
    ),
    (
        "debug_shell",
        "it starts a root shell that asks no password",
    ),
    (
        "rescue",
        "it boots into rescue or emergency mode (a root shell)",
    ),
    ("unit", "it changes which units the boot starts or masks"),
    ("run", "it runs a command as root at boot"),
    ("lockdown", "it lowers kernel lockdown"),
    ("module_sig", "it lets the kernel load unsigned modules"),
    ("iommu", "it turns off the IOMMU's DMA protection"),
    (
        "gpt_auto",
        "it makes systemd mount partitions found by type GUID",
    ),
    (
        "initrd",
        "it makes the kernel's EFI stub load another initrd",
    ),
];

/// Every parameter of issue 7 (and the forms the kernel and systemd read
/// the same way), with the check that refuses it.
const REFUSED: &[(&str, &str)] = &[
    ("init=/bin/sh", "init"),
    ("rdinit=/bin/sh", "init"),
    ("systemd.debug_shell", "debug_shell"),
    ("systemd.debug_shell=1", "debug_shell"),
    ("systemd.debug_shell=tty1", "debug_shell"),
    ("systemd.debug-shell", "debug_shell"),
    ("rd.systemd.debug_shell", "debug_shell"),
    ("systemd.crash_shell", "debug_shell"),
    ("single", "rescue"),
    ("s", "rescue"),
    ("S", "rescue"),
    ("1", "rescue"),
    ("rescue", "rescue"),
    ("rd.rescue", "rescue"),
    ("emergency", "rescue"),
    ("rd.emergency", "rescue"),
    ("-b", "rescue"),
    ("systemd.unit=emergency.target", "unit"),
    ("systemd.unit=rescue.target", "unit"),
    ("rd.systemd.unit=emergency.target", "unit"),
    ("systemd.wants=debug-shell.service", "unit"),
    ("systemd.mask=systemd-journald.service", "unit"),
    ("systemd.run=/bin/sh", "run"),
    ("lockdown=none", "lockdown"),
    ("module.sig_enforce=0", "module_sig"),
    ("module.sig-enforce=0", "module_sig"),
    ("module.sig_enforce=n", "module_sig"),
    ("module.sig_enforce=off", "module_sig"),
    ("iommu=off", "iommu"),
    ("iommu=pt", "iommu"),
    ("intel_iommu=off", "iommu"),
    ("amd_iommu=off", "iommu"),
    ("iommu.passthrough=1", "iommu"),
    ("systemd.gpt_auto=1", "gpt_auto"),
    ("systemd.gpt_auto=yes", "gpt_auto"),
    ("systemd.gpt_auto=on", "gpt_auto"),
    ("systemd.gpt_auto=true", "gpt_auto"),
    ("systemd.gpt_auto=Y", "gpt_auto"),
    ("systemd.gpt_auto", "gpt_auto"),
    ("systemd.gpt-auto=1", "gpt_auto"),
    ("rd.systemd.gpt_auto=1", "gpt_auto"),
    ("initrd=\\EFI\\debian\\initrd.img", "initrd"),
    // systemd unescapes words: this is systemd.debug_shell to it.
    ("systemd.debug\\_shell", "debug_shell"),
];

fn parse_with(cmdline: &[&str], allow: &[&str]) -> Result<Product, ProductError> {
    let mut v: toml::Value = toml::from_str(&shipped_text()).unwrap();
    *slot(&mut v, "kernel.cmdline") = list(cmdline);
    if !allow.is_empty() {
        *slot(&mut v, "kernel.allow_cmdline") = list(allow);
    }
    Product::parse(&toml::to_string(&v).unwrap(), Path::new("x"))
}

#[test]
fn weakening_parameters_are_refused_with_the_reason() {
    for &(arg, check) in REFUSED {
        let why = WHY.iter().find(|(c, _)| *c == check).unwrap().1;
        let got = match parse_with(&["quiet", arg], &[]) {
            Ok(_) => panic!("{arg} accepted"),
            Err(e) => e.to_string(),
        };
        let head = format!("kernel.cmdline[1]: {arg:?} is refused: {why}");
        let tail =
            format!("(check {check:?}; to accept it, list {check:?} in kernel.allow_cmdline)");
        assert!(
            got.starts_with(&head) && got.ends_with(&tail),
            "{arg}:\n got {got}\nwant {head} … {tail}"
        );
    }
    // Values and names that keep the protections are accepted.
    let kept = [
        "lockdown=confidentiality",
        "module.sig_enforce",
        "module.sig_enforce=1",
        "systemd.gpt_auto=0",
        "systemd.gpt_auto=false",
        "rd.systemd.gpt_auto=no",
        "iommu=force",
        "intel_iommu=on",
        "3",
        "console=ttyS0,115200",
    ];
    parse_with(&kept, &[]).unwrap();
}

#[test]
fn end_of_parameters_is_never_allowed() {
    let every: Vec<&str> = WHY.iter().map(|(c, _)| *c).collect();
    for (cmdline, index) in [(vec!["quiet", "--"], 1), (vec!["--", "quiet"], 0)] {
        let got = parse_with(&cmdline, &[]).unwrap_err().to_string();
        assert_eq!(
            got,
            format!(
                "kernel.cmdline[{index}]: \"--\" ends the kernel's parameters: everything after it, \
                 the builder's clip.* parameters included, would go to init as arguments and the \
                 image could not boot (this cannot be waived)"
            )
        );
    }
    // Waiving every check does not waive it (nor does waiving nothing
    // that is used: "--" is found first).
    let mut cmdline: Vec<&str> = REFUSED.iter().map(|(a, _)| *a).collect();
    cmdline.push("--");
    let got = parse_with(&cmdline, &every).unwrap_err().to_string();
    assert!(
        got.starts_with(&format!(
            "kernel.cmdline[{}]: \"--\" ends the kernel's parameters",
            cmdline.len() - 1
        )),
        "{got}"
    );
}

#[test]
fn a_waiver_allows_its_check_only() {
    let p = parse_with(
        &[
            "quiet",
            "systemd.debug_shell",
            "rd.systemd.debug_shell=tty1",
        ],
        &["debug_shell"],
    )
    .unwrap();
    let waivers = p.cmdline_waivers();
    assert_eq!(waivers.len(), 1);
    assert_eq!(waivers[0].check, product::CmdlineCheck::DebugShell);
    assert_eq!(waivers[0].check.name(), "debug_shell");
    assert_eq!(
        waivers[0].arguments,
        ["systemd.debug_shell", "rd.systemd.debug_shell=tty1"]
    );
    // The waiver survives a round trip; without one the list is empty.
    let q = Product::parse(&p.to_toml().unwrap(), Path::new("x")).unwrap();
    assert_eq!(p, q);
    let shipped = Product::load(&shipped_dir()).unwrap();
    assert!(shipped.cmdline_waivers().is_empty());
    assert!(!shipped.to_toml().unwrap().contains("allow_cmdline"));

    // Another check is not waived.
    let got = parse_with(&["systemd.debug_shell", "init=/bin/sh"], &["debug_shell"])
        .unwrap_err()
        .to_string();
    assert!(
        got.starts_with("kernel.cmdline[1]: \"init=/bin/sh\" is refused: it replaces"),
        "{got}"
    );

    // Every check can be waived.
    for &(arg, check) in REFUSED {
        let p = parse_with(&["quiet", arg], &[check]).unwrap_or_else(|e| panic!("{arg}: {e}"));
        assert_eq!(p.cmdline_waivers()[0].arguments, [arg]);
    }
}

#[test]
fn bad_waivers_are_refused() {
    let known =
        "init, debug_shell, rescue, unit, run, lockdown, module_sig, iommu, gpt_auto, initrd";
    for (allow, want) in [
        (
            vec!["systemd.debug_shell"],
            format!(
                "kernel.allow_cmdline[0]: \"systemd.debug_shell\" is not a command line check (known: {known})"
            ),
        ),
        (
            vec!["debug_shell", "Init"],
            format!(
                "kernel.allow_cmdline[1]: \"Init\" is not a command line check (known: {known})"
            ),
        ),
        (
            vec!["debug_shell", "debug_shell"],
            "kernel.allow_cmdline[1]: \"debug_shell\" is listed twice".to_owned(),
        ),
        (
            vec!["debug_shell", "init"],
            "kernel.allow_cmdline[1]: \"init\" waives nothing: no kernel.cmdline entry is refused by this check"
                .to_owned(),
        ),
    ] {
        let got = parse_with(&["quiet", "systemd.debug_shell"], &allow)
            .unwrap_err()
            .to_string();
        assert_eq!(got, want, "{allow:?}");
    }
    // An unknown name is refused even when the command line needs no waiver.
    let got = parse_with(&["quiet"], &["bogus"]).unwrap_err().to_string();
    assert!(
        got.starts_with("kernel.allow_cmdline[0]: \"bogus\" is not a command line check"),
        "{got}"
    );
}

#[test]
fn state_encryption_defaults_to_aes_xts_with_hmac_and_refuses_other_pairs() {
    let p = Product::parse(&shipped_text(), Path::new("x")).unwrap();
    assert_eq!(p.state.encryption.cipher, "aes-xts-plain64");
    assert_eq!(p.state.encryption.integrity, "hmac(sha256)");

    let mut v: toml::Value = toml::from_str(&shipped_text()).unwrap();
    let mut enc = toml::Table::new();
    enc.insert("cipher".into(), s("aes-xts-plain64"));
    enc.insert("integrity".into(), s("none"));
    v["state"]
        .as_table_mut()
        .unwrap()
        .insert("encryption".into(), toml::Value::Table(enc));
    let e = Product::parse(&toml::to_string(&v).unwrap(), Path::new("bad.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with(
            "state.encryption: state encryption cipher \"aes-xts-plain64\" with integrity \
             \"none\" is not supported (supported: aes-xts-plain64 + hmac(sha256), aegis128-random + aead)"
        ),
        "{e}"
    );
}

#[test]
fn a_recovery_hook_must_live_in_the_verified_root() {
    let with_hook = |hook: &str| {
        let mut v: toml::Value = toml::from_str(&shipped_text()).unwrap();
        v["state"]
            .as_table_mut()
            .unwrap()
            .insert("recovery_hook".into(), s(hook));
        Product::parse(&toml::to_string(&v).unwrap(), Path::new("p.toml"))
    };
    let p = with_hook("/usr/lib/clip/escrow").unwrap();
    assert_eq!(
        p.state.recovery_hook.as_deref(),
        Some("/usr/lib/clip/escrow")
    );
    let e = with_hook("/var/lib/escrow").unwrap_err().to_string();
    assert!(
        e.ends_with(
            "state.recovery_hook: recovery hook \"/var/lib/escrow\" is not under /usr (the verified root)"
        ),
        "{e}"
    );
    let e = with_hook("/usr/../var/x").unwrap_err().to_string();
    assert!(e.contains("is not an absolute, normalised path"), "{e}");
}

#[test]
fn update_section_defaults_to_the_contract_and_names_bad_fields() {
    use contract::update::{DEFAULT_SERVER_URL, Reboot};
    let p = Product::parse(&shipped_text(), Path::new("x")).unwrap();
    assert_eq!(p.update, product::Update::default());
    assert_eq!(p.update.server, DEFAULT_SERVER_URL);
    assert_eq!(p.update.reboot, Reboot::Now);
    assert_eq!(p.update.first_check_delay_seconds, 5);
    assert!(p.update.health_checks.is_empty());

    let with = |edits: &[(&str, toml::Value)]| {
        let mut v: toml::Value = toml::from_str(&shipped_text()).unwrap();
        let table = v
            .as_table_mut()
            .unwrap()
            .entry("update")
            .or_insert(toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .unwrap();
        for (k, value) in edits {
            table.insert((*k).into(), value.clone());
        }
        Product::parse(&toml::to_string(&v).unwrap(), Path::new("p.toml"))
    };
    let p = with(&[
        ("server", s("https://updates.example.org/clipos/")),
        ("ca", s("update-ca.pem")),
        ("reboot", s("next-boot")),
        ("check_interval_seconds", toml::Value::Integer(600)),
        (
            "health_checks",
            list(&["/usr/bin/systemctl is-system-running"]),
        ),
    ])
    .unwrap();
    assert_eq!(p.update.reboot, Reboot::NextBoot);
    assert_eq!(p.update.check_interval_seconds, 600);
    assert_eq!(p.update.ca.as_deref(), Some("update-ca.pem"));
    let q = Product::parse(&p.to_toml().unwrap(), Path::new("round")).unwrap();
    assert_eq!(p, q);

    // HTTPS (docs/update.md, "HTTPS"): a CA, and only with https.
    let https = || ("server", s("https://updates.example.org/"));
    for (edits, want) in [
        (
            vec![https()],
            "update.ca: update server \"https://updates.example.org/\" is https:// but no ca is \
             configured: the device trusts no system CA store, so an https server needs the CA \
             bundle that signed its certificate",
        ),
        (
            vec![("ca", s("update-ca.pem"))],
            "update.ca: a ca is configured but the update server \"http://10.0.2.100/\" is not \
             https:// (the CA would not be used)",
        ),
        (
            vec![https(), ("ca", s("/etc/ssl/ca.pem"))],
            "update.ca: \"/etc/ssl/ca.pem\" is absolute: name the CA bundle relative to the \
             product directory",
        ),
        (
            vec![https(), ("ca", s(""))],
            "update.ca: ca path \"\" is empty or has control characters",
        ),
    ] {
        let e = with(&edits).unwrap_err().to_string();
        assert_eq!(e, want);
    }

    let cases: Vec<(&str, toml::Value, &str)> = vec![
        (
            "server",
            s("ftp://x/"),
            "update.server: update server URL \"ftp://x/\" is not an http:// or https:// URL",
        ),
        (
            "check_interval_seconds",
            toml::Value::Integer(5),
            "update.check_interval_seconds: update check interval 5 s is out of range (10 s to 2592000 s)",
        ),
        (
            "first_check_delay_seconds",
            toml::Value::Integer(90000),
            "update.first_check_delay_seconds: first update check delay 90000 s is more than 86400 s (one day)",
        ),
        (
            "health_checks",
            list(&["/usr/bin/true", "systemctl is-system-running"]),
            "update.health_checks[1]: health check \"systemctl is-system-running\" does not start with an absolute program path",
        ),
    ];
    for (key, value, want) in cases {
        let e = with(&[(key, value)]).unwrap_err().to_string();
        assert!(e.contains(want), "{key}: {e}");
        assert!(with(&[(key, s("x"))]).is_err());
    }
    let e = with(&[("reboot", s("later"))]).unwrap_err().to_string();
    assert!(
        e.contains("unknown variant `later`, expected `now` or `next-boot`"),
        "{e}"
    );
}
