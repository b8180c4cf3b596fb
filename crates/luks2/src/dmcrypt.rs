//! From a segment's `encryption` and `integrity` to the device-mapper
//! tables cryptsetup 2.6 builds (lib/libdevmapper.c `cipher_dm2c` and
//! `get_dm_crypt_params`, lib/integrity/integrity.c `INTEGRITY_tag_size`
//! and `INTEGRITY_key_size`, lib/luks2/luks2_json_metadata.c
//! `LUKS2_activate`). This crate writes no table; the device side builds
//! them from these values:
//!
//! Without integrity, one dm-crypt target over the data area:
//!
//! ```text
//! <start> <sectors> crypt <cipher> <volume key hex> <iv_offset> <device> <data offset/512> [1 sector_size:<n>]
//! aes-xts-plain64 ...
//! ```
//!
//! With integrity, cryptsetup stacks dm-crypt on a dm-integrity device that
//! covers the data area and stores the tags:
//!
//! ```text
//! integrity: <device> <data offset/512> <tag size> J <#opts> block_size:<sector size> [fix_padding fix_hmac]
//! crypt:     <cipher> <volume key hex> <iv_offset> <integrity device> 0 <#opts> [sector_size:<n>] integrity:<tag size>:aead
//! ```
//!
//! where `<cipher>` is the kernel crypto API name: `aes-xts-plain64` with
//! `hmac(sha256)` becomes `capi:authenc(hmac(sha256),xts(aes))-plain64`
//! with a 32-byte tag; `aes-xts-random` with `hmac(sha256)` becomes
//! `capi:authenc(hmac(sha256),xts(aes))-random` with 48 bytes (16 of IV);
//! `aes-gcm-random` with `aead` becomes `capi:gcm(aes)-random` (28 bytes);
//! `chacha20-random` with `poly1305` becomes
//! `capi:rfc7539(chacha20,poly1305)-random` (28 bytes); `aegis128-random`
//! with `aead` becomes `capi:aegis128-random` (32 bytes). The volume key is
//! passed whole: for `authenc`, the kernel takes the encryption key first
//! and the MAC key (the last `integrity key size` bytes) after it, which is
//! how the LUKS2 volume key is laid out (cipher key, then integrity key).
//! dm-integrity gets no key (the MAC is dm-crypt's); its size is what its
//! superblock reports (`provided_data_sectors`), not the raw area size.
//! `fix_padding` and `fix_hmac` are added when the kernel's dm-integrity
//! supports them (target versions 1.4 and 1.7), as cryptsetup does.

use crate::error::Error;

/// What dm-crypt needs besides the key, device and offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmCryptSpec {
    /// The table's cipher field (`aes-xts-plain64`,
    /// `capi:authenc(hmac(sha256),xts(aes))-plain64`).
    pub cipher: String,
    /// Integrity tag bytes per sector (0: none).
    pub tag_size: u32,
    /// The table's integrity option (`integrity:32:aead`), with integrity.
    pub integrity_option: Option<String>,
}

/// Splits `aes-xts-plain64` into (`aes`, `xts-plain64`) as cryptsetup's
/// `crypt_parse_name_and_mode` does (a bare `mode` of `plain` is
/// `cbc-plain`; a name without mode is `cbc-plain`; `null` is
/// `cipher_null-ecb`).
pub fn parse_cipher(spec: &str) -> Result<(String, String), Error> {
    let bad = |problem| Error::Cipher {
        spec: spec.to_owned(),
        problem,
    };
    if spec.is_empty() || spec.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("empty or with whitespace"));
    }
    if spec == "null" || spec == "cipher_null" {
        return Ok(("cipher_null".into(), "ecb".into()));
    }
    match spec.split_once('-') {
        Some((cipher, mode)) if !cipher.is_empty() && !mode.is_empty() => {
            let mode = if mode == "plain" { "cbc-plain" } else { mode };
            Ok((cipher.to_owned(), mode.to_owned()))
        }
        Some(_) => Err(bad("empty cipher or mode")),
        None => Ok((spec.to_owned(), "cbc-plain".into())),
    }
}

/// Key bytes an integrity algorithm takes from the end of the volume key
/// (`INTEGRITY_key_size`); `None` for an unknown algorithm.
pub fn integrity_key_size(integrity: &str) -> Option<u32> {
    match integrity {
        "aead" | "poly1305" | "none" => Some(0),
        "hmac(sha1)" => Some(20),
        "hmac(sha256)" => Some(32),
        "hmac(sha512)" => Some(64),
        _ => None,
    }
}

/// Tag bytes per sector (`INTEGRITY_tag_size`): the IV stored by `-random`
/// modes plus the authentication tag.
pub fn integrity_tag_size(integrity: Option<&str>, cipher: &str, mode: &str) -> u32 {
    let mut iv = match mode {
        "xts-random" => 16,
        "gcm-random" => 12,
        "ccm-random" => 8,
        "ctr-random" => 16,
        "random" if cipher == "aegis256" => 32,
        "random" => 16,
        _ => 0,
    };
    let auth = match integrity {
        None | Some("none") => 0,
        Some("aead") | Some("cmac(aes)") => 16,
        Some("hmac(sha1)") => 20,
        Some("hmac(sha256)") => 32,
        Some("hmac(sha512)") => 64,
        Some("poly1305") => {
            if iv != 0 {
                iv = 12;
            }
            16
        }
        Some(_) => 0,
    };
    iv + auth
}

/// The dm-crypt cipher field and integrity option for a segment's
/// `encryption` and `integrity.type` (`cipher_dm2c`).
pub fn dm_crypt_spec(encryption: &str, integrity: Option<&str>) -> Result<DmCryptSpec, Error> {
    let bad = |problem| Error::Cipher {
        spec: encryption.to_owned(),
        problem,
    };
    let Some(integrity) = integrity else {
        parse_cipher(encryption)?;
        return Ok(DmCryptSpec {
            cipher: encryption.to_owned(),
            tag_size: 0,
            integrity_option: None,
        });
    };
    let (cipher, rest) = parse_cipher(encryption)?;
    // The IV generator is the last dash-separated part; a mode, if any,
    // comes before it.
    let (mode, iv) = match rest.split_once('-') {
        Some((mode, iv)) => (Some(mode), iv),
        None => (None, rest.as_str()),
    };
    let capi = match mode {
        Some(mode) => format!("{mode}({cipher})"),
        None => cipher.clone(),
    };
    let tag_size = integrity_tag_size(Some(integrity), &cipher, &rest);
    if tag_size == 0 {
        return Err(bad("the integrity type gives no tag for this cipher"));
    }
    let (capi, kind) = match integrity {
        "none" => (format!("capi:{capi}-{iv}"), "none"),
        "aead" if mode == Some("ccm") => (format!("capi:rfc4309({capi})-{iv}"), "aead"),
        "aead" => (format!("capi:{capi}-{iv}"), "aead"),
        "poly1305" => (format!("capi:rfc7539({capi},poly1305)-{iv}"), "aead"),
        other => (format!("capi:authenc({other},{capi})-{iv}"), "aead"),
    };
    Ok(DmCryptSpec {
        cipher: capi,
        tag_size,
        integrity_option: Some(format!("integrity:{tag_size}:{kind}")),
    })
}

/// Cipher key sizes (bytes) this crate formats segments with, by
/// `encryption`; `None` for ciphers it does not create.
pub fn cipher_key_sizes(encryption: &str) -> Option<&'static [usize]> {
    match encryption {
        "aes-xts-plain64" | "aes-xts-random" => Some(&[32, 64]),
        "aes-cbc-essiv:sha256" | "aes-gcm-random" => Some(&[16, 24, 32]),
        "chacha20-random" => Some(&[32]),
        "aegis128-random" => Some(&[16]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The common cases, as cryptsetup 2.6's `cipher_dm2c` and
    /// `INTEGRITY_tag_size` compute them (see the module docs).
    /// encryption, integrity, dm-crypt cipher, tag size, integrity option.
    type Case<'a> = (&'a str, Option<&'a str>, &'a str, u32, Option<&'a str>);

    #[test]
    fn cryptsetup_mappings() {
        let cases: &[Case<'_>] = &[
            ("aes-xts-plain64", None, "aes-xts-plain64", 0, None),
            (
                "aes-xts-plain64",
                Some("hmac(sha256)"),
                "capi:authenc(hmac(sha256),xts(aes))-plain64",
                32,
                Some("integrity:32:aead"),
            ),
            (
                "aes-xts-random",
                Some("hmac(sha256)"),
                "capi:authenc(hmac(sha256),xts(aes))-random",
                48,
                Some("integrity:48:aead"),
            ),
            (
                "aes-xts-plain64",
                Some("hmac(sha512)"),
                "capi:authenc(hmac(sha512),xts(aes))-plain64",
                64,
                Some("integrity:64:aead"),
            ),
            (
                "aes-gcm-random",
                Some("aead"),
                "capi:gcm(aes)-random",
                28,
                Some("integrity:28:aead"),
            ),
            (
                "aes-ccm-random",
                Some("aead"),
                "capi:rfc4309(ccm(aes))-random",
                24,
                Some("integrity:24:aead"),
            ),
            (
                "chacha20-random",
                Some("poly1305"),
                "capi:rfc7539(chacha20,poly1305)-random",
                28,
                Some("integrity:28:aead"),
            ),
            (
                "aegis128-random",
                Some("aead"),
                "capi:aegis128-random",
                32,
                Some("integrity:32:aead"),
            ),
            (
                "aes-xts-random",
                Some("none"),
                "capi:xts(aes)-random",
                16,
                Some("integrity:16:none"),
            ),
        ];
        for &(enc, integrity, cipher, tag, option) in cases {
            let spec = dm_crypt_spec(enc, integrity).unwrap();
            assert_eq!(spec.cipher, cipher, "{enc} {integrity:?}");
            assert_eq!(spec.tag_size, tag, "{enc} {integrity:?}");
            assert_eq!(
                spec.integrity_option.as_deref(),
                option,
                "{enc} {integrity:?}"
            );
        }
    }

    #[test]
    fn refusals() {
        // No tag: cryptsetup refuses (plain64 IV with "none").
        assert!(dm_crypt_spec("aes-xts-plain64", Some("none")).is_err());
        assert!(dm_crypt_spec("aes-xts-plain64", Some("crc32")).is_err());
        assert!(dm_crypt_spec("", None).is_err());
        assert!(dm_crypt_spec("aes xts", None).is_err());
    }

    #[test]
    fn names_and_keys() {
        assert_eq!(
            parse_cipher("aes-xts-plain64").unwrap(),
            ("aes".into(), "xts-plain64".into())
        );
        assert_eq!(
            parse_cipher("aes-plain").unwrap(),
            ("aes".into(), "cbc-plain".into())
        );
        assert_eq!(
            parse_cipher("aes").unwrap(),
            ("aes".into(), "cbc-plain".into())
        );
        assert_eq!(integrity_key_size("hmac(sha256)"), Some(32));
        assert_eq!(integrity_key_size("aead"), Some(0));
        assert_eq!(integrity_key_size("hmac(md5)"), None);
    }
}
