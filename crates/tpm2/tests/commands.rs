//! Single commands against swtpm, and how the crate reacts to a TPM that
//! misbehaves or is missing.

mod common;

use std::io;

use common::*;
use sha2::{Digest, Sha256};
use tpm2::public::Public;
use tpm2::swtpm::Swtpm;
use tpm2::transport::Socket;
use tpm2::{
    Error, ErrorKind, PcrValue, PrimaryAlg, SealPolicy, SessionType, Tpm, Transport, UnsealInputs,
    seal, unseal,
};

const SECRET: &[u8] = b"a secret";

#[test]
fn startup_then_already_started() {
    let sw = Swtpm::start_without_startup();
    let mut tpm = sw.tpm();
    let err = tpm.get_random(8).unwrap_err();
    assert_eq!(
        err.to_string(),
        "TPM2_GetRandom failed: TPM_RC_INITIALIZE (0x100)"
    );
    assert_eq!(tpm.startup_clear().unwrap(), tpm2::commands::Started::Now);
    assert_eq!(
        tpm.startup_clear().unwrap(),
        tpm2::commands::Started::Already
    );
    let a = tpm.get_random(32).unwrap();
    let b = tpm.get_random(32).unwrap();
    assert_eq!((a.len(), b.len()), (32, 32));
    assert_ne!(a, b);
}

#[test]
fn pcr_extend_and_read_past_eight_pcrs() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    let all: Vec<u32> = (0..24).collect();
    let before = tpm2::pcr_read(&mut tpm, &all).unwrap();
    assert_eq!(before.len(), 24);
    assert_eq!(before.iter().map(|(p, _)| *p).collect::<Vec<_>>(), all);
    tpm2::pcr_extend(&mut tpm, 11, &[0xab; 32]).unwrap();
    let want: [u8; 32] = Sha256::new()
        .chain_update(before[11].1)
        .chain_update([0xab; 32])
        .finalize()
        .into();
    assert_eq!(pcr(&mut tpm, 11), want);
    assert_eq!(pcr(&mut tpm, 12), before[12].1);
    assert_eq!(
        tpm2::pcr_extend(&mut tpm, 24, &[0; 32])
            .unwrap_err()
            .to_string(),
        "PCR 24 does not exist (PCRs 0 to 23)"
    );
}

#[test]
fn the_srk_is_made_persistent_once_and_reused() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    assert!(matches!(
        tpm.read_public(tpm2::seal::SRK_HANDLE),
        Err(Error::Tpm { rc, .. }) if rc.to_string() == "TPM_RC_HANDLE (0x18b) in handle 1"
    ));
    let a = seal(&mut tpm, SECRET, &SealPolicy::default()).unwrap();
    let persistent = tpm.read_public(tpm2::seal::SRK_HANDLE).unwrap();
    assert_eq!(persistent.name, a.srk_name);
    let template = Public::srk_ecc();
    assert_eq!(persistent.public.attributes, template.attributes);
    assert_eq!(persistent.public.params, template.params);
    let b = seal(&mut tpm, SECRET, &SealPolicy::default()).unwrap();
    assert_eq!(a.srk_name, b.srk_name);
    assert_ne!(a.private, b.private);
    // A transient SRK from the template is the same key.
    let transient = tpm.create_primary(&Public::srk_ecc()).unwrap();
    assert_eq!(transient.name, a.srk_name);
}

#[test]
fn a_session_key_is_only_there_when_salted() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    let srk = tpm.create_primary(&Public::srk_ecc()).unwrap();
    let salted = tpm
        .start_auth_session(Some(&srk), SessionType::Hmac)
        .unwrap();
    let plain = tpm.start_auth_session(None, SessionType::Policy).unwrap();
    assert!(salted.is_salted());
    assert!(!plain.is_salted());
    assert_eq!(salted.handle() >> 24, 0x02);
    assert_eq!(plain.handle() >> 24, 0x03);
}

/// Changes the first response that answers `code`, once.
struct Tamper<T> {
    inner: T,
    code: u32,
    change: fn(&mut Vec<u8>),
    done: bool,
}

impl<T: Transport> Transport for Tamper<T> {
    fn transmit(&mut self, command: &[u8]) -> io::Result<Vec<u8>> {
        let mut response = self.inner.transmit(command)?;
        if !self.done && command[6..10] == self.code.to_be_bytes() && response[6..10] == [0; 4] {
            (self.change)(&mut response);
            self.done = true;
        }
        Ok(response)
    }
}

#[test]
fn an_altered_unseal_response_fails_its_hmac() {
    let sw = Swtpm::start();
    let mut tpm = sw.tpm();
    let sealed = seal(&mut tpm, SECRET, &SealPolicy::default()).unwrap();
    drop(tpm);
    let mut tpm = Tpm::new(Tamper {
        inner: sw.socket(),
        code: tpm2::commands::cc::UNSEAL,
        // Flip a bit of the encrypted secret (after header, parameterSize
        // and the TPM2B's size).
        change: |r| r[10 + 4 + 2] ^= 1,
        done: false,
    });
    let err = unseal(&mut tpm, &sealed, &UnsealInputs::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the response to Unseal fails its HMAC check in session 1: it was altered on the way \
         from the TPM"
    );
    assert_eq!(err.kind(), ErrorKind::TpmError);
}

/// Answers CreatePrimary for an ECC template with TPM_RC_CURVE, as a TPM
/// without P-256 would.
struct NoEcc<T>(T);

impl<T: Transport> Transport for NoEcc<T> {
    fn transmit(&mut self, command: &[u8]) -> io::Result<Vec<u8>> {
        let create_primary = command[6..10] == tpm2::commands::cc::CREATE_PRIMARY.to_be_bytes();
        // After header, handle, authorization area (9 bytes for an empty
        // password session plus its size), inSensitive (6), inPublic's size:
        // the type.
        if create_primary && command[10 + 4 + 4 + 9 + 6 + 2..][..2] == [0x00, 0x23] {
            return Ok(vec![0x80, 0x01, 0, 0, 0, 10, 0, 0, 0x02, 0xe6]);
        }
        self.0.transmit(command)
    }
}

#[test]
fn without_ecc_the_srk_is_rsa() {
    let sw = Swtpm::start();
    let mut tpm = Tpm::new(NoEcc(sw.socket()));
    assert_eq!(
        tpm.create_primary(&Public::srk_ecc())
            .unwrap_err()
            .to_string(),
        "TPM2_CreatePrimary failed: TPM_RC_CURVE (0x2e6) in parameter 2"
    );
    let sealed = seal(
        &mut tpm,
        SECRET,
        &SealPolicy {
            pcr7: Some(PcrValue::Current),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(sealed.primary_alg, PrimaryAlg::Rsa);
    assert_eq!(sealed.primary_alg.as_str(), "rsa");
    assert_eq!(
        unseal(&mut tpm, &sealed, &UnsealInputs::default())
            .unwrap()
            .as_slice(),
        SECRET
    );
}

#[test]
fn no_tpm_device() {
    let err = Tpm::open_device("/nonexistent/tpmrm0").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TpmUnavailable);
    assert_eq!(
        err.to_string(),
        "no TPM: cannot open /nonexistent/tpmrm0: No such file or directory (os error 2)"
    );
}

#[test]
fn a_tpm_that_goes_away_is_a_transport_error() {
    let mut sw = Swtpm::start();
    let mut tpm: Tpm<Socket> = sw.tpm();
    tpm.get_random(4).unwrap();
    sw.reboot();
    let err = tpm.get_random(4).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TpmUnavailable);
    assert!(
        err.to_string()
            .starts_with("TPM transport failed during GetRandom: "),
        "{err}"
    );
}
