//! PEM blocks (RFC 7468), read as OpenSSL's `PEM_read_bio` reads them
//! rather than with RFC 7468's strict grammar:
//!
//! * text outside `-----BEGIN L-----` … `-----END L-----` is ignored, any
//!   bytes at all (`openssl pkcs7 -print_certs` writes `subject=` and
//!   `issuer=` lines before each certificate and a blank line after it;
//!   `openssl ecparam -genkey` writes an `EC PARAMETERS` block first);
//! * line ends are LF or CRLF, and spaces and tabs around a line are
//!   ignored; blank lines inside a block are too, and base64 lines may have
//!   any length;
//! * RFC 1421 headers at the start of a block (`Proc-Type: 4,ENCRYPTED`,
//!   `DEK-Info: …`: the legacy encryption of `openssl rsa -aes256`) are
//!   read so that such a key is named as encrypted; other headers are
//!   skipped;
//! * the END label must be the BEGIN label, and every block of the input
//!   must decode, as OpenSSL requires.
//!
//! Base64 is decoded by `base64ct` (constant time, which matters for
//! private keys); decoded bytes are zeroized when dropped.

use std::fmt;

use base64ct::{Base64, Encoding};
use der::zeroize::Zeroizing;

use crate::Error;

/// One decoded PEM block.
pub struct Block {
    label: String,
    line: usize,
    encrypted: bool,
    der: Zeroizing<Vec<u8>>,
}

impl Block {
    /// The type label: "CERTIFICATE", "PRIVATE KEY"…
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The line (from 1) of its BEGIN line.
    pub fn line(&self) -> usize {
        self.line
    }

    /// True when an RFC 1421 header says `Proc-Type: 4,ENCRYPTED`.
    pub fn encrypted(&self) -> bool {
        self.encrypted
    }

    /// The decoded contents (usually DER).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// `"LABEL" at line N`, for messages.
    pub fn describe(&self) -> String {
        format!("\"{}\" at line {}", self.label, self.line)
    }
}

// Never prints the contents: a block may be a private key.
impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Block")
            .field("label", &self.label)
            .field("line", &self.line)
            .field("encrypted", &self.encrypted)
            .field("len", &self.der.len())
            .finish()
    }
}

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";
const DASHES: &[u8] = b"-----";

/// `line` without the CR of CRLF and without spaces and tabs at either end.
fn trim(line: &[u8]) -> &[u8] {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\r');
    let start = line.iter().position(|b| !is_space(b)).unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    &line[start..end]
}

/// The label of a `PREFIX LABEL-----` line; labels are printable ASCII.
fn boundary(line: &[u8], prefix: &[u8]) -> Option<String> {
    let label = line.strip_prefix(prefix)?.strip_suffix(DASHES)?;
    if label.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        String::from_utf8(label.to_vec()).ok()
    } else {
        None
    }
}

/// Every PEM block in `input`, in order; an empty list when there is none.
pub fn blocks(input: &[u8]) -> Result<Vec<Block>, Error> {
    let mut blocks = Vec::new();
    let mut lines = input
        .split(|&b| b == b'\n')
        .map(trim)
        .enumerate()
        .map(|(i, line)| (i + 1, line));
    while let Some((begin_line, line)) = lines.next() {
        let Some(label) = boundary(line, BEGIN) else {
            continue;
        };
        let unterminated = || Error::Unterminated {
            label: label.clone(),
            line: begin_line,
        };
        let mut text = Zeroizing::new(Vec::new());
        let mut encrypted = false;
        let mut end = None;
        for (n, line) in lines.by_ref() {
            if let Some(end_label) = boundary(line, END) {
                end = Some(end_label);
                break;
            }
            if line.starts_with(BEGIN) {
                return Err(unterminated());
            }
            // RFC 1421 headers come before any base64 text; base64 has no ':'.
            if text.is_empty() && line.contains(&b':') {
                let upper = line.to_ascii_uppercase();
                encrypted |=
                    upper.starts_with(b"PROC-TYPE:") && upper.windows(9).any(|w| w == b"ENCRYPTED");
                continue;
            }
            for &b in line {
                match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'=' => text.push(b),
                    b' ' | b'\t' => {}
                    _ => {
                        return Err(Error::Base64 {
                            label,
                            line: begin_line,
                            bad_line: n,
                        });
                    }
                }
            }
        }
        let Some(end_label) = end else {
            return Err(unterminated());
        };
        if end_label != label {
            return Err(Error::EndMismatch {
                label,
                line: begin_line,
                end: end_label,
            });
        }
        let der = Base64::decode_vec(&String::from_utf8_lossy(&text))
            .map(Zeroizing::new)
            .map_err(|_| Error::Base64 {
                label: label.clone(),
                line: begin_line,
                bad_line: begin_line,
            })?;
        blocks.push(Block {
            label,
            line: begin_line,
            encrypted,
            der,
        });
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(input: &[u8]) -> Vec<(String, usize, Vec<u8>)> {
        blocks(input)
            .unwrap()
            .into_iter()
            .map(|b| (b.label.clone(), b.line, b.der.to_vec()))
            .collect()
    }

    #[test]
    fn text_around_blocks_is_skipped() {
        let input = b"subject=CN = a\nissuer=CN = a\n-----BEGIN CERTIFICATE-----\naGVs\nbG8=\n-----END CERTIFICATE-----\n\n\xff\xfe binary\n-----BEGIN X-----\nAAEC\n-----END X-----\n\n\n";
        assert_eq!(
            labels(input),
            [
                ("CERTIFICATE".into(), 3, b"hello".to_vec()),
                ("X".into(), 9, vec![0, 1, 2])
            ]
        );
    }

    #[test]
    fn crlf_spaces_and_line_lengths() {
        let input =
            b"  -----BEGIN A B-----  \r\n aGVsbG8g\t\r\n\r\nd29y bGQ=\r\n-----END A B-----\r\n";
        assert_eq!(labels(input), [("A B".into(), 1, b"hello world".to_vec())]);
        assert!(blocks(b"no pem here\n").unwrap().is_empty());
        assert!(blocks(b"").unwrap().is_empty());
    }

    #[test]
    fn headers() {
        let input = b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00FF\n\nAAEC\n-----END RSA PRIVATE KEY-----\n";
        let b = &blocks(input).unwrap()[0];
        assert!(b.encrypted());
        assert_eq!(b.der(), [0, 1, 2]);
        assert!(!format!("{b:?}").contains("[0, 1, 2]"));
    }

    #[test]
    fn broken_blocks_are_named() {
        for (input, want) in [
            (
                &b"-----BEGIN A-----\nAAEC\n"[..],
                "\"A\" at line 1 has no -----END A----- line",
            ),
            (
                b"x\n-----BEGIN A-----\nAAEC\n-----BEGIN B-----\n",
                "\"A\" at line 2 has no -----END A----- line",
            ),
            (
                b"-----BEGIN A-----\nAAEC\n-----END B-----\n",
                "\"A\" at line 1 ends with -----END B-----",
            ),
            (
                b"-----BEGIN A-----\nAA*C\n-----END A-----\n",
                "not valid base64 (line 2)",
            ),
            (
                b"-----BEGIN A-----\nAAE\n-----END A-----\n",
                "not valid base64",
            ),
        ] {
            let err = blocks(input).unwrap_err().to_string();
            assert!(err.contains(want), "{input:?}: {err}");
        }
    }
}
