//! The check behind the fuzz target `request`.
//!
//! `crates/httpd/tests/fuzz_corpus.rs` includes this file with `#[path]`
//! and replays the committed corpus through the same function, so keep it
//! free of dependencies other than `httpd`.

use httpd::request::{RangeAnswer, parse, path_segments, range};

/// The furthest an input got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// The head is refused (400 or 505).
    BadHead,
    /// The head parses, its path is refused (400 or 403).
    BadPath,
    /// A path to look up, no usable range.
    Path,
    /// A path and a range that selects bytes or is unsatisfiable.
    Range,
}

/// Target `request`: a request head to the parser, its target to the path
/// decoder, its `Range` field to the range interpreter (files of 0 and 1000
/// bytes). Never panics; a refusal is 400, 403 or 505; a decoded path has
/// no empty, `.` or `..` segment and no `/` or NUL; a partial range lies
/// inside the file.
pub fn request(data: &[u8]) -> Outcome {
    let req = match parse(data) {
        Ok(req) => req,
        Err(refusal) => {
            assert!(matches!(refusal.status, 400 | 505), "{refusal:?}");
            return Outcome::BadHead;
        }
    };
    assert!(req.target.starts_with('/'));
    let segments = match path_segments(&req.target) {
        Ok(segments) => segments,
        Err(refusal) => {
            assert!(matches!(refusal.status, 400 | 403), "{refusal:?}");
            return Outcome::BadPath;
        }
    };
    for s in &segments {
        assert!(!s.is_empty() && s != b"." && s != b"..", "{s:?}");
        assert!(!s.contains(&b'/') && !s.contains(&0), "{s:?}");
    }
    let Some(value) = req.range else {
        return Outcome::Path;
    };
    let mut used = false;
    for len in [0u64, 1000] {
        match range(&value, len) {
            RangeAnswer::Full => {}
            RangeAnswer::Unsatisfiable => used = true,
            RangeAnswer::Partial { first, last } => {
                assert!(first <= last && last < len, "{first}-{last} of {len}");
                used = true;
            }
        }
    }
    if used { Outcome::Range } else { Outcome::Path }
}
