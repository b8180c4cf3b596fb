//! The product's kernel (issue 10): configuration fragments that give a
//! reason for every setting ([`fragment`]), the policy check of a built or
//! shipped configuration against them ([`policy`]), and the build of a
//! kernel from Debian's `linux` source package ([`build`]).
//!
//! `fragment` and `policy` are pure. `build` is not: it runs `apt-get`
//! (the signed Debian index checks every downloaded byte), `dpkg-source`
//! and `make`, and caches its results by content under `CACHE/kernel`.

pub mod build;
pub mod fragment;
pub mod policy;

pub use build::{Built, Recipe, Request};
pub use fragment::{FragmentError, Setting};
pub use policy::{Config, Report};
