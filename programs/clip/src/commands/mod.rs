//! One module per top-level subcommand.

pub mod verity;
