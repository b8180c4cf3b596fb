//! One connection: read the head within the deadline, answer one request,
//! log it, close.

use std::fs::File;
use std::io::{self, ErrorKind, Read, Write};
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use crate::clock::Utc;
use crate::request::{self, RangeAnswer, Refusal};
use crate::{Site, Timeouts};

enum Head {
    Complete(Vec<u8>),
    /// Over the size limit (the bytes read so far).
    TooLong(Vec<u8>),
    /// Closed, failed or timed out after these bytes.
    Incomplete(Vec<u8>),
}

fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn read_head<S: Read + Timeouts>(stream: &mut S, site: &Site) -> Head {
    let deadline = Instant::now() + site.limits.head_timeout;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return Head::Incomplete(buf);
        }
        match stream.read(&mut chunk) {
            Ok(0) => return Head::Incomplete(buf),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return Head::Incomplete(buf),
        }
        if let Some(end) = head_end(&buf) {
            if end > site.limits.max_head {
                return Head::TooLong(buf);
            }
            buf.truncate(end);
            return Head::Complete(buf);
        }
        if buf.len() > site.limits.max_head {
            return Head::TooLong(buf);
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        206 => "Partial Content",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        416 => "Range Not Satisfiable",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Serves one request on `stream` and returns; the caller closes it.
pub fn serve_connection<S: Read + Write + Timeouts>(mut stream: S, peer: IpAddr, site: &Site) {
    let date = Utc::from_system(SystemTime::now());
    let (head, line) = match read_head(&mut stream, site) {
        Head::Complete(head) => {
            let line = request::first_line(&head).to_vec();
            (head, line)
        }
        Head::TooLong(head) => {
            let line = request::first_line(&head).to_vec();
            let sent = refuse(&mut stream, 431, "request head too large", false, &date);
            log(site, peer, &date, &line, 431, sent);
            drain(&mut stream);
            return;
        }
        Head::Incomplete(head) => {
            // Nothing asked, nothing to answer; a partial head gets 408.
            if !head.is_empty() {
                let line = request::first_line(&head).to_vec();
                let sent = refuse(
                    &mut stream,
                    408,
                    "request head not received in time",
                    false,
                    &date,
                );
                log(site, peer, &date, &line, 408, sent);
            }
            return;
        }
    };
    let (status, sent) = answer(&mut stream, &head, site, &date);
    log(site, peer, &date, &line, status, sent);
}

fn log(site: &Site, peer: IpAddr, date: &Utc, line: &[u8], status: u16, sent: u64) {
    if let Some(log) = &site.log {
        log.record(peer, date, line, status, sent);
    }
}

/// Reads what the client still sends for a moment, so that closing with
/// unread data does not reset the connection before it reads the answer.
fn drain<S: Read + Timeouts>(stream: &mut S) {
    let mut sink = [0u8; 4096];
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(200)));
    for _ in 0..64 {
        match stream.read(&mut sink) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
    }
}

/// Answers the request in `head`; returns the status and the body bytes sent.
fn answer<S: Write>(stream: &mut S, head: &[u8], site: &Site, date: &Utc) -> (u16, u64) {
    let req = match request::parse(head) {
        Ok(req) => req,
        Err(Refusal { status, reason }) => {
            return (status, refuse(stream, status, reason, false, date));
        }
    };
    let head_only = match req.method.as_str() {
        "GET" => false,
        "HEAD" => true,
        _ => return (405, refuse(stream, 405, "only GET and HEAD", false, date)),
    };
    let file = match resolve(site, &req.target) {
        Ok(path) => path,
        Err(Refusal { status, reason }) => {
            return (status, refuse(stream, status, reason, head_only, date));
        }
    };
    let (mut file, meta) = match File::open(&file).and_then(|f| f.metadata().map(|m| (f, m))) {
        Ok(found) => found,
        Err(e) => {
            let status = if e.kind() == ErrorKind::NotFound {
                404
            } else {
                403
            };
            return (
                status,
                refuse(stream, status, "cannot open", head_only, date),
            );
        }
    };
    let len = meta.len();
    let answer = req
        .range
        .as_deref()
        .map_or(RangeAnswer::Full, |r| request::range(r, len));
    let (status, first, count, content_range) = match answer {
        RangeAnswer::Full => (200, 0, len, None),
        RangeAnswer::Partial { first, last } => (
            206,
            first,
            last - first + 1,
            Some(format!("bytes {first}-{last}/{len}")),
        ),
        RangeAnswer::Unsatisfiable => (416, 0, 0, Some(format!("bytes */{len}"))),
    };
    let mut fields = vec![
        ("Content-Type", content_type(&req.target).to_owned()),
        ("Accept-Ranges", "bytes".to_owned()),
    ];
    if let Ok(mtime) = meta.modified() {
        fields.push(("Last-Modified", Utc::from_system(mtime).http_date()));
    }
    if let Some(range) = content_range {
        fields.push(("Content-Range", range));
    }
    if write_head(stream, status, count, &fields, date).is_err() || head_only {
        return (status, 0);
    }
    (status, copy_body(&mut file, stream, first, count))
}

/// Copies `count` bytes of `file` from `first`; returns how many were sent.
fn copy_body<S: Write>(file: &mut File, stream: &mut S, first: u64, count: u64) -> u64 {
    use std::io::{Seek, SeekFrom};
    if file.seek(SeekFrom::Start(first)).is_err() {
        return 0;
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut sent = 0u64;
    while sent < count {
        let want = usize::try_from(count - sent)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = match file.read(&mut buf[..want]) {
            Ok(0) | Err(_) => break, // The file shrank: the client sees a short body.
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).is_err() {
            break;
        }
        sent += u64::try_from(n).unwrap_or(0);
    }
    let _ = stream.flush();
    sent
}

/// The file a target names, canonicalized and checked to be under the root.
fn resolve(site: &Site, target: &str) -> Result<PathBuf, Refusal> {
    let segments = request::path_segments(target)?;
    let mut path = site.root.clone();
    for segment in &segments {
        path.push(std::ffi::OsStr::from_bytes(segment));
    }
    let real = path.canonicalize().map_err(|e| match e.kind() {
        ErrorKind::NotFound | ErrorKind::NotADirectory => Refusal {
            status: 404,
            reason: "no such file",
        },
        _ => Refusal {
            status: 403,
            reason: "cannot resolve the path",
        },
    })?;
    if !real.starts_with(&site.root) {
        return Err(Refusal {
            status: 403,
            reason: "path leaves the repository",
        });
    }
    if !real.is_file() {
        return Err(Refusal {
            status: 404,
            reason: "not a file",
        });
    }
    Ok(real)
}

fn content_type(target: &str) -> &'static str {
    let path = target.split(['?', '#']).next().unwrap_or_default();
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn write_head<S: Write>(
    stream: &mut S,
    status: u16,
    length: u64,
    fields: &[(&str, String)],
    date: &Utc,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nDate: {}\r\n",
        reason(status),
        date.http_date()
    );
    for (name, value) in fields {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if status == 405 {
        head.push_str("Allow: GET, HEAD\r\n");
    }
    head.push_str(&format!(
        "Content-Length: {length}\r\nConnection: close\r\n\r\n"
    ));
    stream.write_all(head.as_bytes())?;
    stream.flush()
}

/// Sends an error status with a one-line text body; returns the body bytes sent.
fn refuse<S: Write>(stream: &mut S, status: u16, why: &str, head_only: bool, date: &Utc) -> u64 {
    let body = format!("{status} {}: {why}\n", reason(status));
    let fields = [("Content-Type", "text/plain; charset=utf-8".to_owned())];
    let len = u64::try_from(body.len()).unwrap_or(0);
    if write_head(stream, status, len, &fields, date).is_err() || head_only {
        return 0;
    }
    if stream
        .write_all(body.as_bytes())
        .and_then(|()| stream.flush())
        .is_err()
    {
        return 0;
    }
    len
}
