//! The check behind the fuzz target `response`.
//!
//! `crates/tpm2/tests/fuzz_corpus.rs` includes this file with `#[path]` and
//! replays the committed corpus through the same function, so keep it free
//! of dependencies other than `tpm2`.
//!
//! An input is one selector byte, then the bytes a TPM (or someone on the
//! bus) sent back. The selector picks which command's response they are
//! read as ([`SHAPES`]), or one of the two stored formats that are read from
//! a LUKS2 token (the sealed blob, the serialized SRK handle).

use tpm2::decode;
use tpm2::marshal::Reader;
use tpm2::response::parse_response;
use tpm2::{ResponseCode, Sealed};

/// The furthest an input got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// No selector byte.
    Empty,
    /// The response framing (header, size, handles, sessions) is wrong.
    Framing,
    /// A well-framed error response (header only).
    TpmError,
    /// Framed, but the command's parameters do not decode.
    Undecodable,
    /// Fully decoded.
    Decoded,
}

/// How a response is read: command name, response handles, sessions used.
pub struct Shape {
    pub command: &'static str,
    pub handles: usize,
    pub sessions: usize,
}

/// The responses the crate reads, as its commands send them. The two
/// entries past the end of the list (selector values 11 and 12, modulo 13)
/// are the stored formats.
pub const SHAPES: [Shape; 11] = [
    Shape {
        command: "CreatePrimary",
        handles: 1,
        sessions: 1,
    },
    Shape {
        command: "Create",
        handles: 0,
        sessions: 1,
    },
    Shape {
        command: "Load",
        handles: 1,
        sessions: 1,
    },
    Shape {
        command: "LoadExternal",
        handles: 1,
        sessions: 0,
    },
    Shape {
        command: "ReadPublic",
        handles: 0,
        sessions: 0,
    },
    Shape {
        command: "VerifySignature",
        handles: 0,
        sessions: 0,
    },
    Shape {
        command: "PCR_Read",
        handles: 0,
        sessions: 0,
    },
    Shape {
        command: "GetRandom",
        handles: 0,
        sessions: 0,
    },
    Shape {
        command: "StartAuthSession",
        handles: 1,
        sessions: 0,
    },
    Shape {
        command: "Unseal",
        handles: 0,
        sessions: 2,
    },
    Shape {
        command: "PolicyGetDigest",
        handles: 0,
        sessions: 0,
    },
];

/// Target `response`: never panics; what parses has the sizes it claims,
/// and the public areas, blobs and SRK handles it decodes marshal back to
/// the same bytes.
pub fn response(data: &[u8]) -> Outcome {
    let Some((&selector, bytes)) = data.split_first() else {
        return Outcome::Empty;
    };
    let which = usize::from(selector) % (SHAPES.len() + 2);
    if which == SHAPES.len() {
        return stored(Sealed::split_blob(bytes).map(|(private, public)| {
            assert_eq!([private, public].concat(), bytes);
        }));
    }
    if which == SHAPES.len() + 1 {
        return stored(Sealed::parse_esys_tr(bytes).map(|(handle, name, public)| {
            let mut again = handle.to_be_bytes().to_vec();
            again.extend_from_slice(&u16::try_from(name.len()).unwrap().to_be_bytes());
            again.extend_from_slice(&name);
            again.extend_from_slice(&1u32.to_be_bytes());
            again.extend_from_slice(&public.marshal_2b());
            assert_eq!(again, bytes);
        }));
    }
    let shape = &SHAPES[which];
    let Ok(raw) = parse_response(bytes, shape.handles, shape.sessions) else {
        return Outcome::Framing;
    };
    if raw.code != ResponseCode::SUCCESS {
        assert!(raw.params.is_empty() && raw.sessions.is_empty() && bytes.len() == 10);
        return Outcome::TpmError;
    }
    assert_eq!(raw.handles.len(), shape.handles);
    assert_eq!(raw.sessions.len(), shape.sessions);
    assert!(raw.params_offset + raw.params.len() <= bytes.len());
    let mut r = Reader::at(raw.params, raw.params_offset);
    let decoded = match shape.command {
        "CreatePrimary" => decode::create_primary(&mut r).map(|(public, _)| {
            // outPublic comes first: it marshals back to the same bytes.
            let again = public.marshal_2b();
            assert_eq!(&raw.params[..again.len()], again.as_slice());
        }),
        "ReadPublic" => decode::read_public(&mut r).map(|(public, _)| {
            let again = public.marshal_2b();
            assert_eq!(&raw.params[..again.len()], again.as_slice());
        }),
        "Create" => decode::create(&mut r).map(|(private, public)| {
            assert_eq!(
                &raw.params[..private.len() + public.len()],
                [private, public].concat()
            );
        }),
        "Load" | "LoadExternal" => decode::name(&mut r).map(drop),
        "VerifySignature" => decode::ticket(&mut r).map(drop),
        "PCR_Read" => decode::pcr_read(&mut r).map(|values| {
            assert!(values.windows(2).all(|w| w[0].0 < w[1].0));
        }),
        _ => r
            .tpm2b(128, "TPM2B")
            .map(drop)
            .and_then(|()| r.finish("end")),
    };
    match decoded {
        Ok(()) => Outcome::Decoded,
        Err(_) => Outcome::Undecodable,
    }
}

fn stored(result: Result<(), tpm2::Error>) -> Outcome {
    match result {
        Ok(()) => Outcome::Decoded,
        Err(_) => Outcome::Undecodable,
    }
}
