//! The boot contract: what `clip build` writes into an image and what the
//! device programs (clip-init, clip-status, later the update daemon) read
//! back, as types, so that no program re-parses it by hand.
//!
//! - [`cmdline`]: the `clip.*` parameters of the signed kernel command line
//!   and the A/B [`Slot`];
//! - [`state`]: `/usr/lib/clip/state.json`, the read-write paths
//!   bind-mounted from the state partition;
//! - [`version`]: release versions and their order (anti-rollback);
//! - [`release`]: `release.json`, one slot's payload apart from the disk;
//! - [`update`]: where the guest finds its update server under `clip boot`.
//!
//! Pure: text in, types out; no files are read here.

pub mod cmdline;
pub mod release;
pub mod state;
pub mod update;
pub mod version;

pub use cmdline::{BootParams, Slot};
pub use release::Release;
pub use state::{Kind, MountOption, StateConfig, StatePath};
pub use version::Version;
