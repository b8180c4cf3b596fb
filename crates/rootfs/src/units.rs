//! Which systemd units run: a preset file that disables everything except
//! the enabled services, masked login prompts, and `default.target`.
//!
//! systemd.preset(5): the first matching line of the lexically first file
//! wins, so `00-clip.preset` with `enable` lines followed by `disable *`
//! overrides Debian's and systemd's own presets. `systemctl preset-all`
//! (run by the tree's own systemctl in a chroot, so unit files and tool have
//! the same version) then removes every other enablement symlink. Static
//! units (no `[Install]` section, e.g. journald, udevd) are unaffected.

/// The preset file's path inside the tree.
pub const PRESET_FILE: &str = "usr/lib/systemd/system-preset/00-clip.preset";

/// Login prompts are masked: the image is headless, root's password is
/// locked, and the serial console must show boot progress only (the
/// getty generator would otherwise start `serial-getty@ttyS0` because of
/// `console=ttyS0`). A product enabling one of these keeps it unmasked.
///
/// systemd-bless-boot.service is masked too: its generator pulls it in
/// when systemd-boot counted the boot (`LoaderBootCountPath`), and it would
/// remove the entry's counter at boot-complete.target by itself. The update
/// daemon marks a slot good instead (`clip-updated mark-good`, after the
/// product's health checks), because marking good also raises the device's
/// minimum version (docs/update.md).
pub const MASKED: &[&str] = &[
    "getty.target",
    "getty@.service",
    "serial-getty@.service",
    "console-getty.service",
    "container-getty@.service",
    "systemd-bless-boot.service",
];

/// The boot target: no display manager.
pub const DEFAULT_TARGET: &str = "multi-user.target";

/// Whether `name` can be written into a preset file and a symlink name:
/// unit name characters and a known type suffix.
pub fn valid_unit_name(name: &str) -> bool {
    const TYPES: &[&str] = &[
        "service",
        "socket",
        "target",
        "timer",
        "path",
        "mount",
        "automount",
        "swap",
        "slice",
        "scope",
        "device",
    ];
    let Some((stem, suffix)) = name.rsplit_once('.') else {
        return false;
    };
    !stem.is_empty()
        && name.len() <= 255
        && TYPES.contains(&suffix)
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ":-_.@\\".contains(c))
}

/// The preset file: `enable` for each unit (sorted, once), then `disable *`.
pub fn preset_text(enabled: &[String]) -> String {
    let mut units: Vec<&str> = enabled.iter().map(String::as_str).collect();
    units.sort_unstable();
    units.dedup();
    let mut text =
        String::from("# Written by the CLIP OS image builder: only these units are enabled.\n");
    for unit in units {
        text.push_str("enable ");
        text.push_str(unit);
        text.push('\n');
    }
    text.push_str("disable *\n");
    text
}

/// The units to mask: [`MASKED`] minus those the product enables (an
/// instance `getty@tty1.service` keeps its template unmasked).
pub fn masked(enabled: &[String]) -> Vec<&'static str> {
    MASKED
        .iter()
        .copied()
        .filter(|m| {
            !enabled.iter().any(|e| {
                e == m
                    || (m.ends_with("@.service") && e.starts_with(m.trim_end_matches(".service")))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_enables_listed_units_before_disabling_all() {
        let text = preset_text(&[
            "systemd-pstore.service".into(),
            "clip-status.service".into(),
            "systemd-pstore.service".into(),
        ]);
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "enable clip-status.service",
                "enable systemd-pstore.service",
                "disable *"
            ]
        );
        assert_eq!(preset_text(&[]).lines().last(), Some("disable *"));
    }

    #[test]
    fn unit_names() {
        for ok in [
            "systemd-pstore.service",
            "getty@tty1.service",
            "var-lib.mount",
            "a\\x2db.service",
        ] {
            assert!(valid_unit_name(ok), "{ok}");
        }
        for bad in [
            "",
            "pstore",
            ".service",
            "a b.service",
            "x.conf",
            "../x.service",
            "a\nb.service",
        ] {
            assert!(!valid_unit_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn enabled_gettys_are_not_masked() {
        assert_eq!(masked(&[]), MASKED);
        let m = masked(&["serial-getty@ttyS0.service".into(), "getty.target".into()]);
        assert_eq!(
            m,
            [
                "getty@.service",
                "console-getty.service",
                "container-getty@.service",
                "systemd-bless-boot.service"
            ]
        );
    }
}
