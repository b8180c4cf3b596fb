//! Command and response framing (Part 1, §18 "Command/Response
//! Structure"; Part 3, §5 "Command Processing"):
//!
//! ```text
//! command   tag u16 | commandSize u32 | commandCode u32 | handles u32...
//!           [authorizationSize u32 | (sessionHandle u32, nonce TPM2B, attributes u8, hmac TPM2B)...]
//!           | parameters
//! response  tag u16 | responseSize u32 | responseCode u32           (only this when the code is not 0)
//!           | handles u32... | [parameterSize u32] | parameters
//!           | [(nonce TPM2B, attributes u8, hmac TPM2B)...]       (tag TPM_ST_SESSIONS)
//! ```
//!
//! `Tpm::execute` adds the sessions of [`crate::session`]: fresh
//! nonces, encryption of the first parameter, HMACs over cpHash, and in the
//! response the check of every HMAC before the first parameter is
//! decrypted.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto;
use crate::error::Error;
use crate::marshal::{Put, Reader};
use crate::rc::ResponseCode;
use crate::response::parse_response;
use crate::session::{Auth, attr};
use crate::transport::Transport;

/// TPM_ST_NO_SESSIONS and TPM_ST_SESSIONS (Part 2, §6.9).
pub const ST_NO_SESSIONS: u16 = 0x8001;
pub const ST_SESSIONS: u16 = 0x8002;
/// TPM_RS_PW, the password session handle.
pub const RS_PW: u32 = 0x4000_0009;
/// Warnings after which a command is simply sent again.
const RETRIES: u32 = 8;

/// A TPM reached through a [`Transport`].
#[derive(Debug)]
pub struct Tpm<T> {
    transport: T,
}

/// A command before sessions are added.
#[derive(Debug)]
pub(crate) struct Command {
    pub code: u32,
    pub name: &'static str,
    /// Each handle with its Name (for cpHash; only needed when sessions
    /// other than password sessions authorize the command).
    pub handles: Vec<(u32, Vec<u8>)>,
    /// How many of `handles` (the first ones) need an authorization.
    pub auth_handles: usize,
    pub params: Zeroizing<Vec<u8>>,
    /// Handles in the response, before the parameters.
    pub response_handles: usize,
}

impl Command {
    pub fn new(code: u32, name: &'static str) -> Self {
        Command {
            code,
            name,
            handles: Vec::new(),
            auth_handles: 0,
            params: Zeroizing::new(Vec::new()),
            response_handles: 0,
        }
    }

    /// Adds a handle that needs no authorization (its Name is only needed
    /// for cpHash, so pass it when a session authorizes the command).
    pub fn handle(mut self, handle: u32, name: Vec<u8>) -> Self {
        self.handles.push((handle, name));
        self
    }

    /// Adds a handle that needs an authorization.
    pub fn auth_handle(mut self, handle: u32, name: Vec<u8>) -> Self {
        assert_eq!(
            self.auth_handles,
            self.handles.len(),
            "authorized handles come first"
        );
        self.handles.push((handle, name));
        self.auth_handles += 1;
        self
    }

    pub fn response_handles(mut self, n: usize) -> Self {
        self.response_handles = n;
        self
    }

    pub fn params(&mut self) -> &mut Vec<u8> {
        &mut self.params
    }
}

/// A successful response, parameters decrypted.
#[derive(Debug)]
pub(crate) struct Reply {
    pub handles: Vec<u32>,
    pub params: Zeroizing<Vec<u8>>,
    /// Where `params` start in the response bytes (for error offsets).
    pub params_offset: usize,
}

impl Reply {
    pub fn reader(&self) -> Reader<'_> {
        Reader::at(&self.params, self.params_offset)
    }
}

impl<T: Transport> Tpm<T> {
    pub fn new(transport: T) -> Self {
        Tpm { transport }
    }

    pub fn transport(&self) -> &T {
        &self.transport
    }

    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    pub fn into_transport(self) -> T {
        self.transport
    }

    /// Sends `cmd` with the sessions `auths` (one per authorized handle,
    /// then any extra ones), sending it again after TPM_RC_RETRY,
    /// TPM_RC_YIELDED or TPM_RC_TESTING.
    pub(crate) fn execute(&mut self, cmd: &Command, auths: &mut [Auth]) -> Result<Reply, Error> {
        assert!(
            auths.len() >= cmd.auth_handles,
            "{}: an authorization per handle",
            cmd.name
        );
        let mut tries = 0;
        loop {
            match self.execute_once(cmd, auths) {
                Err(Error::Tpm { rc, .. })
                    if [
                        ResponseCode::RETRY,
                        ResponseCode::YIELDED,
                        ResponseCode::TESTING,
                    ]
                    .contains(&rc)
                        && tries < RETRIES =>
                {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20 << tries.min(5)));
                }
                other => return other,
            }
        }
    }

    fn execute_once(&mut self, cmd: &Command, auths: &mut [Auth]) -> Result<Reply, Error> {
        let decrypt = session_with(auths, attr::DECRYPT);
        let encrypt = session_with(auths, attr::ENCRYPT);
        // Fresh caller nonces.
        let mut nonces = Vec::with_capacity(auths.len());
        for auth in auths.iter() {
            nonces.push(match auth {
                Auth::Password(_) => Vec::new(),
                Auth::Session { .. } => crypto::random(crypto::DIGEST)?.to_vec(),
            });
        }
        // Encrypt the first parameter (a TPM2B: its bytes, not its size).
        let mut params = Zeroizing::new(cmd.params.to_vec());
        if let Some(i) = decrypt {
            let Auth::Session { session, .. } = &auths[i] else {
                unreachable!("only sessions have attributes")
            };
            let data = first_tpm2b(&mut params).ok_or(Error::UnexpectedResponse {
                command: cmd.name,
                what: "parameter encryption needs a first parameter that is a TPM2B".into(),
            })?;
            let key = session.encryption_key(entity_auth(cmd.auth_handles, i, &auths[i]));
            crypto::cfb(&key, &nonces[i], &session.nonce_tpm, data, false);
        }
        // cpHash and the session area.
        let cp_hash = {
            let mut h = Sha256::new().chain_update(cmd.code.to_be_bytes());
            for (_, name) in &cmd.handles {
                h.update(name);
            }
            h.chain_update(&params[..]).finalize()
        };
        let mut area = Zeroizing::new(Vec::new());
        for (i, auth) in auths.iter().enumerate() {
            match auth {
                Auth::Password(password) => {
                    area.u32(RS_PW)
                        .tpm2b(&[])
                        .u8(attr::CONTINUE_SESSION)
                        .tpm2b(password);
                }
                Auth::Session {
                    session,
                    attributes,
                    ..
                } => {
                    let extra_nonce = |j: Option<usize>| match j {
                        Some(j) if i == 0 && j != 0 => match &auths[j] {
                            Auth::Session { session, .. } => session.nonce_tpm.clone(),
                            Auth::Password(_) => Vec::new(),
                        },
                        _ => Vec::new(),
                    };
                    let key = session.hmac_key(entity_auth(cmd.auth_handles, i, auth));
                    let tag = crypto::hmac(
                        &key,
                        &[
                            &cp_hash,
                            &nonces[i],
                            &session.nonce_tpm,
                            &extra_nonce(decrypt),
                            &extra_nonce(encrypt),
                            &[*attributes],
                        ],
                    );
                    area.u32(session.handle)
                        .tpm2b(&nonces[i])
                        .u8(*attributes)
                        .tpm2b(&tag);
                }
            }
        }
        // The command.
        let mut bytes = Zeroizing::new(Vec::with_capacity(64 + area.len() + params.len()));
        bytes
            .u16(if auths.is_empty() {
                ST_NO_SESSIONS
            } else {
                ST_SESSIONS
            })
            .u32(0)
            .u32(cmd.code);
        for (handle, _) in &cmd.handles {
            bytes.u32(*handle);
        }
        if !auths.is_empty() {
            let len = u32::try_from(area.len()).expect("session area is small");
            bytes.u32(len);
            bytes.extend_from_slice(&area);
        }
        bytes.extend_from_slice(&params);
        let total = u32::try_from(bytes.len()).map_err(|_| Error::TooLong {
            what: "command",
            len: bytes.len(),
            max: crate::transport::MAX_RESPONSE,
        })?;
        bytes[2..6].copy_from_slice(&total.to_be_bytes());

        let response =
            Zeroizing::new(
                self.transport
                    .transmit(&bytes)
                    .map_err(|error| Error::Transport {
                        command: cmd.name,
                        error,
                    })?,
            );
        let raw = parse_response(&response, cmd.response_handles, auths.len())?;
        if raw.code != ResponseCode::SUCCESS {
            return Err(Error::Tpm {
                command: cmd.name,
                rc: raw.code,
            });
        }
        // Check every response HMAC, then take the new nonces.
        let rp_hash = Sha256::new()
            .chain_update(0u32.to_be_bytes())
            .chain_update(cmd.code.to_be_bytes())
            .chain_update(raw.params)
            .finalize();
        for (i, (auth, rs)) in auths.iter().zip(&raw.sessions).enumerate() {
            let ok = match auth {
                Auth::Password(_) => rs.nonce.is_empty() && rs.hmac.is_empty(),
                Auth::Session { session, .. } => crypto::hmac_verify(
                    &session.hmac_key(entity_auth(cmd.auth_handles, i, auth)),
                    &[&rp_hash, rs.nonce, &nonces[i], &[rs.attributes]],
                    rs.hmac,
                ),
            };
            if !ok {
                return Err(Error::ResponseHmac {
                    command: cmd.name,
                    session: i + 1,
                });
            }
        }
        let mut params = Zeroizing::new(raw.params.to_vec());
        let params_offset = raw.params_offset;
        let handles = raw.handles.clone();
        let tpm_nonces: Vec<Vec<u8>> = raw.sessions.iter().map(|s| s.nonce.to_vec()).collect();
        let mut encryption_key = None;
        for (i, auth) in auths.iter_mut().enumerate() {
            let auth_value = entity_auth(cmd.auth_handles, i, auth);
            if let Auth::Session {
                session,
                attributes,
                ..
            } = auth
            {
                session.nonce_tpm = tpm_nonces[i].clone();
                session.nonce_caller = std::mem::take(&mut nonces[i]);
                if *attributes & attr::CONTINUE_SESSION == 0 {
                    session.closed = true;
                }
                if Some(i) == encrypt {
                    encryption_key = Some((
                        session.encryption_key(auth_value),
                        session.nonce_tpm.clone(),
                        session.nonce_caller.clone(),
                    ));
                }
            }
        }
        if let Some((key, newer, older)) = encryption_key {
            let data = first_tpm2b(&mut params).ok_or(Error::UnexpectedResponse {
                command: cmd.name,
                what: "response encryption needs a first parameter that is a TPM2B".into(),
            })?;
            crypto::cfb(&key, &newer, &older, data, true);
        }
        Ok(Reply {
            handles,
            params,
            params_offset,
        })
    }
}

/// The authValue of the entity session `i` authorizes, if it authorizes one.
fn entity_auth<'a>(auth_handles: usize, i: usize, auth: &Auth<'a>) -> Option<&'a [u8]> {
    match auth {
        Auth::Session { auth_value, .. } if i < auth_handles => Some(auth_value),
        _ => None,
    }
}

/// The index of the session with attribute `bit`, if any.
fn session_with(auths: &[Auth], bit: u8) -> Option<usize> {
    auths
        .iter()
        .position(|a| matches!(a, Auth::Session { attributes, .. } if attributes & bit != 0))
}

/// The contents of the TPM2B at the start of `params`.
fn first_tpm2b(params: &mut [u8]) -> Option<&mut [u8]> {
    let len = usize::from(u16::from_be_bytes([*params.first()?, *params.get(1)?]));
    params.get_mut(2..2 + len)
}
