//! Tokens (spec §3.6): JSON objects with a `type` and the `keyslots` they
//! unlock, kept as [`serde_json::Value`]s; and the layout systemd writes
//! for TPM2-sealed keys (`systemd-tpm2`; systemd's `tpm2_make_luks2_json`
//! and `tpm2_parse_luks2_json` in src/shared/tpm2-util.c, field names as
//! of systemd 252 to 256: the older ones with `-`, the newer with `_`).

use rand_core::CryptoRngCore;
use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::header::{Header, Write};
use crate::json::encode_base64;
use crate::metadata::MAX_TOKENS;

impl Header {
    /// Stores `token` (a JSON object with `type` and `keyslots`) as token
    /// `id`, or the lowest free id. Returns the id and the writes.
    pub fn set_token(
        &mut self,
        id: Option<u32>,
        token: Value,
        rng: &mut impl CryptoRngCore,
    ) -> Result<(u32, Vec<Write>), Error> {
        self.metadata.check_requirements()?;
        if !token.is_object() {
            return Err(Error::Token {
                field: "(token)",
                problem: "not a JSON object".into(),
            });
        }
        let id = match id {
            Some(id) if id >= MAX_TOKENS => {
                return Err(Error::Token {
                    field: "(id)",
                    problem: format!("{id} is not below {MAX_TOKENS}"),
                });
            }
            Some(id) => id,
            None => (0..MAX_TOKENS)
                .find(|id| !self.metadata.tokens.contains_key(id))
                .ok_or(Error::NoFreeToken { max: MAX_TOKENS })?,
        };
        let hdr_size = self.bin.hdr_size;
        self.metadata.update(hdr_size, |root| {
            if let Some(t) = root.get_mut("tokens").and_then(Value::as_object_mut) {
                t.insert(id.to_string(), token);
            }
        })?;
        Ok((id, self.commit(rng)?))
    }

    /// Removes token `id`.
    pub fn remove_token(
        &mut self,
        id: u32,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Vec<Write>, Error> {
        self.metadata.check_requirements()?;
        if !self.metadata.tokens.contains_key(&id) {
            return Err(Error::NoSuchToken { token: id });
        }
        let hdr_size = self.bin.hdr_size;
        self.metadata.update(hdr_size, |root| {
            if let Some(t) = root.get_mut("tokens").and_then(Value::as_object_mut) {
                t.remove(&id.to_string());
            }
        })?;
        self.commit(rng)
    }
}

/// A `systemd-tpm2` token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tpm2Token {
    pub keyslots: Vec<u32>,
    /// `tpm2-blob`: the sealed object (TPM2B_PRIVATE + TPM2B_PUBLIC);
    /// systemd 256+ may store several (an array).
    pub blobs: Vec<Vec<u8>>,
    /// `tpm2-pcrs`: PCRs whose values the policy binds.
    pub pcrs: Vec<u32>,
    /// `tpm2-pcr-bank`: `sha256`, ...
    pub pcr_bank: Option<String>,
    /// `tpm2-primary-alg`: `ecc` or `rsa`.
    pub primary_alg: Option<String>,
    /// `tpm2-policy-hash` (hex in JSON), one per blob.
    pub policy_hashes: Vec<Vec<u8>>,
    /// `tpm2-pin`: a PIN (PolicyAuthValue) is needed.
    pub pin: bool,
    /// `tpm2_pubkey_pcrs`: PCRs covered by a signed policy.
    pub pubkey_pcrs: Vec<u32>,
    /// `tpm2_pubkey`: the policy-signing public key (PEM or DER bytes).
    pub pubkey: Option<Vec<u8>>,
    /// `tpm2_salt`: salt of the PIN's key derivation.
    pub salt: Option<Vec<u8>>,
    /// `tpm2_srk`: the serialized storage root key handle.
    pub srk: Option<Vec<u8>>,
    /// `tpm2_pcrlock` (systemd 255+).
    pub pcrlock: Option<bool>,
}

impl Tpm2Token {
    pub const TYPE: &'static str = "systemd-tpm2";

    fn bytes_list(
        m: &Map<String, Value>,
        field: &'static str,
        decode: fn(&str) -> Option<Vec<u8>>,
    ) -> Result<Vec<Vec<u8>>, Error> {
        let bad = |problem: &str| Error::Token {
            field,
            problem: problem.to_owned(),
        };
        let one = |v: &Value| {
            v.as_str()
                .and_then(decode)
                .ok_or_else(|| bad("not the expected encoding"))
        };
        match m.get(field) {
            None => Err(bad("missing")),
            Some(Value::Array(a)) if !a.is_empty() => a.iter().map(one).collect(),
            Some(v @ Value::String(_)) => Ok(vec![one(v)?]),
            Some(_) => Err(bad("not a string or a non-empty array of strings")),
        }
    }

    fn pcr_list(m: &Map<String, Value>, field: &'static str) -> Result<Vec<u32>, Error> {
        let Some(v) = m.get(field) else {
            return Ok(Vec::new());
        };
        let bad = || Error::Token {
            field,
            problem: "not an array of PCR numbers 0..=23".into(),
        };
        v.as_array()
            .ok_or_else(bad)?
            .iter()
            .map(|p| {
                p.as_u64()
                    .filter(|&n| n < 24)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(bad)
            })
            .collect()
    }

    fn opt_bytes(m: &Map<String, Value>, field: &'static str) -> Result<Option<Vec<u8>>, Error> {
        match m.get(field) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .and_then(decode_base64)
                .map(Some)
                .ok_or(Error::Token {
                    field,
                    problem: "not base64".into(),
                }),
        }
    }

    fn opt_string(m: &Map<String, Value>, field: &'static str) -> Result<Option<String>, Error> {
        match m.get(field) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Error::Token {
                field,
                problem: "not a string".into(),
            }),
        }
    }

    fn opt_bool(m: &Map<String, Value>, field: &'static str) -> Result<Option<bool>, Error> {
        match m.get(field) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(Error::Token {
                field,
                problem: "not a boolean".into(),
            }),
        }
    }

    /// Reads a token object as systemd does (required: `tpm2-pcrs`,
    /// `tpm2-blob`, `tpm2-policy-hash`; `tpm2_pubkey` when
    /// `tpm2_pubkey_pcrs` is not empty).
    pub fn from_json(v: &Value) -> Result<Tpm2Token, Error> {
        let m = v.as_object().ok_or(Error::Token {
            field: "(token)",
            problem: "not a JSON object".into(),
        })?;
        if m.get("type").and_then(Value::as_str) != Some(Self::TYPE) {
            return Err(Error::Token {
                field: "type",
                problem: format!("expected {:?}", Self::TYPE),
            });
        }
        let keyslots = m
            .get("keyslots")
            .and_then(Value::as_array)
            .and_then(|a| {
                a.iter()
                    .map(|k| k.as_str().and_then(|s| s.parse().ok()))
                    .collect::<Option<Vec<u32>>>()
            })
            .ok_or(Error::Token {
                field: "keyslots",
                problem: "not an array of keyslot numbers".into(),
            })?;
        if !m.contains_key("tpm2-pcrs") {
            return Err(Error::Token {
                field: "tpm2-pcrs",
                problem: "missing".into(),
            });
        }
        let blobs = Self::bytes_list(m, "tpm2-blob", decode_base64)?;
        let policy_hashes = Self::bytes_list(m, "tpm2-policy-hash", decode_hex)?;
        let pubkey_pcrs = Self::pcr_list(m, "tpm2_pubkey_pcrs")?;
        let pubkey = Self::opt_bytes(m, "tpm2_pubkey")?;
        if !pubkey_pcrs.is_empty() && pubkey.is_none() {
            return Err(Error::Token {
                field: "tpm2_pubkey",
                problem: "missing, but tpm2_pubkey_pcrs is set".into(),
            });
        }
        Ok(Tpm2Token {
            keyslots,
            blobs,
            pcrs: Self::pcr_list(m, "tpm2-pcrs")?,
            pcr_bank: Self::opt_string(m, "tpm2-pcr-bank")?,
            primary_alg: Self::opt_string(m, "tpm2-primary-alg")?,
            policy_hashes,
            pin: Self::opt_bool(m, "tpm2-pin")?.unwrap_or(false),
            pubkey_pcrs,
            pubkey,
            salt: Self::opt_bytes(m, "tpm2_salt")?,
            srk: Self::opt_bytes(m, "tpm2_srk")?,
            pcrlock: Self::opt_bool(m, "tpm2_pcrlock")?,
        })
    }

    /// The token object, fields in systemd's order; a single blob and
    /// policy hash as plain strings (as systemd before 256 writes them).
    pub fn to_json(&self) -> Value {
        let list = |items: &[Vec<u8>], encode: fn(&[u8]) -> String| match items {
            [one] => json!(encode(one)),
            many => json!(many.iter().map(|b| encode(b)).collect::<Vec<_>>()),
        };
        let mut m = Map::new();
        m.insert("type".into(), json!(Self::TYPE));
        m.insert(
            "keyslots".into(),
            json!(self.keyslots.iter().map(u32::to_string).collect::<Vec<_>>()),
        );
        m.insert("tpm2-blob".into(), list(&self.blobs, encode_base64));
        m.insert("tpm2-pcrs".into(), json!(self.pcrs));
        if let Some(bank) = &self.pcr_bank {
            m.insert("tpm2-pcr-bank".into(), json!(bank));
        }
        if let Some(alg) = &self.primary_alg {
            m.insert("tpm2-primary-alg".into(), json!(alg));
        }
        m.insert(
            "tpm2-policy-hash".into(),
            list(&self.policy_hashes, encode_hex),
        );
        m.insert("tpm2-pin".into(), json!(self.pin));
        if !self.pubkey_pcrs.is_empty() {
            m.insert("tpm2_pubkey_pcrs".into(), json!(self.pubkey_pcrs));
        }
        if let Some(k) = &self.pubkey {
            m.insert("tpm2_pubkey".into(), json!(encode_base64(k)));
        }
        if let Some(s) = &self.salt {
            m.insert("tpm2_salt".into(), json!(encode_base64(s)));
        }
        if let Some(s) = &self.srk {
            m.insert("tpm2_srk".into(), json!(encode_base64(s)));
        }
        if let Some(p) = self.pcrlock {
            m.insert("tpm2_pcrlock".into(), json!(p));
        }
        Value::Object(m)
    }
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64ct::{Base64, Encoding};
    Base64::decode_vec(s).ok()
}

fn encode_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A token in the layout of systemd 254's `tpm2_make_luks2_json` (its
    /// fields in its order, short made-up values), as
    /// `systemd-cryptenroll --tpm2-pcrs=7 --tpm2-public-key=... --tpm2-with-pin=yes`
    /// shapes it.
    const SYSTEMD_254: &str = r#"{"type":"systemd-tpm2","keyslots":["1"],"tpm2-blob":"AJ4AIAAA","tpm2-pcrs":[7],"tpm2-pcr-bank":"sha256","tpm2-primary-alg":"ecc","tpm2-policy-hash":"6a0b","tpm2-pin":true,"tpm2_pubkey_pcrs":[11],"tpm2_pubkey":"LS0tLS1CRUdJTg==","tpm2_salt":"c2FsdA==","tpm2_srk":"gQAAAQ=="}"#;

    #[test]
    fn systemd_layout_round_trips() {
        let v: Value = serde_json::from_str(SYSTEMD_254).unwrap();
        let t = Tpm2Token::from_json(&v).unwrap();
        assert_eq!(t.keyslots, [1]);
        assert_eq!(t.pcrs, [7]);
        assert_eq!(t.pubkey_pcrs, [11]);
        assert_eq!(t.policy_hashes, [vec![0x6a, 0x0b]]);
        assert_eq!(t.pubkey.as_deref(), Some(&b"-----BEGIN"[..]));
        assert!(t.pin);
        assert_eq!(serde_json::to_string(&t.to_json()).unwrap(), SYSTEMD_254);
    }

    #[test]
    fn systemd_refusals() {
        let with = |edit: fn(&mut Map<String, Value>)| {
            let mut v: Value = serde_json::from_str(SYSTEMD_254).unwrap();
            edit(v.as_object_mut().unwrap());
            Tpm2Token::from_json(&v).unwrap_err()
        };
        assert!(matches!(
            with(|m| {
                m.remove("tpm2-blob");
            }),
            Error::Token {
                field: "tpm2-blob",
                ..
            }
        ));
        assert!(matches!(
            with(|m| {
                m.remove("tpm2-pcrs");
            }),
            Error::Token {
                field: "tpm2-pcrs",
                ..
            }
        ));
        assert!(matches!(
            with(|m| {
                m.remove("tpm2_pubkey");
            }),
            Error::Token {
                field: "tpm2_pubkey",
                ..
            }
        ));
        assert!(matches!(
            with(|m| {
                m.insert("tpm2-pcrs".into(), json!([24]));
            }),
            Error::Token {
                field: "tpm2-pcrs",
                ..
            }
        ));
        assert!(matches!(
            with(|m| {
                m.insert("tpm2-policy-hash".into(), json!("xyz"));
            }),
            Error::Token {
                field: "tpm2-policy-hash",
                ..
            }
        ));
        assert!(matches!(
            with(|m| {
                m.insert("type".into(), json!("other"));
            }),
            Error::Token { field: "type", .. }
        ));
    }
}
