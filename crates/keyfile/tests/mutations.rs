//! Property test: the readers never panic on mangled PEM and DER (errors
//! are values; the fuzz target `read` checks how the readers agree).

use proptest::prelude::*;

const INPUTS: [&[u8]; 4] = [
    include_bytes!("fixtures/printed.crt"),
    include_bytes!("fixtures/rsa.der"),
    include_bytes!("fixtures/ed25519.key"),
    include_bytes!("fixtures/ec-sec1.key"),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Overwrite, insert or delete bytes of a real input.
    #[test]
    fn mangled_inputs_never_panic(
        which in 0..INPUTS.len(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8),
    ) {
        let mut data = INPUTS[which].to_vec();
        for (at, byte, op) in edits {
            let i = at.index(data.len().max(1));
            match op {
                0 if i < data.len() => data[i] = byte,
                1 => data.insert(i.min(data.len()), byte),
                _ if i < data.len() => { data.remove(i); }
                _ => {}
            }
        }
        let _ = keyfile::blocks(&data);
        let _ = keyfile::certificates(&data);
        let _ = keyfile::rsa_private_key(&data);
        let _ = keyfile::ed25519_verifying_key(&data);
        let _ = keyfile::ed25519_signing_key(&data);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = keyfile::blocks(&data);
        let _ = keyfile::certificates(&data);
        let _ = keyfile::rsa_private_key(&data);
        let _ = keyfile::ed25519_signing_key(&data);
        let _ = keyfile::ed25519_verifying_key(&data);
    }
}
