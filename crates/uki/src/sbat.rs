//! The `.sbat` section: shim's SBAT CSV (rhboot/shim `SBAT.md`), merged the
//! way systemd's ukify (v257, `merge_sbat`) does: the stub's entries, then
//! the kernel's, then the caller's (by default one `uki` line), each without
//! its own `sbat,` header line, under a single header, ending "\n\0".

use crate::error::{Error, InputName};
use crate::text::check_text;

/// The SBAT header line (the format's own generation).
pub const SBAT_HEADER: &str =
    "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md";

/// ukify's default entry for the UKI itself (`STUB_SBAT`), used when the
/// caller gives none.
pub const DEFAULT_UKI_SBAT: &str =
    "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md
uki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/
";

/// The entries of one SBAT text (lines after the `sbat,` header).
fn entries(input: InputName, text: &str) -> Result<Vec<&str>, Error> {
    let mut lines = text.lines();
    match lines.next() {
        Some(first) if first.starts_with("sbat,") => Ok(lines.collect()),
        _ => Err(Error::Sbat { input }),
    }
}

/// SBAT text from a PE section's raw data: trailing NULs dropped.
pub fn section_text(input: InputName, raw: &[u8]) -> Result<&str, Error> {
    let end = raw.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    check_text(input, &raw[..end])
}

/// Merges SBAT texts in order (`(input name, text)`), as ukify does.
pub fn merge(parts: &[(InputName, &str)]) -> Result<String, Error> {
    let mut all = Vec::new();
    for (input, text) in parts {
        all.extend(entries(input, text)?);
    }
    Ok(format!("{SBAT_HEADER}\n{}\n\0", all.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_like_ukify() {
        let stub = "sbat,1,SBAT Version,sbat,1,https://x\nsystemd-stub,1,The systemd Developers,systemd,254,https://systemd.io/\n";
        let merged = merge(&[("stub", stub), ("sbat", DEFAULT_UKI_SBAT)]).unwrap();
        assert_eq!(
            merged,
            format!(
                "{SBAT_HEADER}\nsystemd-stub,1,The systemd Developers,systemd,254,https://systemd.io/\n\
                 uki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/\n\0"
            )
        );
    }

    #[test]
    fn refuses_text_without_header() {
        assert_eq!(
            merge(&[("--sbat", "uki,1,UKI\n")]),
            Err(Error::Sbat { input: "--sbat" })
        );
        assert_eq!(
            merge(&[("--sbat", "")]),
            Err(Error::Sbat { input: "--sbat" })
        );
    }

    #[test]
    fn section_text_drops_padding() {
        assert_eq!(
            section_text("stub", b"sbat,1\nx\n\0\0\0").unwrap(),
            "sbat,1\nx\n"
        );
        assert!(section_text("stub", b"sbat\xff\0").is_err());
    }
}
