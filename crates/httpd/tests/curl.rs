//! The server against curl (the oracle client): full and ranged GETs, HEAD,
//! refusals (404, 403 for paths leaving the root with `--path-as-is`, 405,
//! 416, 431), and the exact Common Log Format lines. Raw sockets for what
//! curl will not send (malformed heads, slow clients).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use httpd::clock::Utc;
use httpd::{AccessLog, Limits, Server, Site};

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    fn lines(&self) -> Vec<String> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_owned).collect()
    }
}

struct Bed {
    _dir: tempfile::TempDir,
    server: httpd::Handle,
    log: Log,
    blob: Vec<u8>,
}

fn blob() -> Vec<u8> {
    (0..1000u32)
        .map(|i| u8::try_from(i * 7 % 251).unwrap())
        .collect()
}

fn bed_with(limits: Limits) -> Bed {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("blob"), blob()).unwrap();
    std::fs::write(root.join("1.root.json"), b"{\"signed\":{}}\n").unwrap();
    std::fs::write(root.join("sub/x y"), b"spaced\n").unwrap();
    std::fs::write(root.join("empty"), b"").unwrap();
    std::fs::write(dir.path().join("secret"), b"outside\n").unwrap();
    std::os::unix::fs::symlink("../secret", root.join("out")).unwrap();
    std::os::unix::fs::symlink(dir.path(), root.join("outdir")).unwrap();
    std::os::unix::fs::symlink("blob", root.join("inside")).unwrap();
    let log = Log::default();
    let site = Site::new(&root)
        .unwrap()
        .with_access_log(AccessLog::new(log.clone()))
        .with_limits(limits);
    let server = Server::bind("127.0.0.1:0", site).unwrap().spawn();
    Bed {
        _dir: dir,
        server,
        log,
        blob: blob(),
    }
}

fn bed() -> Bed {
    bed_with(Limits::default())
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Splits a raw HTTP response (curl -i, or a socket's bytes).
fn split(raw: &[u8]) -> Reply {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let head = std::str::from_utf8(&raw[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.to_owned(), v.trim().to_owned())
        })
        .collect();
    Reply {
        status,
        headers,
        body: raw[end..].to_vec(),
    }
}

fn curl(bed: &Bed, args: &[&str], path: &str) -> Reply {
    let url = format!("{}{}", bed.server.url().trim_end_matches('/'), path);
    let out = Command::new("curl")
        .args(["-sS", "-i", "--path-as-is", "--max-time", "10"])
        .args(args)
        .arg(&url)
        .output()
        .expect("curl (the oracle client) must be installed: ./dev installs it");
    assert!(
        out.status.success(),
        "curl {args:?} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    split(&out.stdout)
}

fn raw(bed: &Bed, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(bed.server.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

#[test]
fn full_get_and_head() {
    let bed = bed();
    let r = curl(&bed, &[], "/blob");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, bed.blob);
    assert_eq!(r.header("Content-Length"), Some("1000"));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    assert_eq!(r.header("Content-Type"), Some("application/octet-stream"));
    assert!(r.header("Last-Modified").unwrap().ends_with(" GMT"));
    let r = curl(&bed, &[], "/1.root.json");
    assert_eq!(
        (r.status, r.body.as_slice()),
        (200, &b"{\"signed\":{}}\n"[..])
    );
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    let r = curl(&bed, &[], "/sub/x%20y");
    assert_eq!((r.status, r.body.as_slice()), (200, &b"spaced\n"[..]));
    let r = curl(&bed, &[], "/empty");
    assert_eq!((r.status, r.body.len()), (200, 0));
    // HEAD: the GET's fields, no body.
    let r = curl(&bed, &["-I"], "/blob");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("1000"));
    assert!(r.body.is_empty());
    // A symbolic link that stays inside is served.
    assert_eq!(curl(&bed, &[], "/inside").body, bed.blob);
}

#[test]
fn ranges() {
    let bed = bed();
    for (arg, first, last) in [
        ("10-19", 10, 19),
        ("990-", 990, 999),
        ("-5", 995, 999),
        ("900-5000", 900, 999),
    ] {
        let r = curl(&bed, &["-r", arg], "/blob");
        assert_eq!(r.status, 206, "{arg}");
        assert_eq!(
            r.header("Content-Range").unwrap(),
            format!("bytes {first}-{last}/1000")
        );
        assert_eq!(
            r.header("Content-Length").unwrap(),
            (last - first + 1).to_string()
        );
        assert_eq!(r.body, bed.blob[first..=last], "{arg}");
    }
    let r = curl(&bed, &["-r", "1000-"], "/blob");
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */1000"));
    assert!(r.body.is_empty());
    let r = curl(&bed, &["-r", "0-"], "/empty");
    assert_eq!(
        (r.status, r.header("Content-Range")),
        (416, Some("bytes */0"))
    );
    // Several ranges: the whole file with 200 (multipart is not spoken).
    let r = curl(&bed, &["-r", "0-1,5-6"], "/blob");
    assert_eq!((r.status, r.header("Content-Range")), (200, None));
    assert_eq!(r.body, bed.blob);
    // A malformed range is ignored.
    let r = curl(&bed, &["-H", "Range: bytes=9-2"], "/blob");
    assert_eq!(r.status, 200);
    // HEAD with a range.
    let r = curl(&bed, &["-I", "-r", "10-19"], "/blob");
    assert_eq!((r.status, r.header("Content-Length")), (206, Some("10")));
    assert!(r.body.is_empty());
}

#[test]
fn refusals() {
    let bed = bed();
    let status = |path: &str| curl(&bed, &[], path).status;
    assert_eq!(status("/missing"), 404);
    assert_eq!(status("/sub"), 404, "a directory is not listed");
    assert_eq!(status("/blob/x"), 404);
    // Paths leaving the root, sent as they are.
    assert_eq!(status("/../secret"), 403);
    assert_eq!(status("/sub/../../secret"), 403);
    assert_eq!(status("/%2e%2e/secret"), 403);
    assert_eq!(status("/sub/%2E%2E/%2e%2e/secret"), 403);
    assert_eq!(status("/..%2fsecret"), 400);
    assert_eq!(status("/%2e%2e%2fsecret"), 400);
    assert_eq!(status("/blob%00"), 400);
    assert_eq!(status("/out"), 403, "a symbolic link pointing out");
    assert_eq!(
        status("/outdir/secret"),
        403,
        "a directory link pointing out"
    );
    let r = curl(&bed, &[], "/../secret");
    assert_eq!(r.body, b"403 Forbidden: path leaves the repository\n");
    let r = curl(&bed, &["-X", "DELETE"], "/blob");
    assert_eq!((r.status, r.header("Allow")), (405, Some("GET, HEAD")));
    let r = curl(
        &bed,
        &["-H", &format!("X-Big: {}", "a".repeat(9000))],
        "/blob",
    );
    assert_eq!(r.status, 431);
    // What curl will not send.
    let bad = |req: &[u8]| split(&raw(&bed, req)).status;
    assert_eq!(bad(b"garbage\r\n\r\n"), 400);
    assert_eq!(bad(b"GET /blob HTTP/1.1\r\n\r\n"), 400, "no Host");
    assert_eq!(
        bad(b"GET /blob HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n"),
        400
    );
    assert_eq!(bad(b"GET blob HTTP/1.0\r\n\r\n"), 400);
    assert_eq!(bad(b"GET /blob HTTP/3.0\r\n\r\n"), 505);
    assert_eq!(bad(b"GET /blob HTTP/1.0\r\n\r\n"), 200);
}

#[test]
fn slow_clients_are_cut_off() {
    let bed = bed_with(Limits {
        head_timeout: Duration::from_millis(500),
        ..Limits::default()
    });
    // Half a head, then silence: 408 once the head's time is up.
    let mut s = TcpStream::connect(bed.server.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    s.write_all(b"GET /blob HTTP/1.1\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert_eq!(split(&out).status, 408);
    // One byte every 200 ms (from another thread) keeps each read short but
    // not the whole head: the answer comes when the head's time is up.
    let mut s = TcpStream::connect(bed.server.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut writer = s.try_clone().unwrap();
    let trickle = Instant::now();
    let trickler = std::thread::spawn(move || {
        for &b in b"GET /blob HTTP/1.1\r\nHost: x\r\n" {
            if writer.write_all(&[b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let answered = trickle.elapsed();
    assert_eq!(split(&out).status, 408);
    assert!(answered < Duration::from_secs(3), "{answered:?}");
    drop(s);
    trickler.join().unwrap();
    // Silence from the start: closed without an answer, nothing logged.
    let mut s = TcpStream::connect(bed.server.local_addr()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    assert!(out.is_empty());
    assert!(start.elapsed() < Duration::from_secs(5));
    let lines = bed.log.lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let n408 = "408 Request Timeout: request head not received in time\n".len();
    assert!(
        lines[0].ends_with(&format!("] \"GET /blob HTTP/1.1\" 408 {n408}")),
        "{lines:?}"
    );
    // The part of the request line that came in time (a few bytes).
    let (_, logged) = lines[1].split_once("] \"").unwrap();
    let part = logged.strip_suffix(&format!("\" 408 {n408}")).unwrap();
    assert!(
        !part.is_empty() && "GET /blob".starts_with(part),
        "{lines:?}"
    );
}

/// The CLF date stamps of every second between two instants.
fn stamps(from: SystemTime, to: SystemTime) -> Vec<String> {
    let secs = |t: SystemTime| {
        i64::try_from(t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()).unwrap()
    };
    (secs(from)..=secs(to))
        .map(|s| Utc::from_unix(s).clf_date())
        .collect()
}

#[test]
fn common_log_format() {
    let bed = bed();
    let before = SystemTime::now();
    curl(&bed, &[], "/1.root.json");
    curl(&bed, &["-r", "10-19"], "/blob");
    curl(&bed, &["-I"], "/blob");
    curl(&bed, &[], "/missing");
    curl(&bed, &[], "/../secret");
    raw(&bed, b"GET /\"x\x01 HTTP/1.0\r\n\r\n");
    let after = SystemTime::now();
    // The error bodies' lengths.
    let n404 = "404 Not Found: no such file\n".len();
    let n403 = "403 Forbidden: path leaves the repository\n".len();
    let n400 = "400 Bad Request: request target is not an absolute path\n".len();
    let want = [
        "\"GET /1.root.json HTTP/1.1\" 200 14".to_owned(),
        "\"GET /blob HTTP/1.1\" 206 10".to_owned(),
        "\"HEAD /blob HTTP/1.1\" 200 -".to_owned(),
        format!("\"GET /missing HTTP/1.1\" 404 {n404}"),
        format!("\"GET /../secret HTTP/1.1\" 403 {n403}"),
        // Quotes and control bytes escaped: a request cannot forge a line.
        format!("\"GET /\\\"x\\x01 HTTP/1.0\" 400 {n400}"),
    ];
    let lines = bed.log.lines();
    assert_eq!(lines.len(), want.len(), "{lines:?}");
    let stamps = stamps(before, after);
    for (line, want) in lines.iter().zip(want) {
        let ok = stamps
            .iter()
            .any(|s| *line == format!("127.0.0.1 - - [{s}] {want}"));
        assert!(ok, "{line:?} is not 127.0.0.1 - - [{stamps:?}] {want}");
    }
}

#[test]
fn root_must_be_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, b"").unwrap();
    let err = Site::new(&file).unwrap_err().to_string();
    assert_eq!(
        err,
        format!("cannot serve {}: not a directory", file.display())
    );
    let err = Site::new(Path::new("/nonexistent/repo"))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "cannot serve /nonexistent/repo: No such file or directory (os error 2)"
    );
}
