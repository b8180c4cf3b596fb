//! Splitting a response into its parts (Part 1, §18.9 "Response
//! Structure"): header, handles, parameters, and the session area, each
//! length checked against the bytes received.
//!
//! ```text
//! tag u16 | responseSize u32 | responseCode u32          (only this when the code is not 0)
//! | handles u32... | [parameterSize u32] | parameters
//! | [(nonce TPM2B, attributes u8, hmac TPM2B)...]     (tag TPM_ST_SESSIONS)
//! ```

use crate::command::{ST_NO_SESSIONS, ST_SESSIONS};
use crate::error::Error;
use crate::marshal::Reader;
use crate::rc::ResponseCode;

/// Largest nonce or HMAC in a session area (the largest digest).
const MAX_SESSION_FIELD: usize = 64;

/// A response split into its parts, nothing checked but the framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse<'a> {
    pub code: ResponseCode,
    pub handles: Vec<u32>,
    pub params: &'a [u8],
    pub params_offset: usize,
    pub sessions: Vec<RawSession<'a>>,
}

/// One session's part of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawSession<'a> {
    pub nonce: &'a [u8],
    pub attributes: u8,
    pub hmac: &'a [u8],
}

/// Splits a response to a command that returns `handles` handles and used
/// `sessions` sessions. A response with a non-zero code is only its header.
pub fn parse_response(
    bytes: &[u8],
    handles: usize,
    sessions: usize,
) -> Result<RawResponse<'_>, Error> {
    let mut r = Reader::new(bytes);
    let tag = r.u16("response tag")?;
    let size_at = r.offset();
    let size = r.u32("response size")?;
    if usize::try_from(size).ok() != Some(bytes.len()) {
        return Err(Error::Malformed {
            what: "response size (differs from the bytes received)",
            offset: size_at,
        });
    }
    let code = ResponseCode(r.u32("response code")?);
    if code != ResponseCode::SUCCESS {
        if tag != ST_NO_SESSIONS {
            return Err(Error::Malformed {
                what: "response tag of an error (must be TPM_ST_NO_SESSIONS)",
                offset: 0,
            });
        }
        r.finish("bytes after an error response's header")?;
        return Ok(RawResponse {
            code,
            handles: Vec::new(),
            params: &[],
            params_offset: r.offset(),
            sessions: Vec::new(),
        });
    }
    let want_tag = if sessions > 0 {
        ST_SESSIONS
    } else {
        ST_NO_SESSIONS
    };
    if tag != want_tag {
        return Err(Error::Malformed {
            what: "response tag (sessions present or missing)",
            offset: 0,
        });
    }
    let handles = (0..handles)
        .map(|_| r.u32("response handle"))
        .collect::<Result<Vec<_>, _>>()?;
    let (params, params_offset) = if sessions > 0 {
        let len = usize::try_from(r.u32("response parameterSize")?).unwrap_or(usize::MAX);
        let at = r.offset();
        (r.bytes(len, "response parameters (parameterSize)")?, at)
    } else {
        let at = r.offset();
        (r.bytes(r.remaining(), "response parameters")?, at)
    };
    let sessions = (0..sessions)
        .map(|_| {
            Ok(RawSession {
                nonce: r.tpm2b(MAX_SESSION_FIELD, "response session nonce")?,
                attributes: r.u8("response session attributes")?,
                hmac: r.tpm2b(MAX_SESSION_FIELD, "response session HMAC")?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    r.finish("bytes after the response's sessions")?;
    Ok(RawResponse {
        code,
        handles,
        params,
        params_offset,
        sessions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::marshal::Put;

    fn response(tag: u16, code: u32, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        let len = u32::try_from(10 + body.len()).unwrap();
        v.u16(tag).u32(len).u32(code);
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn error_responses_are_only_a_header() {
        let r = response(ST_NO_SESSIONS, 0x99d, &[]);
        assert_eq!(parse_response(&r, 1, 2).unwrap().code, ResponseCode(0x99d));
        let r = response(ST_NO_SESSIONS, 0x99d, &[0]);
        assert!(parse_response(&r, 0, 0).is_err());
    }

    #[test]
    fn sessions_and_parameters_are_split() {
        let mut body = Vec::new();
        body.u32(0x8000_0001) // handle
            .u32(3)
            .u8(0)
            .u16(0); // parameters: 3 bytes
        body.extend_from_slice(&[0, 1, 0xaa]); // session: nonce
        body.u8(1).u16(0); // attributes, hmac
        let r = response(ST_SESSIONS, 0, &body);
        let raw = parse_response(&r, 1, 1).unwrap();
        assert_eq!(raw.handles, [0x8000_0001]);
        assert_eq!(raw.params, [0, 0, 0]);
        assert_eq!(raw.params_offset, 18);
        assert_eq!(raw.sessions[0].nonce, [0xaa]);
        assert_eq!(raw.sessions[0].attributes, 1);
        // Missing session, wrong size field, wrong tag.
        assert!(parse_response(&r, 1, 2).is_err());
        let mut bad = r.clone();
        bad[5] += 1;
        assert!(matches!(
            parse_response(&bad, 1, 1),
            Err(Error::Malformed { offset: 2, .. })
        ));
        assert!(parse_response(&r, 1, 0).is_err());
    }
}
