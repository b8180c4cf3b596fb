//! Secret byte strings that wipe themselves: the volume key and keys derived
//! from passphrases. `Debug` shows the length only.

use zeroize::Zeroizing;

/// A volume key (the data segment's key; with integrity, the encryption
/// key followed by the integrity key, as cryptsetup stores it). Zeroed when
/// dropped; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct VolumeKey(Zeroizing<Vec<u8>>);

impl VolumeKey {
    /// Takes ownership of `bytes` (e.g. fresh random bytes).
    pub fn new(bytes: Vec<u8>) -> VolumeKey {
        VolumeKey(Zeroizing::new(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for VolumeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VolumeKey({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let k = VolumeKey::new(vec![0xab; 4]);
        assert_eq!(format!("{k:?}"), "VolumeKey(4 bytes)");
    }
}
