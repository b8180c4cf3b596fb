//! TPM response codes (Part 2, §6.6 "TPM_RC"), decoded into their names.
//!
//! ```text
//! format 0 (bit 7 = 0):  bit 11 S (warning), bit 10 T (vendor), bit 8 V (TPM 2.0),
//!                        bits 6:0 E (error number)            TPM_RC_VER1 = 0x100, TPM_RC_WARN = 0x900
//! format 1 (bit 7 = 1):  bits 11:8 N, bit 6 P, bits 5:0 E     TPM_RC_FMT1 = 0x080
//!   P = 1: N is the parameter number; P = 0: N < 8 is a handle number,
//!   N >= 8 is session number N - 8.
//! ```

use std::fmt;

/// A TPM_RC as the TPM returned it. `Display` gives its name, the raw value
/// and the handle, parameter or session it refers to:
/// `TPM_RC_POLICY_FAIL (0x99d) in session 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseCode(pub u32);

/// The part of a format-1 code that says where the error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Handle(u8),
    Parameter(u8),
    Session(u8),
}

impl ResponseCode {
    pub const SUCCESS: Self = Self(0);
    pub const INITIALIZE: Self = Self(0x100);
    pub const PCR_CHANGED: Self = Self(0x128);
    pub const LOCKOUT: Self = Self(0x921);
    pub const RETRY: Self = Self(0x922);
    pub const YIELDED: Self = Self(0x908);
    pub const TESTING: Self = Self(0x90A);

    /// Format-1 error numbers (E).
    pub const FMT1_AUTH_FAIL: u32 = 0x0E;
    pub const FMT1_HANDLE: u32 = 0x0B;
    pub const FMT1_SIGNATURE: u32 = 0x1B;
    pub const FMT1_POLICY_FAIL: u32 = 0x1D;
    pub const FMT1_BAD_AUTH: u32 = 0x22;

    pub fn is_format1(self) -> bool {
        self.0 & 0x80 != 0
    }

    /// The code without its location: for format 1, `0x080 | E`; for format
    /// 0, the whole code.
    pub fn base(self) -> u32 {
        if self.is_format1() {
            0x80 | (self.0 & 0x3F)
        } else {
            self.0
        }
    }

    /// Format 1 with error number `e` (any location).
    pub fn is_fmt1(self, e: u32) -> bool {
        self.is_format1() && self.0 & 0x3F == e
    }

    pub fn location(self) -> Option<Location> {
        if !self.is_format1() {
            return None;
        }
        let n = u8::try_from((self.0 >> 8) & 0xF).unwrap_or(0);
        Some(if self.0 & 0x40 != 0 {
            Location::Parameter(n)
        } else if n < 8 {
            Location::Handle(n)
        } else {
            Location::Session(n - 8)
        })
    }

    /// The TCG name, e.g. `TPM_RC_POLICY_FAIL`; `None` for codes Part 2
    /// does not define.
    pub fn name(self) -> Option<&'static str> {
        if self.0 == 0 {
            return Some("TPM_RC_SUCCESS");
        }
        if self.is_format1() {
            return FMT1
                .iter()
                .find(|(e, _)| *e == self.0 & 0x3F)
                .map(|(_, n)| *n);
        }
        if self.0 & 0x400 != 0 || self.0 & 0x100 == 0 {
            return None; // vendor-defined, or a TPM 1.2 code
        }
        let e = self.0 & 0x7F;
        let table = if self.0 & 0x800 != 0 { WARN } else { VER1 };
        table.iter().find(|(n, _)| *n == e).map(|(_, n)| *n)
    }
}

impl fmt::Display for ResponseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({:#x})", self.0)?,
            None if self.is_format1() => write!(f, "unknown TPM error ({:#x})", self.0)?,
            None if self.0 & 0x400 != 0 => write!(f, "vendor-defined TPM error ({:#x})", self.0)?,
            None if self.0 & 0x100 == 0 => write!(f, "TPM 1.2 error ({:#x})", self.0)?,
            None => write!(f, "unknown TPM error ({:#x})", self.0)?,
        }
        match self.location() {
            Some(Location::Handle(0) | Location::Parameter(0)) | None => Ok(()),
            Some(Location::Handle(n)) => write!(f, " in handle {n}"),
            Some(Location::Parameter(n)) => write!(f, " in parameter {n}"),
            Some(Location::Session(n)) => write!(f, " in session {n}"),
        }
    }
}

const FMT1: &[(u32, &str)] = &[
    (0x01, "TPM_RC_ASYMMETRIC"),
    (0x02, "TPM_RC_ATTRIBUTES"),
    (0x03, "TPM_RC_HASH"),
    (0x04, "TPM_RC_VALUE"),
    (0x05, "TPM_RC_HIERARCHY"),
    (0x07, "TPM_RC_KEY_SIZE"),
    (0x08, "TPM_RC_MGF"),
    (0x09, "TPM_RC_MODE"),
    (0x0A, "TPM_RC_TYPE"),
    (0x0B, "TPM_RC_HANDLE"),
    (0x0C, "TPM_RC_KDF"),
    (0x0D, "TPM_RC_RANGE"),
    (0x0E, "TPM_RC_AUTH_FAIL"),
    (0x0F, "TPM_RC_NONCE"),
    (0x10, "TPM_RC_PP"),
    (0x12, "TPM_RC_SCHEME"),
    (0x15, "TPM_RC_SIZE"),
    (0x16, "TPM_RC_SYMMETRIC"),
    (0x17, "TPM_RC_TAG"),
    (0x18, "TPM_RC_SELECTOR"),
    (0x1A, "TPM_RC_INSUFFICIENT"),
    (0x1B, "TPM_RC_SIGNATURE"),
    (0x1C, "TPM_RC_KEY"),
    (0x1D, "TPM_RC_POLICY_FAIL"),
    (0x1F, "TPM_RC_INTEGRITY"),
    (0x20, "TPM_RC_TICKET"),
    (0x21, "TPM_RC_RESERVED_BITS"),
    (0x22, "TPM_RC_BAD_AUTH"),
    (0x23, "TPM_RC_EXPIRED"),
    (0x24, "TPM_RC_POLICY_CC"),
    (0x25, "TPM_RC_BINDING"),
    (0x26, "TPM_RC_CURVE"),
    (0x27, "TPM_RC_ECC_POINT"),
];

const VER1: &[(u32, &str)] = &[
    (0x00, "TPM_RC_INITIALIZE"),
    (0x01, "TPM_RC_FAILURE"),
    (0x03, "TPM_RC_SEQUENCE"),
    (0x0B, "TPM_RC_PRIVATE"),
    (0x19, "TPM_RC_HMAC"),
    (0x20, "TPM_RC_DISABLED"),
    (0x21, "TPM_RC_EXCLUSIVE"),
    (0x24, "TPM_RC_AUTH_TYPE"),
    (0x25, "TPM_RC_AUTH_MISSING"),
    (0x26, "TPM_RC_POLICY"),
    (0x27, "TPM_RC_PCR"),
    (0x28, "TPM_RC_PCR_CHANGED"),
    (0x2D, "TPM_RC_UPGRADE"),
    (0x2E, "TPM_RC_TOO_MANY_CONTEXTS"),
    (0x2F, "TPM_RC_AUTH_UNAVAILABLE"),
    (0x30, "TPM_RC_REBOOT"),
    (0x31, "TPM_RC_UNBALANCED"),
    (0x42, "TPM_RC_COMMAND_SIZE"),
    (0x43, "TPM_RC_COMMAND_CODE"),
    (0x44, "TPM_RC_AUTHSIZE"),
    (0x45, "TPM_RC_AUTH_CONTEXT"),
    (0x46, "TPM_RC_NV_RANGE"),
    (0x47, "TPM_RC_NV_SIZE"),
    (0x48, "TPM_RC_NV_LOCKED"),
    (0x49, "TPM_RC_NV_AUTHORIZATION"),
    (0x4A, "TPM_RC_NV_UNINITIALIZED"),
    (0x4B, "TPM_RC_NV_SPACE"),
    (0x4C, "TPM_RC_NV_DEFINED"),
    (0x50, "TPM_RC_BAD_CONTEXT"),
    (0x51, "TPM_RC_CPHASH"),
    (0x52, "TPM_RC_PARENT"),
    (0x53, "TPM_RC_NEEDS_TEST"),
    (0x54, "TPM_RC_NO_RESULT"),
    (0x55, "TPM_RC_SENSITIVE"),
];

const WARN: &[(u32, &str)] = &[
    (0x01, "TPM_RC_CONTEXT_GAP"),
    (0x02, "TPM_RC_OBJECT_MEMORY"),
    (0x03, "TPM_RC_SESSION_MEMORY"),
    (0x04, "TPM_RC_MEMORY"),
    (0x05, "TPM_RC_SESSION_HANDLES"),
    (0x06, "TPM_RC_OBJECT_HANDLES"),
    (0x07, "TPM_RC_LOCALITY"),
    (0x08, "TPM_RC_YIELDED"),
    (0x09, "TPM_RC_CANCELED"),
    (0x0A, "TPM_RC_TESTING"),
    (0x10, "TPM_RC_REFERENCE_H0"),
    (0x11, "TPM_RC_REFERENCE_H1"),
    (0x12, "TPM_RC_REFERENCE_H2"),
    (0x13, "TPM_RC_REFERENCE_H3"),
    (0x14, "TPM_RC_REFERENCE_H4"),
    (0x15, "TPM_RC_REFERENCE_H5"),
    (0x16, "TPM_RC_REFERENCE_H6"),
    (0x18, "TPM_RC_REFERENCE_S0"),
    (0x19, "TPM_RC_REFERENCE_S1"),
    (0x1A, "TPM_RC_REFERENCE_S2"),
    (0x1B, "TPM_RC_REFERENCE_S3"),
    (0x1C, "TPM_RC_REFERENCE_S4"),
    (0x1D, "TPM_RC_REFERENCE_S5"),
    (0x1E, "TPM_RC_REFERENCE_S6"),
    (0x20, "TPM_RC_NV_RATE"),
    (0x21, "TPM_RC_LOCKOUT"),
    (0x22, "TPM_RC_RETRY"),
    (0x23, "TPM_RC_NV_UNAVAILABLE"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(rc: u32) -> String {
        ResponseCode(rc).to_string()
    }

    #[test]
    fn names_and_locations() {
        assert_eq!(shown(0x99d), "TPM_RC_POLICY_FAIL (0x99d) in session 1");
        assert_eq!(shown(0x98e), "TPM_RC_AUTH_FAIL (0x98e) in session 1");
        assert_eq!(shown(0x2db), "TPM_RC_SIGNATURE (0x2db) in parameter 2");
        assert_eq!(shown(0x18b), "TPM_RC_HANDLE (0x18b) in handle 1");
        assert_eq!(shown(0x100), "TPM_RC_INITIALIZE (0x100)");
        assert_eq!(shown(0x128), "TPM_RC_PCR_CHANGED (0x128)");
        assert_eq!(shown(0x921), "TPM_RC_LOCKOUT (0x921)");
        assert_eq!(shown(0x0a2), "TPM_RC_BAD_AUTH (0xa2)");
        assert_eq!(shown(0x01e), "TPM 1.2 error (0x1e)");
        assert_eq!(shown(0x500), "vendor-defined TPM error (0x500)");
        assert_eq!(shown(0x17f), "unknown TPM error (0x17f)");
        assert!(ResponseCode(0x99d).is_fmt1(ResponseCode::FMT1_POLICY_FAIL));
        assert_eq!(ResponseCode(0x99d).base(), 0x9d);
        assert_eq!(ResponseCode(0x99d).location(), Some(Location::Session(1)));
    }
}
