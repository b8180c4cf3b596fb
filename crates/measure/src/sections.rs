//! The UKI sections systemd-stub measures into PCR 11, in its order.
//!
//! UAPI Group "Unified Kernel Image", "UKI TPM PCR Measurements": the stub
//! measures the sections it knows "in the order as listed", `.pcrsig`
//! excepted. The list and its order are systemd's `UnifiedSection` enum
//! (`src/fundamental/uki.h`, v257), which systemd-stub and systemd-measure
//! share; the order of the last three (`.profile`, `.dtbauto`, `.hwids`)
//! was checked against trixie's systemd-measure 257 (whose `--dtbauto` and
//! `--hwids` options are swapped: each file is measured under the other's
//! name; see the `systemd_measure_257_swaps_dtbauto_and_hwids` test).
//!
//! ```text
//! .linux .osrel .cmdline .initrd .ucode .splash .dtb .uname .sbat
//! .pcrsig (never measured) .pcrpkey .profile .dtbauto .hwids
//! ```

/// systemd v257's `unified_sections[]`, in measurement order.
pub const UNIFIED_SECTIONS: [&str; 14] = [
    ".linux", ".osrel", ".cmdline", ".initrd", ".ucode", ".splash", ".dtb", ".uname", ".sbat",
    ".pcrsig", ".pcrpkey", ".profile", ".dtbauto", ".hwids",
];

/// The one section the stub does not measure: it carries the signatures of
/// the measurement, so it cannot be part of it (`unified_section_measure`).
pub const PCRSIG: &str = ".pcrsig";

/// Sections whose measurement depends on the machine or on a choice made
/// at boot, which a build cannot predict: `.profile` (multi-profile UKIs:
/// the profile is chosen on the stub's command line) and `.dtbauto` (one of
/// several is picked by the firmware's hardware IDs).
pub const UNPREDICTABLE: [(&str, &str); 2] = [
    (
        ".profile",
        "multi-profile UKIs measure the profile chosen at boot",
    ),
    (
        ".dtbauto",
        "the stub measures the .dtbauto matching the machine's hardware IDs",
    ),
];

/// Position of `name` in the measurement order, `None` if the stub does
/// not know the section (the stub's own `.text`, `.data`, …).
pub fn order(name: &str) -> Option<usize> {
    UNIFIED_SECTIONS.iter().position(|s| *s == name)
}

/// Whether the stub measures a section called `name` into PCR 11.
pub fn is_measured(name: &str) -> bool {
    order(name).is_some() && name != PCRSIG
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcrsig_alone_is_not_measured() {
        let unmeasured: Vec<&str> = UNIFIED_SECTIONS
            .into_iter()
            .filter(|s| !is_measured(s))
            .collect();
        assert_eq!(unmeasured, [".pcrsig"]);
        assert!(!is_measured(".text"));
        assert_eq!(order(".linux"), Some(0));
        assert_eq!(order(".pcrpkey"), Some(10));
    }
}
