//! Reading one response from untrusted bytes (RFC 9112 §4–§7, RFC 9110
//! §14.4 for `Content-Range`): the head (httparse), the body's framing
//! (`Content-Length`, `chunked`, or until the connection closes), the
//! size limit, and what a ranged answer must say. Generic over `Read`, so
//! the fuzz target feeds it bytes without a socket.

use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::time::Duration;

use crate::{Error, Fetched, Sink};

/// Largest response head, in bytes.
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header fields in one head.
const MAX_FIELDS: usize = 64;
/// Longest chunk-size or trailer line.
const MAX_LINE: usize = 4096;
/// Most trailer fields after the last chunk.
const MAX_TRAILERS: usize = 64;

/// What the request asked, and the bounds on the answer.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    pub url: &'a str,
    /// Bytes already held: a `Range: bytes=held-` was sent when non-zero.
    pub held: u64,
    /// Most bytes the whole object may have.
    pub max_len: u64,
    /// For the message of a timeout.
    pub read_timeout: Duration,
}

/// The fields of a head this client acts on.
#[derive(Debug)]
struct Head {
    status: u16,
    reason: String,
    content_length: Option<u64>,
    chunked: bool,
    content_range: Option<String>,
}

/// Reads one response from `reader` and writes its body to `sink`.
pub fn receive<R: Read>(
    reader: R,
    expect: &Expect<'_>,
    sink: &mut dyn Sink,
) -> Result<Fetched, Error> {
    let mut reader = BufReader::with_capacity(16 * 1024, reader);
    let mut head = loop {
        let head = read_head(&mut reader, expect)?;
        // 1xx answers are interim (RFC 9110 §15.2): the real one follows.
        if !(100..200).contains(&head.status) {
            break head;
        }
    };
    let url = expect.url;
    let malformed = |reason: String| Error::Malformed {
        url: url.to_owned(),
        reason,
    };
    let start = match head.status {
        200 => {
            if let Some(length) = head.content_length.filter(|&l| l > expect.max_len) {
                return Err(Error::Announced {
                    url: url.to_owned(),
                    length,
                    max: expect.max_len,
                });
            }
            if expect.held > 0 {
                // The whole object again: what is held goes.
                sink.restart().map_err(|error| Error::Sink {
                    url: url.to_owned(),
                    error,
                })?;
            }
            0
        }
        206 if expect.held > 0 => {
            let length = check_range(&head, expect)?;
            if !head.chunked {
                // Without Content-Length, the range says where the body ends.
                head.content_length = Some(length);
            }
            expect.held
        }
        206 => {
            return Err(malformed(
                "206 Partial Content to a request without Range".to_owned(),
            ));
        }
        416 if expect.held > 0
            && head.content_range.as_deref() == Some(&format!("bytes */{}", expect.held)) =>
        {
            // Everything is held already.
            return Ok(Fetched {
                status: 416,
                start: expect.held,
                received: 0,
            });
        }
        status => {
            return Err(Error::Status {
                url: url.to_owned(),
                status,
                reason: head.reason,
            });
        }
    };
    let mut body = Body {
        reader,
        expect,
        sink,
        total: start,
        start,
    };
    if head.chunked {
        body.chunked()?;
    } else {
        body.copy(head.content_length, true)?;
    }
    Ok(Fetched {
        status: head.status,
        start,
        received: body.total - start,
    })
}

fn read_error(expect: &Expect<'_>, received: u64, error: std::io::Error) -> Error {
    let url = expect.url.to_owned();
    match error.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Error::Timeout {
            url,
            after: expect.read_timeout,
            received,
        },
        // TLS: closed without close_notify, which could be a cut.
        ErrorKind::UnexpectedEof => Error::Truncated {
            url,
            received,
            expected: None,
        },
        _ => Error::Read {
            url,
            received,
            error,
        },
    }
}

fn read_head<R: Read>(reader: &mut BufReader<R>, expect: &Expect<'_>) -> Result<Head, Error> {
    let url = expect.url;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_error(expect, 0, e)),
        };
        if available.is_empty() {
            return Err(Error::Truncated {
                url: url.to_owned(),
                received: 0,
                expected: None,
            });
        }
        // Take bytes up to the limit; the head's end is found by httparse.
        let before = buf.len();
        let take = available.len().min(MAX_HEAD + 1 - before);
        buf.extend_from_slice(&available[..take]);
        let mut fields = [httparse::EMPTY_HEADER; MAX_FIELDS];
        let mut response = httparse::Response::new(&mut fields);
        match response.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                reader.consume(len - before);
                return head_fields(&response, url);
            }
            Ok(httparse::Status::Partial) => {
                reader.consume(take);
                if buf.len() > MAX_HEAD {
                    return Err(Error::HeadTooLong {
                        url: url.to_owned(),
                        limit: MAX_HEAD,
                    });
                }
            }
            Err(e) => {
                return Err(Error::Malformed {
                    url: url.to_owned(),
                    reason: format!("response head: {e}"),
                });
            }
        }
    }
}

fn head_fields(response: &httparse::Response<'_, '_>, url: &str) -> Result<Head, Error> {
    let malformed = |reason: String| Error::Malformed {
        url: url.to_owned(),
        reason,
    };
    let status = response.code.unwrap_or(0);
    let mut head = Head {
        status,
        reason: response
            .reason
            .unwrap_or_default()
            .escape_debug()
            .to_string(),
        content_length: None,
        chunked: false,
        content_range: None,
    };
    for field in response.headers.iter() {
        let value = std::str::from_utf8(field.value)
            .map_err(|_| malformed(format!("{} is not UTF-8", field.name)))?
            .trim();
        let name = field.name;
        if name.eq_ignore_ascii_case("content-length") {
            let length = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
                value.parse().ok()
            } else {
                None
            }
            .ok_or_else(|| {
                malformed(format!(
                    "Content-Length {:?}",
                    value.escape_debug().to_string()
                ))
            })?;
            if head.content_length.is_some_and(|l| l != length) {
                return Err(malformed("two different Content-Length fields".to_owned()));
            }
            head.content_length = Some(length);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            let codings: Vec<&str> = value.split(',').map(str::trim).collect();
            match codings.as_slice() {
                [c] if c.eq_ignore_ascii_case("chunked") => head.chunked = true,
                [c] if c.eq_ignore_ascii_case("identity") => {}
                _ => {
                    return Err(malformed(format!(
                        "Transfer-Encoding {:?} not supported",
                        value.escape_debug().to_string()
                    )));
                }
            }
        } else if name.eq_ignore_ascii_case("content-encoding") {
            if !value.eq_ignore_ascii_case("identity") {
                return Err(malformed(format!(
                    "Content-Encoding {:?} not asked for",
                    value.escape_debug().to_string()
                )));
            }
        } else if name.eq_ignore_ascii_case("content-range") {
            head.content_range = Some(value.escape_debug().to_string());
        }
    }
    if head.chunked {
        // RFC 9112 §6.3: chunked framing wins, and the length is ignored.
        head.content_length = None;
    }
    Ok(head)
}

/// A 206's `Content-Range: bytes first-last/complete` must start at the
/// held length and reach the end; its length must match `Content-Length`.
/// Returns that length.
fn check_range(head: &Head, expect: &Expect<'_>) -> Result<u64, Error> {
    let value = head.content_range.clone().unwrap_or_default();
    let bad = || Error::ContentRange {
        url: expect.url.to_owned(),
        status: head.status,
        value: value.clone(),
        held: expect.held,
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let spec = value.strip_prefix("bytes ").ok_or_else(bad)?;
    let (range, complete) = spec.split_once('/').ok_or_else(bad)?;
    let (first, last) = range.split_once('-').ok_or_else(bad)?;
    let (first, last) = (
        number(first).ok_or_else(bad)?,
        number(last).ok_or_else(bad)?,
    );
    let complete = if complete == "*" {
        None
    } else {
        Some(number(complete).ok_or_else(bad)?)
    };
    if first != expect.held || last < first || complete.is_some_and(|c| c != last + 1) {
        return Err(bad());
    }
    if head.content_length.is_some_and(|l| l != last - first + 1) {
        return Err(bad());
    }
    if last >= expect.max_len {
        return Err(Error::Announced {
            url: expect.url.to_owned(),
            length: last + 1,
            max: expect.max_len,
        });
    }
    Ok(last - first + 1)
}

struct Body<'a, 'e, R: Read> {
    reader: BufReader<R>,
    expect: &'a Expect<'e>,
    sink: &'a mut dyn Sink,
    /// Bytes of the object so far (held ones included when resuming).
    total: u64,
    start: u64,
}

impl<R: Read> Body<'_, '_, R> {
    /// Copies `length` bytes, or up to the end of the stream when `None`.
    /// `last`: the end of these bytes is the end of the response.
    fn copy(&mut self, length: Option<u64>, last: bool) -> Result<(), Error> {
        let mut left = length;
        let mut buf = [0u8; 16 * 1024];
        while left != Some(0) {
            // Never read past the limit by more than one byte, so the excess
            // is seen at once and nothing beyond the limit is written.
            let allowed = self
                .expect
                .max_len
                .saturating_sub(self.total)
                .saturating_add(1);
            let want = left.map_or(allowed, |l| l.min(allowed));
            let want = usize::try_from(want).unwrap_or(usize::MAX).min(buf.len());
            let n = match self.reader.read(&mut buf[..want]) {
                Ok(0) if left.is_none() && last => return Ok(()),
                Ok(0) => {
                    return Err(Error::Truncated {
                        url: self.expect.url.to_owned(),
                        received: self.total,
                        expected: length.filter(|_| last).map(|l| self.start + l),
                    });
                }
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(self.expect, self.total, e)),
            };
            let n64 = u64::try_from(n).unwrap_or(u64::MAX);
            if self.total + n64 > self.expect.max_len {
                // The bytes up to the limit are kept, whatever the reads'
                // sizes were; the one past it is not.
                let fits = usize::try_from(self.expect.max_len - self.total).unwrap_or(0);
                self.sink
                    .write_all(&buf[..fits.min(n)])
                    .map_err(|error| Error::Sink {
                        url: self.expect.url.to_owned(),
                        error,
                    })?;
                return Err(Error::TooLarge {
                    url: self.expect.url.to_owned(),
                    sent: self.total + n64,
                    max: self.expect.max_len,
                });
            }
            self.sink
                .write_all(&buf[..n])
                .map_err(|error| Error::Sink {
                    url: self.expect.url.to_owned(),
                    error,
                })?;
            self.total += n64;
            left = left.map(|l| l - n64);
        }
        Ok(())
    }

    /// RFC 9112 §7.1: `size[;ext] CRLF data CRLF` ... `0 CRLF trailers CRLF`.
    fn chunked(&mut self) -> Result<(), Error> {
        loop {
            let line = self.line()?;
            let size = line
                .split(';')
                .next()
                .unwrap_or_default()
                .trim_matches([' ', '\t']);
            let size = if !size.is_empty()
                && size.len() <= 16
                && size.bytes().all(|b| b.is_ascii_hexdigit())
            {
                u64::from_str_radix(size, 16).ok()
            } else {
                None
            }
            .ok_or_else(|| {
                self.malformed(format!(
                    "chunk size line {:?}",
                    line.escape_debug().to_string()
                ))
            })?;
            if size == 0 {
                for _ in 0..=MAX_TRAILERS {
                    if self.line()?.is_empty() {
                        return Ok(());
                    }
                }
                return Err(self.malformed("too many trailer fields".to_owned()));
            }
            self.copy(Some(size), false)?;
            let end = self.line()?;
            if !end.is_empty() {
                return Err(self.malformed("chunk data longer than its size".to_owned()));
            }
        }
    }

    fn malformed(&self, reason: String) -> Error {
        Error::Malformed {
            url: self.expect.url.to_owned(),
            reason,
        }
    }

    /// One line of the chunked framing, without CRLF (or LF).
    fn line(&mut self) -> Result<String, Error> {
        let mut line = Vec::new();
        loop {
            let available = match self.reader.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(self.expect, self.total, e)),
            };
            if available.is_empty() {
                return Err(Error::Truncated {
                    url: self.expect.url.to_owned(),
                    received: self.total,
                    expected: None,
                });
            }
            let (take, done) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            line.extend_from_slice(&available[..take]);
            self.reader.consume(take);
            if line.len() > MAX_LINE {
                return Err(self.malformed("chunk framing line too long".to_owned()));
            }
            if done {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return String::from_utf8(line)
                    .map_err(|_| self.malformed("chunk framing line is not UTF-8".to_owned()));
            }
        }
    }
}
