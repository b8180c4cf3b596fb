//! A minimal DER walker that keeps the bytes as they are in the file.
//!
//! Typed decoding (`der`, `cms`) sorts SET OF values and re-encodes, but a
//! signature covers the exact bytes that were signed: the authenticated
//! attributes (RFC 5652 section 5.4) and a certificate's TBSCertificate.
//! `der` rejects non-canonical lengths, so each element here is DER.

use der::{Decode, Header, Reader, SliceReader, Tag};

/// One element: its tag, content octets, whole encoding and offset in the
/// outermost input (for error messages).
#[derive(Debug, Clone, Copy)]
pub struct Tlv<'a> {
    pub tag: Tag,
    pub value: &'a [u8],
    pub raw: &'a [u8],
    pub offset: usize,
}

/// A parse failure at `offset` (in the outermost input).
#[derive(Debug)]
pub struct TlvError {
    pub offset: usize,
    pub reason: String,
}

impl<'a> Tlv<'a> {
    /// The single element filling `bytes`, which start at `offset`.
    pub fn parse(bytes: &'a [u8], offset: usize) -> Result<Self, TlvError> {
        let mut all = Self::children_of(bytes, offset)?;
        match all.len() {
            1 => Ok(all.remove(0)),
            n => Err(TlvError {
                offset,
                reason: format!("expected one DER element, found {n}"),
            }),
        }
    }

    /// The elements filling `bytes` back to back.
    fn children_of(bytes: &'a [u8], offset: usize) -> Result<Vec<Self>, TlvError> {
        let fail = |at: usize, e: der::Error| TlvError {
            offset: at,
            reason: e.to_string(),
        };
        let mut reader = SliceReader::new(bytes).map_err(|e| fail(offset, e))?;
        let mut out = Vec::new();
        while !reader.is_finished() {
            let at = offset + usize::try_from(reader.position()).unwrap_or(0);
            let header = reader.peek_header().map_err(|e| fail(at, e))?;
            let raw = reader.tlv_bytes().map_err(|e| fail(at, e))?;
            let len = usize::try_from(header.length).map_err(|e| fail(at, e))?;
            let head = raw.len() - len;
            out.push(Tlv {
                tag: header.tag,
                value: &raw[head..],
                raw,
                offset: at,
            });
        }
        Ok(out)
    }

    /// The elements inside this constructed one.
    pub fn children(&self) -> Result<Vec<Tlv<'a>>, TlvError> {
        if !self.tag.is_constructed() {
            return Err(self.error(format!("{} is not constructed", self.tag)));
        }
        Self::children_of(
            self.value,
            self.offset + (self.raw.len() - self.value.len()),
        )
    }

    /// Checks the tag.
    pub fn expect(self, tag: Tag, what: &str) -> Result<Self, TlvError> {
        if self.tag == tag {
            Ok(self)
        } else {
            Err(self.error(format!("{what}: expected {tag}, found {}", self.tag)))
        }
    }

    /// Decodes the element as `T`.
    pub fn decode<T: Decode<'a>>(&self, what: &str) -> Result<T, TlvError> {
        T::from_der(self.raw).map_err(|e| self.error(format!("{what}: {e}")))
    }

    pub fn error(&self, reason: String) -> TlvError {
        TlvError {
            offset: self.offset,
            reason,
        }
    }
}

/// `tag` with the content octets `value`: how the signed attributes are
/// hashed, with the SET tag instead of their `[0] IMPLICIT` one.
pub fn encode(tag: Tag, value: &[u8]) -> der::Result<Vec<u8>> {
    use der::Encode;
    let mut out = Header::new(tag, value.len())?.to_der()?;
    out.extend_from_slice(value);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_nested_elements_with_offsets() {
        // SEQUENCE { INTEGER 5, [0] { OCTET STRING "ab" } }
        let bytes = [
            0x30, 0x09, 0x02, 0x01, 0x05, 0xa0, 0x04, 0x04, 0x02, b'a', b'b',
        ];
        let seq = Tlv::parse(&bytes, 100).unwrap();
        assert_eq!(seq.tag, Tag::Sequence);
        let kids = seq.children().unwrap();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[0].offset, 102);
        assert_eq!(kids[0].value, [5]);
        assert_eq!(kids[1].offset, 105);
        let inner = kids[1].children().unwrap();
        assert_eq!(inner[0].offset, 107);
        assert_eq!(inner[0].value, b"ab");
        assert_eq!(encode(Tag::Set, kids[1].value).unwrap()[..2], [0x31, 0x04]);
    }

    #[test]
    fn rejects_truncation_trailing_bytes_and_long_form_lengths() {
        assert!(Tlv::parse(&[0x30, 0x03, 0x02, 0x01], 0).is_err());
        assert!(Tlv::parse(&[0x05, 0x00, 0x00], 0).is_err());
        assert!(Tlv::parse(&[0x04, 0x81, 0x01, 0x00], 0).is_err());
        assert!(
            Tlv::parse(&[0x02, 0x01, 0x05], 0)
                .unwrap()
                .children()
                .is_err()
        );
    }
}
