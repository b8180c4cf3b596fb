//! The whole report on a fixture tree (`--root DIR`: every file is read
//! below DIR, device-mapper is not queried): what each check finds, the
//! problems it raises, the exit code, the console line, the boot counter.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const GUID: &str = "8be4df61-93ca-11d2-aa0d-00e098032b8c";
const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn write(root: &Path, path: &str, data: impl AsRef<[u8]>) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

/// A device booted from slot a with Secure Boot on; /home lacks noexec.
fn fixture(root: &Path, secure_boot: u8) {
    write(
        root,
        "proc/cmdline",
        format!(
            "console=ttyS0 clip.slot=a clip.verity.roothash={HASH} clip.verity.salt=00 \
             clip.verity.data_blocks=10\n"
        ),
    );
    write(
        root,
        "proc/self/mountinfo",
        "22 1 254:0 / / ro,relatime shared:1 - erofs /dev/dm-0 ro\n\
         30 22 253:6 /var/lib /var/lib rw,nosuid,nodev,noexec,relatime shared:2 - ext4 /dev/vda6 rw\n\
         31 22 253:6 /home /home rw,nosuid,nodev,relatime shared:3 - ext4 /dev/vda6 rw\n",
    );
    write(root, "proc/sys/kernel/random/boot_id", "boot-1\n");
    let vars = "sys/firmware/efi/efivars";
    write(
        root,
        &format!("{vars}/SecureBoot-{GUID}"),
        [6, 0, 0, 0, secure_boot],
    );
    write(root, &format!("{vars}/SetupMode-{GUID}"), [6, 0, 0, 0, 0]);
    write(root, "sys/dev/block/254:0/dm/name", "clip-root-a\n");
    write(
        root,
        "sys/dev/block/254:0/dm/uuid",
        format!("CLIP-VERITY-a-{HASH}\n"),
    );
    write(
        root,
        "usr/lib/clip/state.json",
        r#"{"paths":[
            {"path":"/var/lib","kind":"dir","mode":"0755","owner":"root","group":"root","options":["nodev","nosuid","noexec"]},
            {"path":"/home","kind":"dir","mode":"0755","owner":"root","group":"root","options":["nodev","nosuid","noexec"]},
            {"path":"/var/log","kind":"dir","mode":"0755","owner":"root","group":"root","options":["nodev","nosuid","noexec"]}]}"#,
    );
    // --console writes here instead of the real console.
    write(root, "dev/console", "");
    write(
        root,
        "usr/lib/os-release",
        "NAME=\"CLIP OS\"\nID=clipos\nVERSION_ID=\"5.0.0-alpha.1\"\n",
    );
}

fn status(root: &Path, args: &[&str]) -> (i32, Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_clip-status"))
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    let json = if args.contains(&"--json") {
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    } else {
        Value::Null
    };
    let text = if json.is_null() { stdout } else { stderr };
    (out.status.code().unwrap(), json, text)
}

fn problems(j: &Value) -> Vec<String> {
    j["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn report_of_a_fixture_device() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fixture(root, 1);
    let (code, j, _) = status(root, &["--json", "--count-boot", "--console"]);
    assert_eq!(code, 3, "{j:#}");
    assert_eq!(j["secure_boot"]["state"], "enabled");
    assert_eq!(j["secure_boot"]["setup_mode"], false);
    assert_eq!(j["secure_boot"]["source"], "efivarfs");
    assert_eq!(j["slot"], "a");
    assert_eq!(j["version"], "5.0.0-alpha.1");
    assert_eq!(j["root_hash"], HASH);
    assert_eq!(j["root"]["device"], "254:0");
    assert_eq!(j["root"]["fs_type"], "erofs");
    assert_eq!(j["root"]["dm_name"], "clip-root-a");
    assert_eq!(j["root"]["dm_uuid"], format!("CLIP-VERITY-a-{HASH}"));
    // The fixture directory is writable: the probe notices, and cleans up.
    assert_eq!(j["root"]["read_only"], false);
    assert_eq!(j["root"]["write_probe"], "created");
    assert!(!root.join(".clip-status-probe").exists());
    let mounts = j["state_mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 3);
    assert_eq!(mounts[0]["path"], "/var/lib");
    assert_eq!(mounts[0]["ok"], true);
    assert_eq!(mounts[0]["fs_type"], "ext4");
    assert_eq!(mounts[1]["missing"], serde_json::json!(["noexec"]));
    assert_eq!(mounts[2]["mounted"], false);
    let p = problems(&j);
    assert!(p.iter().any(|p| p.starts_with("/ is writable")), "{p:?}");
    assert!(
        p.iter()
            .any(|p| p.contains("/home is mounted without noexec")),
        "{p:?}"
    );
    assert!(
        p.iter()
            .any(|p| p.contains("/var/log is not a mount point")),
        "{p:?}"
    );
    // The fixture's state is a plain partition, not dm-crypt.
    assert!(
        p.contains(
            &"the state is mounted from 253:6 (/dev/vda6), not a device-mapper (dm-crypt) device"
                .to_owned()
        ),
        "{p:?}"
    );
    assert_eq!(p.len(), 4, "{p:?}");
    assert_eq!(j["state_volume"]["device"], "253:6");
    assert_eq!(j["state_volume"]["ok"], false);
    assert_eq!(j["verified"], false);
    assert_eq!(j["boot_count"], 1);

    // The console line is the same JSON.
    let console = std::fs::read_to_string(root.join("dev/console")).unwrap();
    let line = console.strip_prefix("CLIP-STATUS ").unwrap();
    assert!(line.ends_with('\n') && line.lines().count() == 1);
    let c: Value = serde_json::from_str(line).unwrap();
    assert_eq!(c["slot"], "a");
    assert_eq!(c["version"], "5.0.0-alpha.1");

    // Counted once per boot; a new boot_id counts again.
    let (_, j, _) = status(root, &["--json", "--count-boot"]);
    assert_eq!(j["boot_count"], 1);
    write(root, "proc/sys/kernel/random/boot_id", "boot-2\n");
    let (_, j, _) = status(root, &["--json", "--count-boot"]);
    assert_eq!(j["boot_count"], 2);
    let (_, j, _) = status(root, &["--json"]);
    assert_eq!(j["boot_count"], 2);
    assert_eq!(
        std::fs::read_to_string(root.join("var/lib/clip/boot-count")).unwrap(),
        "2\n"
    );

    // Human-readable output names the same facts.
    let (code, _, text) = status(root, &[]);
    assert_eq!(code, 3);
    for needle in [
        "Secure Boot:",
        "enabled",
        "clip-root-a",
        "Boot count:",
        "Version:         5.0.0-alpha.1\n",
        "NOT verified",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
}

#[test]
fn secure_boot_off_wrong_slot_and_no_dm_are_problems() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fixture(root, 0);
    write(
        root,
        "proc/cmdline",
        format!(
            "clip.slot=c clip.verity.roothash={HASH} clip.verity.salt= clip.verity.data_blocks=1\n"
        ),
    );
    std::fs::remove_dir_all(root.join("sys/dev/block")).unwrap();
    let (code, j, _) = status(root, &["--json"]);
    assert_eq!(code, 3);
    assert_eq!(j["secure_boot"]["state"], "disabled");
    assert_eq!(j["root"]["verity"], "not_device_mapper");
    let p = problems(&j);
    for needle in [
        "Secure Boot is disabled",
        "kernel parameter clip.slot=\"c\" is not \"a\" or \"b\"",
        "not a device-mapper",
    ] {
        assert!(p.iter().any(|p| p.contains(needle)), "{needle}: {p:?}");
    }
    assert_eq!(j["slot"], serde_json::Value::Null);

    write(root, "proc/cmdline", "clip.slot=a quiet\n");
    let (code, j, _) = status(root, &["--json"]);
    assert_eq!(code, 3);
    let p = problems(&j);
    assert!(
        p.contains(&"kernel parameter clip.verity.roothash is missing".to_owned()),
        "{p:?}"
    );
}

#[test]
fn unreadable_inputs_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fixture(root, 1);
    write(
        root,
        &format!("sys/firmware/efi/efivars/SecureBoot-{GUID}"),
        [6, 0],
    );
    write(root, "proc/self/mountinfo", "garbage\n");
    write(root, "usr/lib/clip/state.json", "{");
    write(root, "var/lib/clip/boot-count", "many\n");
    write(root, "usr/lib/os-release", "ID=clipos\n");
    let (code, j, stderr) = status(root, &["--json"]);
    // Nothing found wrong, but much could not be checked.
    assert_eq!(code, 1, "{j:#}");
    assert_eq!(j["verified"], false);
    let errors = j["errors"].to_string();
    for needle in [
        "2 bytes, expected 5",
        "mountinfo line 1",
        "state.json",
        "not a decimal count",
        "/usr/lib/os-release has no VERSION_ID",
    ] {
        assert!(errors.contains(needle), "{needle}: {errors}");
    }
    assert!(stderr.contains("clip-status: "), "{stderr}");
}

#[test]
fn bad_arguments_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_clip-status"))
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bogus"));
}
