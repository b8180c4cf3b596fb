//! Canonical JSON as TUF signs it (spec 1.0.31 §4.2 "File formats: general
//! principles", which names the OLPC canonical JSON), byte for byte as
//! securesystemslib's `encode_canonical` writes it and python-tuf's
//! `CanonicalJSONSerializer` uses it:
//!
//! * objects with their keys sorted (by Unicode code point, which for UTF-8
//!   is byte order), no whitespace anywhere;
//! * strings between `"`, escaping only `"` and `\` (with a backslash); every
//!   other character, control characters and non-ASCII included, as is (UTF-8);
//! * integers only: a float is refused, as securesystemslib refuses it;
//! * `true`, `false`, `null`.

use serde_json::Value;

/// A value that canonical JSON cannot encode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    #[error("canonical JSON has no floats: {0} is not an integer")]
    Float(String),
}

/// The canonical JSON bytes of `value`.
pub fn encode(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::new();
    write(value, &mut out)?;
    Ok(out)
}

/// The file form of `value`: canonical JSON except that strings are escaped
/// as JSON requires (control characters as `\n`, `\u001f`, …), so that any
/// JSON reader takes it; keys sorted, no whitespace. For metadata whose
/// strings have no control characters this is exactly the canonical form.
pub fn to_file(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    // The same refusals as the canonical form (floats).
    encode(value)?;
    Ok(serde_json::to_vec(&sorted(value)).unwrap_or_default())
}

/// `value` with every object's keys in sorted order (the workspace's
/// serde_json keeps insertion order).
fn sorted(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

fn write(value: &Value, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() {
                out.extend_from_slice(n.to_string().as_bytes());
            } else {
                return Err(CanonicalError::Float(n.to_string()));
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s.as_bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorted_compact_minimal_escapes() {
        let v = json!({"b": [1, -2, true, null], "a": "x\"y\\z\n\u{e9}", "A": {}});
        assert_eq!(
            encode(&v).unwrap(),
            "{\"A\":{},\"a\":\"x\\\"y\\\\z\n\u{e9}\",\"b\":[1,-2,true,null]}".as_bytes()
        );
    }

    #[test]
    fn keys_sorted_by_code_point_not_insertion() {
        // preserve_order keeps insertion order in the map; the encoding sorts.
        let v: Value = serde_json::from_str(r#"{"z":1,"é":2,"Z":3,"_type":4}"#).unwrap();
        assert_eq!(
            encode(&v).unwrap(),
            "{\"Z\":3,\"_type\":4,\"z\":1,\"é\":2}".as_bytes()
        );
    }

    #[test]
    fn file_form_escapes_control_characters_only() {
        let v = json!({"b": "x\"\\\n\u{1}é", "a": 1});
        assert_eq!(
            to_file(&v).unwrap(),
            "{\"a\":1,\"b\":\"x\\\"\\\\\\n\\u0001é\"}".as_bytes()
        );
        let plain = json!({"z": [{"y": 1, "x": "é"}]});
        assert_eq!(to_file(&plain).unwrap(), encode(&plain).unwrap());
    }

    #[test]
    fn floats_refused() {
        let v: Value = serde_json::from_str(r#"{"a":1.5}"#).unwrap();
        assert_eq!(encode(&v), Err(CanonicalError::Float("1.5".into())));
        let v: Value = serde_json::from_str("1.0").unwrap();
        assert!(encode(&v).is_err());
    }

    #[test]
    fn large_integers() {
        let v: Value = serde_json::from_str("[18446744073709551615,-9223372036854775808]").unwrap();
        assert_eq!(
            encode(&v).unwrap(),
            b"[18446744073709551615,-9223372036854775808]"
        );
    }
}
