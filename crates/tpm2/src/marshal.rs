//! Canonical TPM 2.0 marshaling (Part 1, §18 "Command/Response Structure";
//! Part 2, §4–§11): big-endian integers and TPM2B structures (a `u16` size
//! followed by that many bytes).
//!
//! The writer appends to a `Vec`; the reader checks every length against the
//! bytes left and reports the offset of the field it could not read, so a
//! malformed or hostile response is an error, never a panic or a huge
//! allocation.

use crate::error::Error;

/// Appends marshaled values to a buffer.
pub(crate) trait Put {
    fn u8(&mut self, v: u8) -> &mut Self;
    fn u16(&mut self, v: u16) -> &mut Self;
    fn u32(&mut self, v: u32) -> &mut Self;
    /// A TPM2B: the length as `u16`, then the bytes. Callers keep `bytes`
    /// within the structure's maximum; a longer slice is a bug.
    fn tpm2b(&mut self, bytes: &[u8]) -> &mut Self;
}

impl Put for Vec<u8> {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.push(v);
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn tpm2b(&mut self, bytes: &[u8]) -> &mut Self {
        let len = u16::try_from(bytes.len()).expect("TPM2B longer than 65535 bytes");
        self.u16(len);
        self.extend_from_slice(bytes);
        self
    }
}

/// Reads marshaled values from a byte slice, front to back.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Added to `pos` in error offsets (where `bytes` sits in a larger
    /// buffer, e.g. the parameter area inside a response).
    base: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self::at(bytes, 0)
    }

    /// A reader over `bytes`, which start `base` bytes into the buffer that
    /// error offsets refer to.
    pub fn at(bytes: &'a [u8], base: usize) -> Self {
        Reader {
            bytes,
            pos: 0,
            base,
        }
    }

    /// Offset of the next byte, counted from the start of the whole buffer.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn err(&self, what: &'static str) -> Error {
        Error::Malformed {
            what,
            offset: self.offset(),
        }
    }

    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Error> {
        if n > self.remaining() {
            return Err(self.err(what));
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, Error> {
        Ok(self.bytes(1, what)?[0])
    }

    pub fn u16(&mut self, what: &'static str) -> Result<u16, Error> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self, what: &'static str) -> Result<u32, Error> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A TPM2B's contents, refused if longer than `max` (the structure's
    /// maximum in Part 2).
    pub fn tpm2b(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], Error> {
        let start = self.pos;
        let len = usize::from(self.u16(what)?);
        if len > max || len > self.remaining() {
            self.pos = start;
            return Err(self.err(what));
        }
        self.bytes(len, what)
    }

    /// A whole TPM2B (size field included), as stored and sent back to the
    /// TPM unchanged (TPM2B_PRIVATE, TPM2B_PUBLIC).
    pub fn tpm2b_raw(&mut self, max: usize, what: &'static str) -> Result<&'a [u8], Error> {
        let start = self.pos;
        self.tpm2b(max, what)?;
        Ok(&self.bytes[start..self.pos])
    }

    /// Fails unless every byte was read.
    pub fn finish(&self, what: &'static str) -> Result<(), Error> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.err(what))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_big_endian() {
        let mut v = Vec::new();
        v.u8(1).u16(0x0203).u32(0x0405_0607).tpm2b(&[8, 9]);
        assert_eq!(v, [1, 2, 3, 4, 5, 6, 7, 0, 2, 8, 9]);
        let mut r = Reader::new(&v);
        assert_eq!(r.u8("a").unwrap(), 1);
        assert_eq!(r.u16("b").unwrap(), 0x0203);
        assert_eq!(r.u32("c").unwrap(), 0x0405_0607);
        assert_eq!(r.tpm2b(2, "d").unwrap(), [8, 9]);
        r.finish("end").unwrap();
    }

    #[test]
    fn short_and_oversized_fields_report_their_offset() {
        let mut r = Reader::at(&[0, 5, 1, 2], 10);
        match r.tpm2b(64, "nonce") {
            Err(Error::Malformed { what, offset }) => {
                assert_eq!((what, offset), ("nonce", 10));
            }
            other => panic!("{other:?}"),
        }
        let mut r = Reader::new(&[0, 3, 1, 2, 3]);
        assert!(matches!(
            r.tpm2b(2, "digest"),
            Err(Error::Malformed {
                what: "digest",
                offset: 0
            })
        ));
        let r = Reader::new(&[1]);
        assert!(matches!(
            r.finish("trailing"),
            Err(Error::Malformed { offset: 0, .. })
        ));
    }
}
