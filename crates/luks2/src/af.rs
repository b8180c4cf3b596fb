//! The LUKS1 anti-forensic information splitter (LUKS1 On-Disk Format
//! Specification 1.2.3, §2.4 "AF-Splitter"; cryptsetup lib/luks1/af.c),
//! used by LUKS2 keyslots of AF type `luks1` (LUKS2 spec §3.2.4).
//!
//! A key of `n` bytes becomes `stripes × n` bytes: `stripes - 1` random
//! blocks, each folded into a running buffer by XOR then `diffuse`, and a
//! last block that is the key XOR the buffer. `diffuse` hashes the buffer
//! digest-sized chunk by chunk, each chunk prefixed by its big-endian
//! 32-bit index, the last chunk truncated.

use zeroize::Zeroizing;

use crate::hash::Hash;

fn diffuse(buf: &mut [u8], hash: Hash) {
    let size = hash.size();
    for (i, chunk) in buf.chunks_mut(size).enumerate() {
        let index = u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes();
        let d = Zeroizing::new(hash.digest(&[&index, chunk]));
        let n = chunk.len();
        chunk.copy_from_slice(&d[..n]);
    }
}

fn xor_into(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d ^= *s;
    }
}

/// Splits `key` over `stripes` blocks. `split` arrives holding
/// `(stripes - 1) × key.len()` random bytes (the caller's randomness) and
/// at least `stripes × key.len()` bytes; its last block is computed.
pub(crate) fn split(key: &[u8], split: &mut [u8], stripes: usize, hash: Hash) {
    let n = key.len();
    let mut buf = Zeroizing::new(vec![0u8; n]);
    for block in split[..n * (stripes - 1)].chunks(n) {
        xor_into(&mut buf, block);
        diffuse(&mut buf, hash);
    }
    let last = &mut split[n * (stripes - 1)..n * stripes];
    last.copy_from_slice(key);
    xor_into(last, &buf);
}

/// Recovers a key of `out.len()` bytes from `split`.
pub(crate) fn merge(split: &[u8], out: &mut [u8], stripes: usize, hash: Hash) {
    let n = out.len();
    let mut buf = Zeroizing::new(vec![0u8; n]);
    for block in split[..n * (stripes - 1)].chunks(n) {
        xor_into(&mut buf, block);
        diffuse(&mut buf, hash);
    }
    out.copy_from_slice(&split[n * (stripes - 1)..n * stripes]);
    xor_into(out, &buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_then_merge_gives_the_key_back() {
        for hash in [Hash::Sha1, Hash::Sha256, Hash::Sha512] {
            // 40 bytes: not a multiple of any digest size, so diffuse's
            // truncated last chunk is exercised.
            let key: Vec<u8> = (0..40).collect();
            let mut s: Vec<u8> = (0..40u32 * 7)
                .map(|i| (i * 31 % 251).to_le_bytes()[0])
                .collect();
            split(&key, &mut s, 7, hash);
            let mut out = vec![0u8; 40];
            merge(&s, &mut out, 7, hash);
            assert_eq!(out, key, "{hash}");
            // Every stripe matters.
            s[3] ^= 1;
            merge(&s, &mut out, 7, hash);
            assert_ne!(out, key);
        }
    }

    #[test]
    fn diffuse_matches_its_definition() {
        // Two-stripe split of a 32-byte key with sha256: last block =
        // key ^ diffuse(random block) where diffuse = sha256(be32(0) || block).
        let key = [0x11u8; 32];
        let random = [0x22u8; 32];
        let mut s = [random.to_vec(), vec![0; 32]].concat();
        split(&key, &mut s, 2, Hash::Sha256);
        let d = Hash::Sha256.digest(&[&[0, 0, 0, 0], &random]);
        let expected: Vec<u8> = key.iter().zip(&d).map(|(k, d)| k ^ d).collect();
        assert_eq!(&s[32..], &expected[..]);
    }
}
