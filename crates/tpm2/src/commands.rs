//! The TPM commands this crate sends (Part 3: the section of each command
//! is on its method); their responses are read by [`crate::decode`].

use zeroize::Zeroizing;

use crate::command::{Command, Tpm};
use crate::crypto;
use crate::decode;
use crate::error::{Error, hex};
use crate::marshal::{Put, Reader};
use crate::policy::{PCR_COUNT, PcrSelection, TPM_ALG_SHA256};
use crate::public::{MAX_PRIVATE, Public, SymDef, alg};
use crate::rc::ResponseCode;
use crate::session::{Auth, Session, SessionType, attr};
use crate::transport::Transport;

/// TPM_CC values (Part 2, §6.5.2).
pub mod cc {
    pub const EVICT_CONTROL: u32 = 0x120;
    pub const CREATE_PRIMARY: u32 = 0x131;
    pub const STARTUP: u32 = 0x144;
    pub const CREATE: u32 = 0x153;
    pub const LOAD: u32 = 0x157;
    pub const UNSEAL: u32 = 0x15E;
    pub const FLUSH_CONTEXT: u32 = 0x165;
    pub const LOAD_EXTERNAL: u32 = 0x167;
    pub const POLICY_AUTHORIZE: u32 = 0x16A;
    pub const POLICY_AUTH_VALUE: u32 = 0x16B;
    pub const READ_PUBLIC: u32 = 0x173;
    pub const START_AUTH_SESSION: u32 = 0x176;
    pub const VERIFY_SIGNATURE: u32 = 0x177;
    pub const GET_RANDOM: u32 = 0x17B;
    pub const PCR_READ: u32 = 0x17E;
    pub const POLICY_PCR: u32 = 0x17F;
    pub const PCR_EXTEND: u32 = 0x182;
    pub const POLICY_GET_DIGEST: u32 = 0x189;
}

/// Permanent handles (Part 2, §7.4).
pub mod rh {
    pub const OWNER: u32 = 0x4000_0001;
    pub const NULL: u32 = 0x4000_0007;
}

/// TPM_ST_VERIFIED, the tag of a TPMT_TK_VERIFIED.
pub const ST_VERIFIED: u16 = 0x8022;
/// Largest TPM2B_SENSITIVE_DATA (MAX_SYM_DATA): what can be sealed.
pub const MAX_SEALED: usize = 128;
pub(crate) const MAX_DIGEST: usize = 64;
pub(crate) const MAX_NAME: usize = 2 + 64;
const MAX_SIGNATURE: usize = 512;

/// An object the TPM holds: its handle, Name and public area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub handle: u32,
    pub name: Vec<u8>,
    pub public: Public,
}

/// A TPMT_TK_VERIFIED from TPM2_VerifySignature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub tag: u16,
    pub hierarchy: u32,
    pub digest: Vec<u8>,
}

/// Whether TPM2_Startup started the TPM or found it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    Now,
    Already,
}

/// The handle of a PCR (PCR n is handle n).
fn pcr_handle(pcr: u32) -> Result<u32, Error> {
    if pcr < PCR_COUNT {
        Ok(pcr)
    } else {
        Err(Error::NoSuchPcr { pcr })
    }
}

fn check_len(what: &'static str, bytes: &[u8], max: usize) -> Result<(), Error> {
    if bytes.len() > max {
        return Err(Error::TooLong {
            what,
            len: bytes.len(),
            max,
        });
    }
    Ok(())
}

impl<T: Transport> Tpm<T> {
    fn simple(&mut self, cmd: Command) -> Result<crate::command::Reply, Error> {
        self.execute(&cmd, &mut [])
    }

    /// TPM2_Startup(TPM_SU_CLEAR) (Part 3, §9.3). On a real system the
    /// firmware has done it; swtpm may need it.
    pub fn startup_clear(&mut self) -> Result<Started, Error> {
        let mut cmd = Command::new(cc::STARTUP, "Startup");
        cmd.params().u16(0);
        match self.simple(cmd) {
            Ok(_) => Ok(Started::Now),
            Err(Error::Tpm { rc, .. }) if rc == ResponseCode::INITIALIZE => Ok(Started::Already),
            Err(e) => Err(e),
        }
    }

    /// TPM2_GetRandom (Part 3, §16.1): up to 32 bytes from the TPM's RNG.
    pub fn get_random(&mut self, bytes: u16) -> Result<Vec<u8>, Error> {
        let mut cmd = Command::new(cc::GET_RANDOM, "GetRandom");
        cmd.params().u16(bytes);
        let reply = self.simple(cmd)?;
        let mut r = reply.reader();
        let out = r.tpm2b(MAX_DIGEST, "randomBytes")?.to_vec();
        r.finish("bytes after randomBytes")?;
        Ok(out)
    }

    /// TPM2_PCR_Read (Part 3, §22.4) of SHA-256 PCRs, lowest first. The TPM
    /// returns at most 8 values per command, so this asks until all came.
    pub fn pcr_read(&mut self, selection: PcrSelection) -> Result<Vec<(u32, [u8; 32])>, Error> {
        let mut values = Vec::new();
        let mut left: Vec<u32> = selection.pcrs().collect();
        while !left.is_empty() {
            let asked = PcrSelection::of(&left).ok_or(Error::NoSuchPcr { pcr: left[0] })?;
            let mut cmd = Command::new(cc::PCR_READ, "PCR_Read");
            cmd.params().extend_from_slice(&asked.marshal());
            let reply = self.simple(cmd)?;
            let got = decode::pcr_read(&mut reply.reader())?;
            let before = left.len();
            for (pcr, value) in got {
                if let Some(i) = left.iter().position(|&p| p == pcr) {
                    left.remove(i);
                    values.push((pcr, value));
                }
            }
            if left.len() == before {
                return Err(Error::PcrUnavailable { pcr: left[0] });
            }
        }
        values.sort_by_key(|(pcr, _)| *pcr);
        Ok(values)
    }

    /// TPM2_PCR_Extend (Part 3, §22.2) of the SHA-256 bank only:
    /// `PCR = SHA-256(PCR || digest)`.
    pub fn pcr_extend(&mut self, pcr: u32, digest: &[u8; 32]) -> Result<(), Error> {
        let handle = pcr_handle(pcr)?;
        let mut cmd = Command::new(cc::PCR_EXTEND, "PCR_Extend")
            .auth_handle(handle, handle.to_be_bytes().to_vec());
        cmd.params().u32(1).u16(TPM_ALG_SHA256);
        cmd.params().extend_from_slice(digest);
        self.execute(&cmd, &mut [Auth::Password(&[])])?;
        Ok(())
    }

    /// TPM2_CreatePrimary (Part 3, §24.1) in the owner hierarchy (empty
    /// owner password), from `template`, with an empty authValue.
    pub fn create_primary(&mut self, template: &Public) -> Result<Object, Error> {
        let mut cmd = Command::new(cc::CREATE_PRIMARY, "CreatePrimary")
            .auth_handle(rh::OWNER, rh::OWNER.to_be_bytes().to_vec())
            .response_handles(1);
        cmd.params()
            .u16(4)
            .u16(0)
            .u16(0) // inSensitive: empty userAuth and data
            .tpm2b(&template.marshal())
            .u16(0) // outsideInfo
            .u32(0); // creationPCR
        let reply = self.execute(&cmd, &mut [Auth::Password(&[])])?;
        let (public, name) = decode::create_primary(&mut reply.reader())?;
        check_name("primary key", &public, &name)?;
        Ok(Object {
            handle: reply.handles[0],
            name,
            public,
        })
    }

    /// TPM2_Create (Part 3, §12.1) of an object under `parent`, authorized
    /// by `session` (an HMAC session on the parent, which has an empty
    /// authValue) with the decrypt attribute, so that `user_auth` and
    /// `data` cross the bus encrypted. Returns TPM2B_PRIVATE and
    /// TPM2B_PUBLIC as marshaled.
    pub fn create(
        &mut self,
        parent: &Object,
        session: &mut Session,
        template: &Public,
        user_auth: &[u8],
        data: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), Error> {
        check_len("the authValue", user_auth, crypto::DIGEST)?;
        check_len("the data to seal", data, MAX_SEALED)?;
        let mut sensitive = Zeroizing::new(Vec::new());
        sensitive.tpm2b(user_auth).tpm2b(data);
        let mut cmd =
            Command::new(cc::CREATE, "Create").auth_handle(parent.handle, parent.name.clone());
        cmd.params()
            .tpm2b(&sensitive)
            .tpm2b(&template.marshal())
            .u16(0)
            .u32(0);
        let reply = self.execute(
            &cmd,
            &mut [Auth::Session {
                session,
                attributes: attr::CONTINUE_SESSION | attr::DECRYPT,
                auth_value: &[],
            }],
        )?;
        decode::create(&mut reply.reader())
    }

    /// TPM2_Load (Part 3, §12.2) under `parent` (empty authValue, password
    /// session: nothing secret crosses the bus). The Name the TPM reports
    /// must be the one computed from `public`.
    pub fn load(
        &mut self,
        parent: &Object,
        private: &[u8],
        public: &[u8],
    ) -> Result<Object, Error> {
        let parsed = Public::parse_2b(public)?;
        let mut r = Reader::new(private);
        r.tpm2b(MAX_PRIVATE, "TPM2B_PRIVATE")?;
        r.finish("bytes after TPM2B_PRIVATE")?;
        let mut cmd = Command::new(cc::LOAD, "Load")
            .auth_handle(parent.handle, parent.name.clone())
            .response_handles(1);
        cmd.params().extend_from_slice(private);
        cmd.params().extend_from_slice(public);
        let reply = self.execute(&cmd, &mut [Auth::Password(&[])])?;
        let name = decode::name(&mut reply.reader())?;
        check_name("sealed object", &parsed, &name)?;
        Ok(Object {
            handle: reply.handles[0],
            name,
            public: parsed,
        })
    }

    /// TPM2_Unseal (Part 3, §12.7) of `item`, authorized by the policy
    /// session `policy` (closed by the command), with `encrypt_session` as
    /// a second session with the encrypt attribute, so that the secret
    /// crosses the bus encrypted. `auth_value` is the object's authValue
    /// (used if the policy ran TPM2_PolicyAuthValue).
    pub fn unseal(
        &mut self,
        item: &Object,
        policy: &mut Session,
        auth_value: &[u8],
        encrypt_session: &mut Session,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let cmd = Command::new(cc::UNSEAL, "Unseal").auth_handle(item.handle, item.name.clone());
        let reply = self.execute(
            &cmd,
            &mut [
                Auth::Session {
                    session: policy,
                    attributes: 0,
                    auth_value,
                },
                Auth::Session {
                    session: encrypt_session,
                    attributes: attr::CONTINUE_SESSION | attr::ENCRYPT,
                    auth_value: &[],
                },
            ],
        )?;
        let mut r = reply.reader();
        let data = Zeroizing::new(r.tpm2b(MAX_SEALED, "outData")?.to_vec());
        r.finish("bytes after outData")?;
        Ok(data)
    }

    /// TPM2_Unseal with the policy session alone and no encryption: the
    /// secret crosses the bus in clear. Only for tests that show why the
    /// encrypted form matters.
    #[doc(hidden)]
    pub fn unseal_in_clear(
        &mut self,
        item: &Object,
        policy: &mut Session,
        auth_value: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let cmd = Command::new(cc::UNSEAL, "Unseal").auth_handle(item.handle, item.name.clone());
        let reply = self.execute(
            &cmd,
            &mut [Auth::Session {
                session: policy,
                attributes: 0,
                auth_value,
            }],
        )?;
        let mut r = reply.reader();
        Ok(Zeroizing::new(r.tpm2b(MAX_SEALED, "outData")?.to_vec()))
    }

    /// TPM2_LoadExternal (Part 3, §12.3) of a public key only, into the
    /// owner hierarchy (so that TPM2_VerifySignature gives a ticket
    /// TPM2_PolicyAuthorize accepts; a key in the NULL hierarchy gives a
    /// NULL ticket).
    pub fn load_external_public(&mut self, public: &Public) -> Result<Object, Error> {
        let mut cmd = Command::new(cc::LOAD_EXTERNAL, "LoadExternal").response_handles(1);
        cmd.params()
            .u16(0) // inPrivate: none
            .tpm2b(&public.marshal())
            .u32(rh::OWNER);
        let reply = self.simple(cmd)?;
        let name = decode::name(&mut reply.reader())?;
        check_name("PCR-policy key", public, &name)?;
        Ok(Object {
            handle: reply.handles[0],
            name,
            public: public.clone(),
        })
    }

    /// TPM2_VerifySignature (Part 3, §20.1) of an RSASSA-PKCS1-v1_5 SHA-256
    /// `signature` over `digest` (already hashed) by `key`.
    pub fn verify_signature(
        &mut self,
        key: &Object,
        digest: &[u8; 32],
        signature: &[u8],
    ) -> Result<Ticket, Error> {
        check_len("the signature", signature, MAX_SIGNATURE)?;
        let mut cmd = Command::new(cc::VERIFY_SIGNATURE, "VerifySignature")
            .handle(key.handle, key.name.clone());
        cmd.params()
            .tpm2b(digest)
            .u16(alg::RSASSA)
            .u16(alg::SHA256)
            .tpm2b(signature);
        let reply = self.simple(cmd)?;
        decode::ticket(&mut reply.reader())
    }

    /// TPM2_StartAuthSession (Part 3, §11.1): unbound, salted with
    /// `tpm_key` when given (else unsalted), SHA-256, with AES-128-CFB for
    /// parameter encryption.
    pub fn start_auth_session(
        &mut self,
        tpm_key: Option<&Object>,
        kind: SessionType,
    ) -> Result<Session, Error> {
        let nonce_caller = crypto::random(crypto::DIGEST)?.to_vec();
        let salt = tpm_key
            .map(|key| crypto::salt_for(&key.public))
            .transpose()?;
        let mut cmd = Command::new(cc::START_AUTH_SESSION, "StartAuthSession")
            .handle(tpm_key.map_or(rh::NULL, |k| k.handle), Vec::new())
            .handle(rh::NULL, Vec::new())
            .response_handles(1);
        cmd.params()
            .tpm2b(&nonce_caller)
            .tpm2b(salt.as_ref().map_or(&[][..], |s| &s.encrypted))
            .u8(kind as u8);
        SymDef::AES_128_CFB.put(cmd.params());
        cmd.params().u16(alg::SHA256);
        let reply = self.simple(cmd)?;
        let mut r = reply.reader();
        let nonce_tpm = r.tpm2b(MAX_DIGEST, "nonceTPM")?.to_vec();
        r.finish("bytes after nonceTPM")?;
        let session_key = match &salt {
            Some(s) => crypto::kdfa(&s.salt, b"ATH", &nonce_tpm, &nonce_caller, 256),
            None => Zeroizing::new(Vec::new()),
        };
        Ok(Session {
            handle: reply.handles[0],
            kind,
            session_key,
            nonce_tpm,
            nonce_caller,
            auth_value_needed: false,
            closed: false,
        })
    }

    /// TPM2_PolicyPCR (Part 3, §23.7) with an empty pcrDigest: the TPM
    /// extends the session's digest with its current values of `pcrs`.
    pub fn policy_pcr(&mut self, session: &Session, pcrs: PcrSelection) -> Result<(), Error> {
        let mut cmd = Command::new(cc::POLICY_PCR, "PolicyPCR").handle(session.handle, Vec::new());
        cmd.params().u16(0).extend_from_slice(&pcrs.marshal());
        self.simple(cmd)?;
        Ok(())
    }

    /// TPM2_PolicyAuthorize (Part 3, §23.16): the session's digest, if it
    /// equals `approved`, becomes that of the key `key_name` (with
    /// `ticket` proving the key signed `approved`).
    pub fn policy_authorize(
        &mut self,
        session: &Session,
        approved: &[u8],
        policy_ref: &[u8],
        key_name: &[u8],
        ticket: &Ticket,
    ) -> Result<(), Error> {
        check_len("the approved policy", approved, MAX_DIGEST)?;
        check_len("the policyRef", policy_ref, MAX_DIGEST)?;
        check_len("the key name", key_name, MAX_NAME)?;
        check_len("the ticket digest", &ticket.digest, MAX_DIGEST)?;
        let mut cmd = Command::new(cc::POLICY_AUTHORIZE, "PolicyAuthorize")
            .handle(session.handle, Vec::new());
        cmd.params()
            .tpm2b(approved)
            .tpm2b(policy_ref)
            .tpm2b(key_name)
            .u16(ticket.tag)
            .u32(ticket.hierarchy)
            .tpm2b(&ticket.digest);
        self.simple(cmd)?;
        Ok(())
    }

    /// TPM2_PolicyAuthValue (Part 3, §23.17): the object's authValue (the
    /// PIN) must also be proven, in the session's HMAC.
    pub fn policy_auth_value(&mut self, session: &mut Session) -> Result<(), Error> {
        let cmd = Command::new(cc::POLICY_AUTH_VALUE, "PolicyAuthValue")
            .handle(session.handle, Vec::new());
        self.simple(cmd)?;
        session.require_auth_value();
        Ok(())
    }

    /// TPM2_PolicyGetDigest (Part 3, §23.19).
    pub fn policy_get_digest(&mut self, session: &Session) -> Result<Vec<u8>, Error> {
        let cmd = Command::new(cc::POLICY_GET_DIGEST, "PolicyGetDigest")
            .handle(session.handle, Vec::new());
        let reply = self.simple(cmd)?;
        let mut r = reply.reader();
        let digest = r.tpm2b(MAX_DIGEST, "policyDigest")?.to_vec();
        r.finish("bytes after policyDigest")?;
        Ok(digest)
    }

    /// TPM2_FlushContext (Part 3, §28.4) of a transient object or session.
    pub fn flush_context(&mut self, handle: u32) -> Result<(), Error> {
        let mut cmd = Command::new(cc::FLUSH_CONTEXT, "FlushContext");
        cmd.params().u32(handle);
        self.simple(cmd)?;
        Ok(())
    }

    /// Flushes a session unless the TPM already did.
    pub fn flush_session(&mut self, session: &mut Session) -> Result<(), Error> {
        if session.closed {
            return Ok(());
        }
        session.closed = true;
        self.flush_context(session.handle)
    }

    /// TPM2_ReadPublic (Part 3, §12.4). For a SHA-256 nameAlg the Name is
    /// computed here from the public area, and must equal the one the TPM
    /// reports (other Names are kept as reported).
    pub fn read_public(&mut self, handle: u32) -> Result<Object, Error> {
        let cmd = Command::new(cc::READ_PUBLIC, "ReadPublic").handle(handle, Vec::new());
        let reply = self.simple(cmd)?;
        let (public, name) = decode::read_public(&mut reply.reader())?;
        if public.name_alg == alg::SHA256 {
            check_name("object", &public, &name)?;
        }
        Ok(Object {
            handle,
            name,
            public,
        })
    }

    /// TPM2_EvictControl (Part 3, §28.5): makes the transient `object`
    /// persistent at `persistent` (owner hierarchy, empty owner password).
    pub fn evict_control(&mut self, object: &Object, persistent: u32) -> Result<(), Error> {
        let mut cmd = Command::new(cc::EVICT_CONTROL, "EvictControl")
            .auth_handle(rh::OWNER, rh::OWNER.to_be_bytes().to_vec())
            .handle(object.handle, object.name.clone());
        cmd.params().u32(persistent);
        self.execute(&cmd, &mut [Auth::Password(&[])])?;
        Ok(())
    }
}

/// The Name the TPM reports must be the one of the public area.
fn check_name(what: &'static str, public: &Public, reported: &[u8]) -> Result<(), Error> {
    let expected = public.name()?;
    if expected != reported {
        return Err(Error::NameMismatch {
            what,
            reported: hex(reported),
            expected: hex(&expected),
        });
    }
    Ok(())
}
