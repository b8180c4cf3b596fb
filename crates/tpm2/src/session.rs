//! Authorization sessions (Part 1, §19 "Authorizations and
//! Acknowledgments", §21 "Session-based encryption").
//!
//! A session is started salted: the caller picks a salt, encrypts it to the
//! storage root key (only that TPM can recover it), and both sides derive
//!
//! ```text
//! sessionKey = KDFa(SHA-256, salt, "ATH", nonceTPM, nonceCaller, 256)
//! ```
//!
//! Every command using the session carries a fresh `nonceCaller` and an
//! HMAC, every response a fresh `nonceTPM` and an HMAC:
//!
//! ```text
//! cpHash   = SHA-256(commandCode || name(handle)... || parameters)
//! command  = HMAC(sessionKey || authValue,
//!                 cpHash || nonceCaller || nonceTPM || [nonceTPMdecrypt] || [nonceTPMencrypt] || attributes)
//! rpHash   = SHA-256(responseCode || commandCode || parameters)
//! response = HMAC(sessionKey || authValue, rpHash || nonceTPM || nonceCaller || attributes)
//! ```
//!
//! The parameters are hashed as sent, i.e. encrypted when a session has
//! the decrypt (command) or encrypt (response) attribute: the first
//! parameter's bytes (not its size) are AES-128-CFB with key and IV from
//! `KDFa(sessionKey || authValue, "CFB", nonceNewer, nonceOlder, 256)`.
//! `authValue` is that of the entity the session authorizes, trailing zero
//! bytes removed; a policy session includes it only after
//! TPM2_PolicyAuthValue, a session that authorizes nothing never does.

use zeroize::Zeroizing;

/// TPMA_SESSION bits (Part 2, §8.4).
pub mod attr {
    pub const CONTINUE_SESSION: u8 = 0x01;
    pub const DECRYPT: u8 = 0x20;
    pub const ENCRYPT: u8 = 0x40;
}

/// TPM_SE (Part 2, §6.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionType {
    Hmac = 0x00,
    Policy = 0x01,
    Trial = 0x03,
}

/// A session the TPM holds, with what the caller must remember about it.
pub struct Session {
    pub(crate) handle: u32,
    pub(crate) kind: SessionType,
    pub(crate) session_key: Zeroizing<Vec<u8>>,
    pub(crate) nonce_tpm: Vec<u8>,
    pub(crate) nonce_caller: Vec<u8>,
    /// TPM2_PolicyAuthValue was run: the HMAC key includes the authValue.
    pub(crate) auth_value_needed: bool,
    /// The TPM flushed it (a command ran without continueSession).
    pub(crate) closed: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("handle", &format_args!("{:#010x}", self.handle))
            .field("kind", &self.kind)
            .field("salted", &!self.session_key.is_empty())
            .field("auth_value_needed", &self.auth_value_needed)
            .field("closed", &self.closed)
            .finish()
    }
}

impl Session {
    pub fn handle(&self) -> u32 {
        self.handle
    }

    pub fn kind(&self) -> SessionType {
        self.kind
    }

    /// Whether the TPM still holds the session.
    pub fn is_open(&self) -> bool {
        !self.closed
    }

    /// Whether the session has a secret key (it was salted), so that its
    /// HMACs and parameter encryption are secret to the TPM and us.
    pub fn is_salted(&self) -> bool {
        !self.session_key.is_empty()
    }

    /// Marks the session as needing the authValue in its HMACs, as the TPM
    /// does after TPM2_PolicyAuthValue.
    pub(crate) fn require_auth_value(&mut self) {
        self.auth_value_needed = true;
    }

    /// The HMAC key when this session authorizes an entity whose authValue
    /// is `auth_value` (`None` when it authorizes nothing).
    pub(crate) fn hmac_key(&self, auth_value: Option<&[u8]>) -> Zeroizing<Vec<u8>> {
        let mut key = Zeroizing::new(self.session_key.to_vec());
        let include = match self.kind {
            SessionType::Hmac => true,
            SessionType::Policy | SessionType::Trial => self.auth_value_needed,
        };
        if let (true, Some(auth)) = (include, auth_value) {
            key.extend_from_slice(strip_trailing_zeros(auth));
        }
        key
    }

    /// The key parameter encryption derives from (Part 1, §21.1): the
    /// session key, and the authValue of the entity it authorizes.
    pub(crate) fn encryption_key(&self, auth_value: Option<&[u8]>) -> Zeroizing<Vec<u8>> {
        let mut key = Zeroizing::new(self.session_key.to_vec());
        if let Some(auth) = auth_value {
            key.extend_from_slice(strip_trailing_zeros(auth));
        }
        key
    }
}

/// The TPM removes trailing zero bytes from authValues before using them
/// (Part 1, §19.6.8 "sessionKey and authValue"), so HMAC keys must too.
pub fn strip_trailing_zeros(auth: &[u8]) -> &[u8] {
    let end = auth.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &auth[..end]
}

/// How a command's handle is authorized, or an extra session added to it
/// (after the authorizations, e.g. for response encryption).
#[derive(Debug)]
pub enum Auth<'a> {
    /// A password session (TPM_RS_PW) with the entity's authValue in clear.
    Password(&'a [u8]),
    /// An HMAC or policy session with the given TPMA_SESSION attributes;
    /// `auth_value` is that of the entity authorized (ignored for sessions
    /// beyond the command's authorized handles).
    Session {
        session: &'a mut Session,
        attributes: u8,
        auth_value: &'a [u8],
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_zeros_go_leading_ones_stay() {
        assert_eq!(strip_trailing_zeros(&[0, 1, 0, 2, 0, 0]), [0, 1, 0, 2]);
        assert_eq!(strip_trailing_zeros(&[0, 0]), [0u8; 0]);
        assert_eq!(strip_trailing_zeros(&[]), [0u8; 0]);
    }
}
