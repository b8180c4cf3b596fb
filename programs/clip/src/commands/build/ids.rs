//! Identifiers derived from the build inputs, so that the same inputs give
//! the same image bytes (reproducible builds): no random UUID, salt or serial.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// SHA-256 over `parts`, each length-prefixed so that ("ab","c") and
/// ("a","bc") differ.
pub fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// A version-4-shaped UUID derived from the product and a purpose label
/// (e.g. "disk", "state"): stable across rebuilds of the same version,
/// distinct between purposes and products.
pub fn uuid(product: &str, version: &str, purpose: &str) -> Uuid {
    let d = digest(&[
        b"clip uuid",
        product.as_bytes(),
        version.as_bytes(),
        purpose.as_bytes(),
    ]);
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    uuid::Builder::from_random_bytes(b).into_uuid()
}

/// The dm-verity salt: derived from the data it protects (the EROFS image's
/// SHA-256), so it is reproducible yet differs whenever the root does.
pub fn verity_salt(root_sha256: &[u8; 32]) -> [u8; 32] {
    digest(&[b"clip verity salt", root_sha256])
}

/// The FAT volume serial of the ESP.
pub fn volume_id(product: &str, version: &str) -> u32 {
    let d = digest(&[
        b"clip esp volume id",
        product.as_bytes(),
        version.as_bytes(),
    ]);
    u32::from_le_bytes([d[0], d[1], d[2], d[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let a = uuid("clipos", "1.0.0", "disk");
        assert_eq!(a, uuid("clipos", "1.0.0", "disk"));
        assert_ne!(a, uuid("clipos", "1.0.0", "state"));
        assert_ne!(a, uuid("clipos", "1.0.1", "disk"));
        assert_eq!(a.get_version_num(), 4);
        assert_ne!(digest(&[b"ab", b"c"]), digest(&[b"a", b"bc"]));
        assert_ne!(verity_salt(&[0; 32]), verity_salt(&[1; 32]));
    }
}
