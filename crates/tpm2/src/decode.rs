//! Decoders of response parameter areas (Part 3, the "Response" table of
//! each command). Each reads exactly its parameters and fails on anything
//! left over; they are pure functions over bytes, and the fuzz target
//! calls them.

use crate::commands::{MAX_DIGEST, MAX_NAME, ST_VERIFIED, Ticket};
use crate::error::Error;
use crate::marshal::Reader;
use crate::policy::TPM_ALG_SHA256;
use crate::public::{MAX_PRIVATE, MAX_PUBLIC, Public};

/// TPM2_CreatePrimary: outPublic, creationData, creationHash,
/// creationTicket, name; returns outPublic and name.
pub fn create_primary(r: &mut Reader) -> Result<(Public, Vec<u8>), Error> {
    let public = Public::read_2b(r)?;
    skip_creation(r)?;
    let name = r.tpm2b(MAX_NAME, "name")?.to_vec();
    r.finish("bytes after name")?;
    Ok((public, name))
}

/// TPM2_Create: outPrivate, outPublic, creationData, creationHash,
/// creationTicket; returns the first two as marshaled TPM2Bs.
pub fn create(r: &mut Reader) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let private = r.tpm2b_raw(MAX_PRIVATE, "outPrivate")?.to_vec();
    let mut pr = r.clone();
    let public = r.tpm2b_raw(MAX_PUBLIC, "outPublic")?.to_vec();
    Public::read_2b(&mut pr)?;
    skip_creation(r)?;
    r.finish("bytes after creationTicket")?;
    Ok((private, public))
}

/// creationData (TPM2B), creationHash (TPM2B), creationTicket
/// (tag, hierarchy, TPM2B digest).
fn skip_creation(r: &mut Reader) -> Result<(), Error> {
    r.tpm2b(MAX_PUBLIC, "creationData")?;
    r.tpm2b(MAX_DIGEST, "creationHash")?;
    r.u16("creationTicket tag")?;
    r.u32("creationTicket hierarchy")?;
    r.tpm2b(MAX_DIGEST, "creationTicket digest")?;
    Ok(())
}

/// TPM2_Load, TPM2_LoadExternal: name.
pub fn name(r: &mut Reader) -> Result<Vec<u8>, Error> {
    let name = r.tpm2b(MAX_NAME, "name")?.to_vec();
    r.finish("bytes after name")?;
    Ok(name)
}

/// TPM2_ReadPublic: outPublic, name, qualifiedName.
pub fn read_public(r: &mut Reader) -> Result<(Public, Vec<u8>), Error> {
    let public = Public::read_2b(r)?;
    let name = r.tpm2b(MAX_NAME, "name")?.to_vec();
    r.tpm2b(MAX_NAME, "qualifiedName")?;
    r.finish("bytes after qualifiedName")?;
    Ok((public, name))
}

/// TPM2_VerifySignature: validation (TPMT_TK_VERIFIED).
pub fn ticket(r: &mut Reader) -> Result<Ticket, Error> {
    let at = r.offset();
    let tag = r.u16("ticket tag")?;
    if tag != ST_VERIFIED {
        return Err(Error::Malformed {
            what: "ticket tag (not TPM_ST_VERIFIED)",
            offset: at,
        });
    }
    let hierarchy = r.u32("ticket hierarchy")?;
    let digest = r.tpm2b(MAX_DIGEST, "ticket digest")?.to_vec();
    r.finish("bytes after the ticket")?;
    Ok(Ticket {
        tag,
        hierarchy,
        digest,
    })
}

/// TPM2_PCR_Read: pcrUpdateCounter, pcrSelectionOut, pcrValues; the
/// SHA-256 values returned, by PCR. Values of other banks are refused
/// (this crate only asks for SHA-256).
pub fn pcr_read(r: &mut Reader) -> Result<Vec<(u32, [u8; 32])>, Error> {
    r.u32("pcrUpdateCounter")?;
    let at = r.offset();
    let count = r.u32("pcrSelectionOut count")?;
    if count > 1 {
        return Err(Error::Malformed {
            what: "pcrSelectionOut count (one bank asked)",
            offset: at,
        });
    }
    let mut pcrs = Vec::new();
    if count == 1 {
        let at = r.offset();
        if r.u16("pcrSelectionOut hash")? != TPM_ALG_SHA256 {
            return Err(Error::Malformed {
                what: "pcrSelectionOut hash (not SHA-256)",
                offset: at,
            });
        }
        let at = r.offset();
        let size = usize::from(r.u8("pcrSelectionOut sizeofSelect")?);
        if size > 4 {
            return Err(Error::Malformed {
                what: "pcrSelectionOut sizeofSelect",
                offset: at,
            });
        }
        for (i, byte) in r.bytes(size, "pcrSelect")?.iter().enumerate() {
            for bit in 0..8u32 {
                if byte & (1 << bit) != 0 {
                    pcrs.push(u32::try_from(i).unwrap_or(u32::MAX) * 8 + bit);
                }
            }
        }
    }
    let at = r.offset();
    let n = r.u32("pcrValues count")?;
    if usize::try_from(n).ok() != Some(pcrs.len()) {
        return Err(Error::Malformed {
            what: "pcrValues count (differs from the selection)",
            offset: at,
        });
    }
    let mut out = Vec::with_capacity(pcrs.len());
    for pcr in pcrs {
        let at = r.offset();
        let value = r.tpm2b(MAX_DIGEST, "PCR value")?;
        let value: [u8; 32] = value.try_into().map_err(|_| Error::Malformed {
            what: "PCR value (not 32 bytes)",
            offset: at,
        })?;
        out.push((pcr, value));
    }
    r.finish("bytes after pcrValues")?;
    Ok(out)
}
