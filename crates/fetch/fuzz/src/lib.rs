//! The check behind the fuzz target `response`.
//!
//! `crates/fetch/tests/fuzz_corpus.rs` includes this file with `#[path]`
//! and replays the committed corpus through the same function, so keep it
//! free of dependencies other than `fetch`.

use std::time::Duration;

use fetch::response::{Expect, receive};

/// The furthest an input got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// No complete, well-formed head.
    Malformed,
    /// Connection closed early (head or body).
    Truncated,
    /// A head whose status or ranges are refused.
    Refused,
    /// More bytes announced or sent than allowed.
    TooLarge,
    /// 416 for a resume that held everything.
    AllHeld,
    /// A 206 continuing the held bytes.
    Resumed,
    /// A 200: the whole object.
    Whole,
}

const HELD: [u64; 3] = [0, 5, 100];
const MAX: [u64; 3] = [16, 1000, 1 << 20];

/// Target `response`: byte 0 picks the bytes held (0, 5, 100), byte 1 the
/// limit (16, 1000, 1 MiB); the rest is what the server sent. Never panics;
/// the sink never holds more than the limit; a success accounts for every
/// byte in the sink, which starts with the held bytes unless restarted.
pub fn response(data: &[u8]) -> Outcome {
    let (Some(&h), Some(&m)) = (data.first(), data.get(1)) else {
        return Outcome::Malformed;
    };
    let held = HELD[usize::from(h) % 3];
    let max_len = MAX[usize::from(m) % 3];
    let bytes = &data[2..];
    let mut sink = vec![b'h'; usize::try_from(held).unwrap()];
    let expect = Expect {
        url: "http://fuzz/x",
        held,
        max_len,
        read_timeout: Duration::from_secs(1),
    };
    let result = receive(bytes, &expect, &mut sink);
    let len = u64::try_from(sink.len()).unwrap();
    assert!(
        len <= max_len.max(held),
        "sink holds {len} bytes, limit {max_len}"
    );
    match result {
        Ok(got) => {
            assert_eq!(got.len(), len);
            match got.status {
                200 => {
                    assert_eq!(got.start, 0);
                    Outcome::Whole
                }
                206 => {
                    assert_eq!(got.start, held);
                    assert!(
                        sink[..usize::try_from(held).unwrap()]
                            .iter()
                            .all(|&b| b == b'h')
                    );
                    Outcome::Resumed
                }
                416 => {
                    assert_eq!((got.start, got.received), (held, 0));
                    Outcome::AllHeld
                }
                s => panic!("success with status {s}"),
            }
        }
        Err(e) => {
            // Every message names the URL.
            assert!(e.to_string().starts_with("http://fuzz/x: "), "{e}");
            match e {
                fetch::Error::Truncated { .. } => Outcome::Truncated,
                fetch::Error::TooLarge { .. } | fetch::Error::Announced { .. } => Outcome::TooLarge,
                fetch::Error::Status { .. } | fetch::Error::ContentRange { .. } => Outcome::Refused,
                fetch::Error::Malformed { .. } | fetch::Error::HeadTooLong { .. } => {
                    Outcome::Malformed
                }
                other => panic!("unexpected error from bytes: {other}"),
            }
        }
    }
}
