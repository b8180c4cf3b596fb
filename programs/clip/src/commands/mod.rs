//! One module per top-level subcommand.

pub mod boot;
pub mod build;
pub mod demo;
pub mod keys;
pub mod luks;
pub mod repo;
pub mod sign;
pub mod uki;
pub mod verity;
