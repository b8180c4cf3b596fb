//! TPM 2.0 in pure Rust (TCG "Trusted Platform Module Library", Family 2.0,
//! Level 00, Revision 01.59: Part 2 "Structures", Part 3 "Commands").
//!
//! - [`policy`]: policy digests computed in software (trial policies), as
//!   the TPM computes them in a policy session.

pub mod policy;
