//! The boot contract: what `clip build` writes into an image and what the
//! device programs (clip-init, clip-status, later the update daemon) read
//! back, as types, so that no program re-parses it by hand.
//!
//! - [`cmdline`]: the `clip.*` parameters of the signed kernel command line
//!   and the A/B [`Slot`];
//! - [`state`]: `/usr/lib/clip/state.json`, the read-write paths
//!   bind-mounted from the state partition.
//!
//! Pure: text in, types out; no files are read here.

pub mod cmdline;
pub mod state;

pub use cmdline::{BootParams, Slot};
pub use state::{Kind, MountOption, StateConfig, StatePath};
