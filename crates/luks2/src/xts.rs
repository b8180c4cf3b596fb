//! AES-XTS (IEEE Std 1619-2007, NIST SP 800-38E) over 512-byte sectors
//! with the `plain64` IV (the little-endian 64-bit sector number, counted
//! from the start of the buffer): the encryption of keyslot areas
//! (`aes-xts-plain64`, spec §3.2.3, cryptsetup's `crypt_storage` with IV
//! offset 0). Sectors are multiples of the AES block, so no ciphertext
//! stealing is needed.

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit, generic_array::GenericArray};
use zeroize::Zeroizing;

use crate::error::Error;

const SECTOR: usize = 512;

enum Aes {
    A128(Box<aes::Aes128>),
    A256(Box<aes::Aes256>),
}

impl Aes {
    fn new(key: &[u8]) -> Aes {
        match key.len() {
            16 => Aes::A128(Box::new(aes::Aes128::new(GenericArray::from_slice(key)))),
            _ => Aes::A256(Box::new(aes::Aes256::new(GenericArray::from_slice(key)))),
        }
    }

    fn encrypt(&self, block: &mut [u8]) {
        let b = GenericArray::from_mut_slice(block);
        match self {
            Aes::A128(c) => c.encrypt_block(b),
            Aes::A256(c) => c.encrypt_block(b),
        }
    }

    fn decrypt(&self, block: &mut [u8]) {
        let b = GenericArray::from_mut_slice(block);
        match self {
            Aes::A128(c) => c.decrypt_block(b),
            Aes::A256(c) => c.decrypt_block(b),
        }
    }
}

/// Multiplies the tweak by α in GF(2^128) (little-endian, IEEE 1619 §5.2).
fn double(t: &mut [u8; 16]) {
    let carry = t[15] >> 7;
    for i in (1..16).rev() {
        t[i] = (t[i] << 1) | (t[i - 1] >> 7);
    }
    t[0] = (t[0] << 1) ^ (0x87 * carry);
}

/// An AES-XTS key: 32 bytes (AES-128) or 64 bytes (AES-256), data key
/// first, tweak key second.
pub(crate) struct Xts {
    data: Aes,
    tweak: Aes,
}

impl Xts {
    pub(crate) fn new(key: &[u8]) -> Result<Xts, Error> {
        if key.len() != 32 && key.len() != 64 {
            return Err(Error::Param {
                name: "keyslot area key_size",
                problem: format!("{} bytes; aes-xts takes 32 or 64", key.len()),
            });
        }
        let (k1, k2) = key.split_at(key.len() / 2);
        Ok(Xts {
            data: Aes::new(k1),
            tweak: Aes::new(k2),
        })
    }

    fn run(&self, buf: &mut [u8], decrypt: bool) {
        for (sector, chunk) in buf.chunks_mut(SECTOR).enumerate() {
            let mut t = Zeroizing::new([0u8; 16]);
            t[..8].copy_from_slice(&u64::try_from(sector).unwrap_or(u64::MAX).to_le_bytes());
            self.tweak.encrypt(&mut t[..]);
            for block in chunk.chunks_mut(16) {
                block.iter_mut().zip(t.iter()).for_each(|(b, t)| *b ^= t);
                if decrypt {
                    self.data.decrypt(block);
                } else {
                    self.data.encrypt(block);
                }
                block.iter_mut().zip(t.iter()).for_each(|(b, t)| *b ^= t);
                double(&mut t);
            }
        }
    }

    /// Encrypts whole 512-byte sectors in place; sector 0 is `buf[..512]`.
    pub(crate) fn encrypt(&self, buf: &mut [u8]) {
        self.run(buf, false);
    }

    /// Decrypts whole 512-byte sectors in place.
    pub(crate) fn decrypt(&self, buf: &mut [u8]) {
        self.run(buf, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// IEEE 1619-2007 Annex B, vector 4 (AES-128, data unit 0, 512 bytes
    /// of 00 01 .. ff 00 01 .. ff). The first 32 bytes are the standard's;
    /// the last 32 are from Python's `cryptography` (OpenSSL):
    /// `Cipher(AES(key), XTS(bytes(16))).encryptor().update(data)[480:]`.
    #[test]
    fn ieee1619_vector_4() {
        let key = unhex("2718281828459045235360287471352631415926535897932384626433832795");
        let mut buf: Vec<u8> = (0..512u32).map(|i| i.to_le_bytes()[0]).collect();
        let plain = buf.clone();
        let xts = Xts::new(&key).unwrap();
        xts.encrypt(&mut buf);
        assert_eq!(
            &buf[..32],
            &unhex("27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89c")[..]
        );
        assert_eq!(
            &buf[480..],
            &unhex("eb4a427d1923ce3ff262735779a418f20a282df920147beabe421ee5319d0568")[..]
        );
        xts.decrypt(&mut buf);
        assert_eq!(buf, plain);
    }

    /// AES-256-XTS, the second sector takes tweak 1 (plain64). Expected
    /// bytes from Python's `cryptography` with key bytes (7i+3) mod 256 and
    /// tweak `(1).to_bytes(16, "little")`.
    #[test]
    fn aes256_second_sector_uses_sector_number_one() {
        let key: Vec<u8> = (0..64u32).map(|i| (i * 7 + 3).to_le_bytes()[0]).collect();
        let mut buf: Vec<u8> = (0..1024u32).map(|i| i.to_le_bytes()[0]).collect();
        let plain = buf.clone();
        let xts = Xts::new(&key).unwrap();
        xts.encrypt(&mut buf);
        assert_eq!(
            &buf[512..528],
            &unhex("a480828a83fdd779df17650b9e3aef99")[..]
        );
        assert_eq!(&buf[1008..], &unhex("fb6a77d1e6e8b43e8700e6cf10dec14d")[..]);
        assert_ne!(&buf[..16], &buf[512..528]);
        xts.decrypt(&mut buf);
        assert_eq!(buf, plain);
        assert!(Xts::new(&key[..48]).is_err());
    }
}
