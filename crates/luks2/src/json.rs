//! Typed access to the JSON metadata (spec §3): each getter names the JSON
//! path it failed on. Numbers that are 64-bit in LUKS2 are decimal strings
//! ("string-uint64", §3); object names are decimal ids (§3, "must have their
//! names formatted as a string that represents a number").

use base64ct::{Base64, Encoding};
use serde_json::{Map, Value};

use crate::error::Error;

pub(crate) type Object = Map<String, Value>;

/// `base.key`, or `key` at the top level.
pub(crate) fn join(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_owned()
    } else {
        format!("{base}.{key}")
    }
}

pub(crate) fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Object, Error> {
    v.as_object().ok_or_else(|| Error::Field {
        path: path.to_owned(),
        expected: "an object",
    })
}

pub(crate) fn field<'a>(m: &'a Object, base: &str, key: &str) -> Result<&'a Value, Error> {
    m.get(key).ok_or_else(|| Error::Field {
        path: join(base, key),
        expected: "present",
    })
}

pub(crate) fn sub_object<'a>(m: &'a Object, base: &str, key: &str) -> Result<&'a Object, Error> {
    object(field(m, base, key)?, &join(base, key))
}

/// A non-empty string (cryptsetup's `json_contains_string`).
pub(crate) fn string<'a>(m: &'a Object, base: &str, key: &str) -> Result<&'a str, Error> {
    match m.get(key).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Error::Field {
            path: join(base, key),
            expected: "a non-empty string",
        }),
    }
}

/// A decimal string of at most 20 digits that fits in u64.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// A string-uint64 field.
pub(crate) fn u64_string(m: &Object, base: &str, key: &str) -> Result<u64, Error> {
    let s = string(m, base, key)?;
    parse_u64(s).ok_or_else(|| Error::Value {
        path: join(base, key),
        value: format!("{s:?}"),
        expected: "a decimal string-uint64".into(),
    })
}

/// A JSON integer in 0..=u32::MAX (cryptsetup's `validate_json_uint32`).
pub(crate) fn u32_number(m: &Object, base: &str, key: &str) -> Result<u32, Error> {
    let v = field(m, base, key)?;
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| Error::Value {
            path: join(base, key),
            value: v.to_string(),
            expected: "an integer in 0..=4294967295".into(),
        })
}

/// An object name: a canonical decimal id below `max`.
pub(crate) fn id(base: &str, key: &str, max: u32) -> Result<u32, Error> {
    let bad = || Error::Id {
        path: base.to_owned(),
        key: key.to_owned(),
        max,
    };
    let n = parse_u64(key).ok_or_else(bad)?;
    if n >= u64::from(max) || (key.len() > 1 && key.starts_with('0')) {
        return Err(bad());
    }
    u32::try_from(n).map_err(|_| bad())
}

/// An array of strings.
pub(crate) fn strings(m: &Object, base: &str, key: &str) -> Result<Vec<String>, Error> {
    let bad = || Error::Field {
        path: join(base, key),
        expected: "an array of strings",
    };
    let arr = m.get(key).and_then(Value::as_array).ok_or_else(bad)?;
    arr.iter()
        .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
        .collect()
}

/// An optional array of strings (absent: empty).
pub(crate) fn optional_strings(m: &Object, base: &str, key: &str) -> Result<Vec<String>, Error> {
    if m.contains_key(key) {
        strings(m, base, key)
    } else {
        Ok(Vec::new())
    }
}

/// An array of ids (as strings) that must each name a key of `existing`.
pub(crate) fn references<T>(
    m: &Object,
    base: &str,
    key: &str,
    existing: &std::collections::BTreeMap<u32, T>,
    what: &str,
) -> Result<Vec<u32>, Error> {
    let path = join(base, key);
    let mut out = Vec::new();
    for s in strings(m, base, key)? {
        let target = parse_u64(&s)
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| existing.contains_key(n) && n.to_string() == s)
            .ok_or_else(|| Error::Reference {
                path: path.clone(),
                target: format!("{what} {s:?}"),
            })?;
        out.push(target);
    }
    Ok(out)
}

/// Base64 (RFC 4648, padded) binary data.
pub(crate) fn base64(m: &Object, base: &str, key: &str) -> Result<Vec<u8>, Error> {
    let s = string(m, base, key)?;
    Base64::decode_vec(s).map_err(|_| Error::Value {
        path: join(base, key),
        value: format!("{s:?}"),
        expected: "base64".into(),
    })
}

pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}

/// Exactly these keys (cryptsetup counts the kdf object's members).
pub(crate) fn exact_keys(m: &Object, base: &str, keys: &[&str]) -> Result<(), Error> {
    if m.len() == keys.len() && keys.iter().all(|k| m.contains_key(*k)) {
        return Ok(());
    }
    let mut found: Vec<&str> = m.keys().map(String::as_str).collect();
    found.sort_unstable();
    Err(Error::Value {
        path: base.to_owned(),
        value: format!("an object with {found:?}"),
        expected: format!("exactly {keys:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_canonical_and_bounded() {
        assert_eq!(id("keyslots", "0", 32), Ok(0));
        assert_eq!(id("keyslots", "31", 32), Ok(31));
        for bad in [
            "32",
            "01",
            "",
            "-1",
            "+1",
            " 1",
            "1a",
            "99999999999999999999999",
        ] {
            assert!(id("keyslots", bad, 32).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn u64_strings_are_digits_only() {
        assert_eq!(parse_u64("0"), Some(0));
        assert_eq!(parse_u64("18446744073709551615"), Some(u64::MAX));
        for bad in ["18446744073709551616", "", "+5", "-5", "5 ", "0x10"] {
            assert_eq!(parse_u64(bad), None, "{bad:?}");
        }
    }
}
