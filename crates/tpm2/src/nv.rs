//! NV indices (TPM 2.0 Part 1, §37 "NV Memory"; Part 2, §13 "NV Storage
//! Structures"; Part 3, §31 "Non-volatile Storage") and the two policy
//! commands that use them for anti-rollback (docs/anti-rollback.md):
//! TPM2_PolicyNV (Part 3, §23.9) and TPM2_PolicyCommandCode (§23.11).
//!
//! ```text
//! TPMS_NV_PUBLIC = nvIndex u32 || nameAlg u16 || attributes u32 || authPolicy TPM2B || dataSize u16
//! Name           = nameAlg || SHA-256(TPMS_NV_PUBLIC)
//! ```
//!
//! The Name covers the attributes, including TPMA_NV_WRITTEN, so an index
//! is named differently before and after its first write.

use sha2::{Digest, Sha256};

use crate::command::{Command, Tpm};
use crate::commands::{MAX_NAME, rh};
use crate::error::{Error, hex};
use crate::marshal::{Put, Reader};
use crate::policy::{PolicyDigest, TPM_ALG_SHA256};
use crate::session::{Auth, Session};
use crate::transport::Transport;

/// TPM_CC values of the NV and policy commands here (Part 2, §6.5.2).
pub mod cc {
    pub const NV_UNDEFINE_SPACE: u32 = 0x122;
    pub const NV_DEFINE_SPACE: u32 = 0x12A;
    pub const NV_WRITE: u32 = 0x137;
    pub const POLICY_NV: u32 = 0x149;
    pub const NV_READ: u32 = 0x14E;
    pub const NV_READ_PUBLIC: u32 = 0x169;
    pub const POLICY_COMMAND_CODE: u32 = 0x16C;
}

/// TPMA_NV bits (Part 2, §13.4). The index type (TPM_NT, bits 4–7) is 0,
/// TPM_NT_ORDINARY, for every index this crate defines.
pub mod attr_nv {
    pub const PPWRITE: u32 = 1 << 0;
    pub const OWNERWRITE: u32 = 1 << 1;
    pub const AUTHWRITE: u32 = 1 << 2;
    pub const POLICYWRITE: u32 = 1 << 3;
    pub const TYPE_MASK: u32 = 0xF << 4;
    pub const POLICY_DELETE: u32 = 1 << 10;
    pub const WRITELOCKED: u32 = 1 << 11;
    pub const WRITEALL: u32 = 1 << 12;
    pub const WRITEDEFINE: u32 = 1 << 13;
    pub const WRITE_STCLEAR: u32 = 1 << 14;
    pub const GLOBALLOCK: u32 = 1 << 15;
    pub const PPREAD: u32 = 1 << 16;
    pub const OWNERREAD: u32 = 1 << 17;
    pub const AUTHREAD: u32 = 1 << 18;
    pub const POLICYREAD: u32 = 1 << 19;
    pub const NO_DA: u32 = 1 << 25;
    pub const ORDERLY: u32 = 1 << 26;
    pub const CLEAR_STCLEAR: u32 = 1 << 27;
    pub const READLOCKED: u32 = 1 << 28;
    pub const WRITTEN: u32 = 1 << 29;
    pub const PLATFORMCREATE: u32 = 1 << 30;
    pub const READ_STCLEAR: u32 = 1 << 31;
}

/// TPM_EO: PolicyNV's comparisons (Part 2, §6.8). Operand A is the NV
/// contents at the offset, operand B the caller's bytes, both compared as
/// big-endian numbers of operand B's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Op {
    Eq = 0x0000,
    Neq = 0x0001,
    SignedGt = 0x0002,
    UnsignedGt = 0x0003,
    SignedLt = 0x0004,
    UnsignedLt = 0x0005,
    SignedGe = 0x0006,
    UnsignedGe = 0x0007,
    SignedLe = 0x0008,
    UnsignedLe = 0x0009,
    BitSet = 0x000A,
    BitClear = 0x000B,
}

/// Largest authPolicy (a SHA-512 digest) and NV data read at once here.
const MAX_POLICY: usize = 64;
const MAX_NV_DATA: usize = 2048;

/// TPMS_NV_PUBLIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvPublic {
    pub index: u32,
    pub name_alg: u16,
    pub attributes: u32,
    pub auth_policy: Vec<u8>,
    pub data_size: u16,
}

impl NvPublic {
    /// An ordinary SHA-256 index.
    pub fn new(index: u32, attributes: u32, auth_policy: PolicyDigest, data_size: u16) -> Self {
        Self {
            index,
            name_alg: TPM_ALG_SHA256,
            attributes,
            auth_policy: auth_policy.to_vec(),
            data_size,
        }
    }

    pub fn marshal(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.u32(self.index)
            .u16(self.name_alg)
            .u32(self.attributes)
            .tpm2b(&self.auth_policy)
            .u16(self.data_size);
        out
    }

    /// Reads a TPMS_NV_PUBLIC.
    pub fn parse(r: &mut Reader) -> Result<Self, Error> {
        Ok(Self {
            index: r.u32("nvIndex")?,
            name_alg: r.u16("nameAlg")?,
            attributes: r.u32("attributes")?,
            auth_policy: r.tpm2b(MAX_POLICY, "authPolicy")?.to_vec(),
            data_size: r.u16("dataSize")?,
        })
    }

    /// The index's Name with its current attributes (SHA-256 nameAlg).
    pub fn name(&self) -> Vec<u8> {
        let mut name = TPM_ALG_SHA256.to_be_bytes().to_vec();
        name.extend_from_slice(&Sha256::digest(self.marshal()));
        name
    }

    /// The same index with TPMA_NV_WRITTEN set: its Name once written.
    pub fn written(&self) -> Self {
        Self {
            attributes: self.attributes | attr_nv::WRITTEN,
            ..self.clone()
        }
    }
}

/// PolicyNV's digest (Part 3, §23.9): `H(old || TPM_CC_PolicyNV ||
/// H(operandB || offset || operation) || nvIndex.Name)`.
pub fn policy_nv(
    old: &PolicyDigest,
    nv_name: &[u8],
    operand_b: &[u8],
    offset: u16,
    op: Op,
) -> PolicyDigest {
    let args = Sha256::new()
        .chain_update(operand_b)
        .chain_update(offset.to_be_bytes())
        .chain_update((op as u16).to_be_bytes())
        .finalize();
    Sha256::new()
        .chain_update(old)
        .chain_update(cc::POLICY_NV.to_be_bytes())
        .chain_update(args)
        .chain_update(nv_name)
        .finalize()
        .into()
}

/// PolicyCommandCode's digest (Part 3, §23.11): `H(old ||
/// TPM_CC_PolicyCommandCode || code)`.
pub fn policy_command_code(old: &PolicyDigest, code: u32) -> PolicyDigest {
    Sha256::new()
        .chain_update(old)
        .chain_update(cc::POLICY_COMMAND_CODE.to_be_bytes())
        .chain_update(code.to_be_bytes())
        .finalize()
        .into()
}

impl<T: Transport> Tpm<T> {
    /// TPM2_NV_DefineSpace (Part 3, §31.3) in the owner hierarchy (empty
    /// owner password), with an empty authValue.
    pub fn nv_define_space(&mut self, public: &NvPublic) -> Result<(), Error> {
        let mut cmd = Command::new(cc::NV_DEFINE_SPACE, "NV_DefineSpace")
            .auth_handle(rh::OWNER, rh::OWNER.to_be_bytes().to_vec());
        cmd.params().u16(0).tpm2b(&public.marshal());
        self.execute(&cmd, &mut [Auth::Password(&[])])?;
        Ok(())
    }

    /// TPM2_NV_UndefineSpace (Part 3, §31.4) with the (empty) owner
    /// password: what anyone who holds owner authorization can do.
    pub fn nv_undefine_space(&mut self, index: u32) -> Result<(), Error> {
        let cmd = Command::new(cc::NV_UNDEFINE_SPACE, "NV_UndefineSpace")
            .auth_handle(rh::OWNER, rh::OWNER.to_be_bytes().to_vec())
            .handle(index, Vec::new());
        self.execute(&cmd, &mut [Auth::Password(&[])])?;
        Ok(())
    }

    /// TPM2_NV_ReadPublic (Part 3, §31.6): the public area and the Name,
    /// which must be the public area's.
    pub fn nv_read_public(&mut self, index: u32) -> Result<(NvPublic, Vec<u8>), Error> {
        let cmd = Command::new(cc::NV_READ_PUBLIC, "NV_ReadPublic").handle(index, Vec::new());
        let reply = self.execute(&cmd, &mut [])?;
        let mut r = reply.reader();
        let area = r.tpm2b(MAX_POLICY + 16, "nvPublic")?;
        let mut inner = Reader::new(area);
        let public = NvPublic::parse(&mut inner)?;
        inner.finish("bytes after TPMS_NV_PUBLIC")?;
        let name = r.tpm2b(MAX_NAME, "nvName")?.to_vec();
        r.finish("bytes after nvName")?;
        if public.name_alg == TPM_ALG_SHA256 && public.name() != name {
            return Err(Error::NameMismatch {
                what: "NV index",
                reported: hex(&name),
                expected: hex(&public.name()),
            });
        }
        Ok((public, name))
    }

    /// TPM2_NV_Read (Part 3, §31.13) authorized by the index itself with
    /// its (empty) authValue (TPMA_NV_AUTHREAD).
    pub fn nv_read(
        &mut self,
        index: u32,
        name: &[u8],
        size: u16,
        offset: u16,
    ) -> Result<Vec<u8>, Error> {
        let mut cmd = Command::new(cc::NV_READ, "NV_Read")
            .auth_handle(index, name.to_vec())
            .handle(index, name.to_vec());
        cmd.params().u16(size).u16(offset);
        let reply = self.execute(&cmd, &mut [Auth::Password(&[])])?;
        let mut r = reply.reader();
        let data = r.tpm2b(MAX_NV_DATA, "data")?.to_vec();
        r.finish("bytes after data")?;
        Ok(data)
    }

    /// TPM2_NV_Write (Part 3, §31.11) authorized by `policy`, a policy
    /// session that satisfies the index's authPolicy (TPMA_NV_POLICYWRITE;
    /// the session is closed by the command).
    pub fn nv_write_policy(
        &mut self,
        index: u32,
        name: &[u8],
        data: &[u8],
        offset: u16,
        policy: &mut Session,
    ) -> Result<(), Error> {
        if data.len() > MAX_NV_DATA {
            return Err(Error::TooLong {
                what: "the NV data",
                len: data.len(),
                max: MAX_NV_DATA,
            });
        }
        let mut cmd = Command::new(cc::NV_WRITE, "NV_Write")
            .auth_handle(index, name.to_vec())
            .handle(index, name.to_vec());
        cmd.params().tpm2b(data).u16(offset);
        self.execute(
            &cmd,
            &mut [Auth::Session {
                session: policy,
                attributes: 0,
                auth_value: &[],
            }],
        )?;
        Ok(())
    }

    /// TPM2_NV_Write with the index's (empty) authValue in a password
    /// session (TPMA_NV_AUTHWRITE). For tests: what userspace would try.
    pub fn nv_write_password(&mut self, index: u32, data: &[u8], offset: u16) -> Result<(), Error> {
        let mut cmd = Command::new(cc::NV_WRITE, "NV_Write")
            .auth_handle(index, Vec::new())
            .handle(index, Vec::new());
        cmd.params().tpm2b(data).u16(offset);
        self.execute(&cmd, &mut [Auth::Password(&[])])?;
        Ok(())
    }

    /// TPM2_PolicyNV (Part 3, §23.9): the session's policy holds only if
    /// `NV[offset..] op operand_b`; the read is authorized by the index
    /// itself (TPMA_NV_AUTHREAD, empty authValue).
    pub fn policy_nv(
        &mut self,
        session: &Session,
        index: u32,
        name: &[u8],
        operand_b: &[u8],
        offset: u16,
        op: Op,
    ) -> Result<(), Error> {
        if operand_b.len() > MAX_POLICY {
            return Err(Error::TooLong {
                what: "PolicyNV's operandB",
                len: operand_b.len(),
                max: MAX_POLICY,
            });
        }
        let mut cmd = Command::new(cc::POLICY_NV, "PolicyNV")
            .auth_handle(index, name.to_vec())
            .handle(index, name.to_vec())
            .handle(session.handle(), Vec::new());
        cmd.params().tpm2b(operand_b).u16(offset).u16(op as u16);
        self.execute(&cmd, &mut [Auth::Password(&[])])?;
        Ok(())
    }

    /// TPM2_PolicyCommandCode (Part 3, §23.11): the session can authorize
    /// only command `code`.
    pub fn policy_command_code(&mut self, session: &Session, code: u32) -> Result<(), Error> {
        let mut cmd = Command::new(cc::POLICY_COMMAND_CODE, "PolicyCommandCode")
            .handle(session.handle(), Vec::new());
        cmd.params().u32(code);
        self.execute(&cmd, &mut [])?;
        Ok(())
    }
}
