//! The request head (RFC 9112 §2–§5): request line, header fields, the
//! target's path (RFC 3986 percent-decoding) and the `Range` field
//! (RFC 9110 §14.2). Pure: bytes in, a [`Request`] or the status to answer.

/// Most header fields taken in one request.
pub const MAX_FIELDS: usize = 100;

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The target as sent (origin form, `/a/b?q`).
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// The `Range` field's value, if one was sent (the last one).
    pub range: Option<String>,
}

/// Why a request head is refused, with the status it is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub reason: &'static str,
}

fn bad(reason: &'static str) -> Refusal {
    Refusal {
        status: 400,
        reason,
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The first line of `head` (for the access log), without its line end.
pub fn first_line(head: &[u8]) -> &[u8] {
    let end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = &head[..end];
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Parses a complete head (up to and including the empty line).
pub fn parse(head: &[u8]) -> Result<Request, Refusal> {
    let text = std::str::from_utf8(head).map_err(|_| bad("request head is not UTF-8"))?;
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let line = lines.next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("request line is not METHOD TARGET VERSION"));
    };
    if !is_token(method) {
        return Err(bad("method is not a token"));
    }
    let minor_version = match version {
        "HTTP/1.1" => 1,
        "HTTP/1.0" => 0,
        v if v.len() == 8 && v.starts_with("HTTP/") && v.as_bytes()[6] == b'.' => {
            return Err(Refusal {
                status: 505,
                reason: "HTTP version not supported",
            });
        }
        _ => return Err(bad("malformed HTTP version")),
    };
    if !target.starts_with('/') || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad("request target is not an absolute path"));
    }
    let mut range = None;
    let mut host = false;
    let mut count = 0;
    for line in lines {
        if line.is_empty() {
            break;
        }
        count += 1;
        if count > MAX_FIELDS {
            return Err(bad("too many header fields"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(bad("header field without a colon"));
        };
        if !is_token(name) {
            return Err(bad("header field name is not a token"));
        }
        if value.bytes().any(|b| b < b' ' && b != b'\t' || b == 0x7f) {
            return Err(bad("control character in a header field value"));
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("host") {
            if host {
                return Err(bad("more than one Host field"));
            }
            host = true;
        } else if name.eq_ignore_ascii_case("range") {
            range = Some(value.to_owned());
        }
    }
    if minor_version == 1 && !host {
        return Err(bad("HTTP/1.1 request without Host"));
    }
    Ok(Request {
        method: method.to_owned(),
        target: target.to_owned(),
        minor_version,
        range,
    })
}

/// The decoded path segments of an origin-form target, without the query.
/// Empty segments and `.` are dropped; `..` is refused (403), as are
/// malformed escapes and encoded NUL or `/` (400: a segment never holds a
/// slash, so `%2F` cannot join segments behind the check).
pub fn path_segments(target: &str) -> Result<Vec<Vec<u8>>, Refusal> {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    let mut segments = Vec::new();
    for raw in path.split('/') {
        let segment = percent_decode(raw.as_bytes())?;
        match segment.as_slice() {
            b"" | b"." => {}
            b".." => {
                return Err(Refusal {
                    status: 403,
                    reason: "path leaves the repository",
                });
            }
            s if s.contains(&0) => return Err(bad("NUL in the path")),
            s if s.contains(&b'/') => return Err(bad("encoded slash in the path")),
            _ => segments.push(segment),
        }
    }
    Ok(segments)
}

fn percent_decode(raw: &[u8]) -> Result<Vec<u8>, Refusal> {
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let (Some(hi), Some(lo)) = (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            ) else {
                return Err(bad("malformed percent-encoding"));
            };
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// What a `Range` field asks of a representation of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// No usable range: send the whole file with 200 (also for a
    /// multi-range request, an unknown unit or a malformed field, which a
    /// server may ignore: RFC 9110 §14.2).
    Full,
    /// 206 with bytes `first..=last`.
    Partial { first: u64, last: u64 },
    /// 416 with `Content-Range: bytes */len`.
    Unsatisfiable,
}

/// Interprets one `Range` value (`bytes=a-b`, `bytes=a-`, `bytes=-n`).
pub fn range(value: &str, len: u64) -> RangeAnswer {
    let Some((unit, set)) = value.split_once('=') else {
        return RangeAnswer::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((first, last)) = set.trim().split_once('-') else {
        return RangeAnswer::Full;
    };
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    match (first.is_empty(), number(first), number(last)) {
        // -n: the last n bytes.
        (true, None, Some(n)) => {
            if n == 0 || len == 0 {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Partial {
                    first: len - n.min(len),
                    last: len - 1,
                }
            }
        }
        (false, Some(a), b) if last.is_empty() || b.is_some() => {
            if b.is_some_and(|b| b < a) {
                return RangeAnswer::Full;
            }
            if a >= len {
                return RangeAnswer::Unsatisfiable;
            }
            RangeAnswer::Partial {
                first: a,
                last: b.map_or(len - 1, |b| b.min(len - 1)),
            }
        }
        _ => RangeAnswer::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        let r = parse(b"GET /a%20b?x HTTP/1.1\r\nHost: h\r\nRange: bytes=1-2\r\n\r\n").unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.range.as_deref(), Some("bytes=1-2"));
        assert_eq!(
            parse(b"GET / HTTP/1.1\r\n\r\n").unwrap_err().reason,
            "HTTP/1.1 request without Host"
        );
        assert_eq!(parse(b"GET / HTTP/1.0\r\n\r\n").unwrap().minor_version, 0);
        assert_eq!(parse(b"GET / HTTP/2.0\r\n\r\n").unwrap_err().status, 505);
        assert_eq!(parse(b"GET  / HTTP/1.0\r\n\r\n").unwrap_err().status, 400);
        assert_eq!(
            parse(b"GET http://x/ HTTP/1.0\r\n\r\n").unwrap_err().status,
            400
        );
        assert_eq!(
            parse(b"GET / HTTP/1.0\r\nbad line\r\n\r\n")
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn paths() {
        assert_eq!(
            path_segments("/a/./b//c?d/../..").unwrap(),
            [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]
        );
        assert_eq!(path_segments("/a%20b").unwrap(), [b"a b".to_vec()]);
        assert_eq!(path_segments("/a/../b").unwrap_err().status, 403);
        assert_eq!(path_segments("/%2e%2E/etc").unwrap_err().status, 403);
        assert_eq!(path_segments("/..%2fetc").unwrap_err().status, 400);
        assert_eq!(path_segments("/a%00").unwrap_err().status, 400);
        assert_eq!(path_segments("/a%zz").unwrap_err().status, 400);
        assert_eq!(path_segments("/a%2").unwrap_err().status, 400);
    }

    #[test]
    fn ranges() {
        use RangeAnswer::*;
        assert_eq!(range("bytes=0-9", 100), Partial { first: 0, last: 9 });
        assert_eq!(
            range("bytes=90-200", 100),
            Partial {
                first: 90,
                last: 99
            }
        );
        assert_eq!(
            range("bytes=90-", 100),
            Partial {
                first: 90,
                last: 99
            }
        );
        assert_eq!(
            range("bytes=-10", 100),
            Partial {
                first: 90,
                last: 99
            }
        );
        assert_eq!(range("bytes=-1000", 100), Partial { first: 0, last: 99 });
        assert_eq!(range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(range("bytes=0-", 0), Unsatisfiable);
        assert_eq!(range("bytes=0-1,5-6", 100), Full);
        assert_eq!(range("bytes=5-1", 100), Full);
        assert_eq!(range("bytes=a-b", 100), Full);
        assert_eq!(range("bytes=+1-2", 100), Full);
        assert_eq!(range("items=0-1", 100), Full);
        assert_eq!(range("bytes=99999999999999999999999-", 100), Full);
    }
}
