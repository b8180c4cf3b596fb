//! The client against httpd, against Python's http.server (a third-party
//! server, which ignores Range), and against scripted servers that cut,
//! lie, overflow or hang.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fetch::{Client, Error, Fetched};
use support::*;

fn client() -> Client {
    Client::new()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(5))
}

#[test]
fn whole_and_resumed_from_httpd() {
    let repo = repo(100_000);
    let url = format!("{}blob", repo.server.url());
    let mut sink = Vec::new();
    let got = client().fetch(&url, 0, 1 << 20, &mut sink).unwrap();
    assert_eq!(
        got,
        Fetched {
            status: 200,
            start: 0,
            received: 100_000
        }
    );
    assert!(sink == repo.blob, "sink differs: {} bytes", sink.len());
    // Resume: the held bytes are kept, the rest appended.
    let mut sink = repo.blob[..40_000].to_vec();
    let got = client().fetch(&url, 40_000, 1 << 20, &mut sink).unwrap();
    assert_eq!(
        got,
        Fetched {
            status: 206,
            start: 40_000,
            received: 60_000
        }
    );
    assert!(sink == repo.blob, "sink differs: {} bytes", sink.len());
    // Everything held: 416 with bytes */len says so.
    let got = client().fetch(&url, 100_000, 1 << 20, &mut sink).unwrap();
    assert_eq!(
        got,
        Fetched {
            status: 416,
            start: 100_000,
            received: 0
        }
    );
    assert!(sink == repo.blob, "sink differs: {} bytes", sink.len());
    // Limits: announced too large, held too large.
    let mut sink = Vec::new();
    let err = client().fetch(&url, 0, 99_999, &mut sink).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: server announced 100000 bytes, more than the 99999 allowed")
    );
    assert!(sink.is_empty());
    let mut sink = repo.blob[..50_000].to_vec();
    let err = client().fetch(&url, 50_000, 99_999, &mut sink).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: server announced 100000 bytes, more than the 99999 allowed")
    );
    // Refusals name the status.
    let missing = format!("{}nope", repo.server.url());
    let err = client()
        .fetch(&missing, 0, 10, &mut Vec::new())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{missing}: server answered 404 Not Found")
    );
    assert!(!err.is_transient());
}

struct Python(Child);

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn python_http_server_ignores_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let data = blob(70_000);
    std::fs::write(dir.path().join("blob"), &data).unwrap();
    let mut child = Python(
        Command::new("/usr/bin/python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/bin/python3 (the third-party server) must be installed"),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.0.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    // "Serving HTTP on 127.0.0.1 port 12345 (http://127.0.0.1:12345/) ..."
    let url = line
        .split(['(', ')'])
        .nth(1)
        .unwrap_or_else(|| panic!("{line:?}"));
    let url = format!("{url}blob");
    let mut sink = Vec::new();
    let got = client().fetch(&url, 0, 1 << 20, &mut sink).unwrap();
    assert_eq!((got.status, got.len()), (200, 70_000));
    assert!(sink == data, "sink differs: {} bytes", sink.len());
    // A resume answered 200: the sink is restarted, not appended to.
    let mut sink = b"stale bytes that are not the file's".to_vec();
    let held = u64::try_from(sink.len()).unwrap();
    let got = client().fetch(&url, held, 1 << 20, &mut sink).unwrap();
    assert_eq!(
        got,
        Fetched {
            status: 200,
            start: 0,
            received: 70_000
        }
    );
    assert!(sink == data, "sink differs: {} bytes", sink.len());
    // The same into a file.
    let path = dir.path().join("out");
    std::fs::write(&path, b"stale").unwrap();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    client().fetch(&url, 5, 1 << 20, &mut file).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
    let err = client()
        .fetch(&format!("{url}-missing"), 0, 10, &mut Vec::new())
        .unwrap_err();
    // The reason phrase is Python's to choose.
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("{url}-missing: server answered 404 ")),
        "{message}"
    );
}

#[test]
fn resume_after_a_cut() {
    let repo = repo(200_000);
    // The first response is cut 50,000 bytes into it (its head included).
    let proxy = cutting_proxy(repo.server.local_addr(), 50_000);
    let url = format!("http://{}/blob", proxy.addr);
    let mut sink = Vec::new();
    let err = client().fetch(&url, 0, 1 << 20, &mut sink).unwrap_err();
    assert!(err.is_transient());
    let held = u64::try_from(sink.len()).unwrap();
    assert!(held > 49_000 && held < 50_000, "{held}");
    assert_eq!(
        err.to_string(),
        format!("{url}: connection closed after {held} bytes, 200000 expected")
    );
    let got = client().fetch(&url, held, 1 << 20, &mut sink).unwrap();
    assert_eq!(
        got,
        Fetched {
            status: 206,
            start: held,
            received: 200_000 - held
        }
    );
    assert!(sink == repo.blob, "sink differs: {} bytes", sink.len());
    let heads = proxy.heads.lock().unwrap().clone();
    assert!(!heads[0].contains("Range"), "{}", heads[0]);
    assert!(
        heads[1].contains(&format!("\r\nRange: bytes={held}-\r\n")),
        "{}",
        heads[1]
    );
}

#[test]
fn fetch_resuming_retries_from_what_is_held() {
    let repo = repo(200_000);
    let proxy = cutting_proxy(repo.server.local_addr(), 70_000);
    let url = format!("http://{}/blob", proxy.addr);
    let mut sink = Vec::new();
    let got = client()
        .fetch_resuming(&url, 0, 1 << 20, &mut sink, 3, Duration::ZERO)
        .unwrap();
    assert_eq!((got.status, got.len()), (206, 200_000));
    assert!(sink == repo.blob, "sink differs: {} bytes", sink.len());
    assert_eq!(proxy.heads.lock().unwrap().len(), 2);
    // A refusal is not retried.
    let missing = format!("{}nope", repo.server.url());
    let err = client()
        .fetch_resuming(&missing, 0, 10, &mut Vec::new(), 3, Duration::ZERO)
        .unwrap_err();
    assert!(matches!(err, Error::Status { status: 404, .. }));
}

fn http(head: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!("HTTP/1.1 {head}\r\n\r\n").into_bytes();
    v.extend_from_slice(body);
    v
}

#[test]
fn limits_and_lies() {
    let big = blob(4096);
    let server = scripted(vec![
        // Content-Length says 10, a megabyte follows: 10 bytes are taken.
        answer(http("200 OK\r\nContent-Length: 10", &blob(1 << 20))),
        // No length, more than allowed: stops at byte max + 1.
        answer(http("200 OK\r\nConnection: close", &big)),
        // Chunked, more than allowed.
        answer(
            http("200 OK\r\nTransfer-Encoding: chunked", b"800\r\n")
                .into_iter()
                .chain(big.iter().copied())
                .collect(),
        ),
        // A 206 that does not continue the held bytes.
        answer(http(
            "206 Partial Content\r\nContent-Range: bytes 0-9/10\r\nContent-Length: 10",
            &big[..10],
        )),
        // A 206 to a request without Range.
        answer(http(
            "206 Partial Content\r\nContent-Range: bytes 0-9/10\r\nContent-Length: 10",
            &big[..10],
        )),
        // A body shorter than its Content-Length.
        answer(http("200 OK\r\nContent-Length: 100", &big[..60])),
        // Chunked, well-formed, with an extension and a trailer.
        answer(http(
            "200 OK\r\nTransfer-Encoding: chunked",
            b"5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nT: 1\r\n\r\n",
        )),
        // Interim 100, then the answer.
        answer(http(
            "100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2",
            b"ok",
        )),
        // Compressed although identity was asked.
        answer(http(
            "200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2",
            b"ok",
        )),
    ]);
    let url = format!("http://{}/x", server.addr);
    let mut sink = Vec::new();
    let got = client().fetch(&url, 0, 1 << 20, &mut sink).unwrap();
    assert_eq!((got.received, sink.as_slice()), (10, &blob(1 << 20)[..10]));
    let mut sink = Vec::new();
    let err = client().fetch(&url, 0, 1024, &mut sink).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: server sent 1025 bytes, more than the 1024 allowed")
    );
    assert_eq!(sink, big[..1024], "nothing past the limit is written");
    let mut sink = Vec::new();
    let err = client().fetch(&url, 0, 1024, &mut sink).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: server sent 1025 bytes, more than the 1024 allowed")
    );
    assert_eq!(sink.len(), 1024);
    let mut sink = vec![0; 5];
    let err = client().fetch(&url, 5, 1024, &mut sink).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: 206: Content-Range \"bytes 0-9/10\" does not continue the 5 bytes held")
    );
    assert_eq!(sink, [0; 5]);
    let err = client().fetch(&url, 0, 1024, &mut Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: malformed response: 206 Partial Content to a request without Range")
    );
    let mut sink = Vec::new();
    let err = client().fetch(&url, 0, 1024, &mut sink).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: connection closed after 60 bytes, 100 expected")
    );
    let mut sink = Vec::new();
    client().fetch(&url, 0, 1024, &mut sink).unwrap();
    assert_eq!(sink, b"hello world");
    let mut sink = Vec::new();
    client().fetch(&url, 0, 1024, &mut sink).unwrap();
    assert_eq!(sink, b"ok");
    let err = client().fetch(&url, 0, 1024, &mut Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: malformed response: Content-Encoding \"gzip\" not asked for")
    );
    let heads = server.heads.lock().unwrap().clone();
    assert_eq!(
        heads[0],
        format!(
            "GET /x HTTP/1.1\r\nHost: {}\r\nUser-Agent: clip-fetch\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
            server.addr
        )
    );
}

#[test]
fn hung_servers_time_out() {
    let server = scripted(vec![
        answer_then_hang(Vec::new(), Duration::from_secs(5)),
        answer_then_hang(
            http("200 OK\r\nContent-Length: 1000", &[7; 300]),
            Duration::from_secs(5),
        ),
    ]);
    let url = format!("http://{}/x", server.addr);
    let slow = Client::new().read_timeout(Duration::from_millis(300));
    let start = Instant::now();
    let err = slow.fetch(&url, 0, 1 << 20, &mut Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: no data from the server for 0.3 s after 0 bytes")
    );
    assert!(err.is_transient());
    let mut sink = Vec::new();
    let err = slow.fetch(&url, 0, 1 << 20, &mut sink).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: no data from the server for 0.3 s after 300 bytes")
    );
    assert_eq!(sink.len(), 300);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn connection_and_url_errors() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = free.local_addr().unwrap();
    drop(free);
    let url = format!("http://{addr}/x");
    let err = client().fetch(&url, 0, 10, &mut Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: cannot connect to {addr}: Connection refused (os error 111)")
    );
    assert!(err.is_transient());
    let err = client()
        .fetch("ftp://h/x", 0, 10, &mut Vec::new())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "ftp://h/x: invalid URL: not http:// or https://"
    );
    let err = client()
        .fetch("https://127.0.0.1:1/x", 0, 10, &mut Vec::new())
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Connect { .. } | Error::NoTrustRoots { .. }
    ));
    let err = client().fetch(&url, 11, 10, &mut Vec::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: already holding 11 bytes, more than the 10 allowed")
    );
}

#[test]
fn answers_to_a_resume() {
    let server = scripted(vec![
        // No Content-Length: the range says where the body ends.
        answer(http(
            "206 Partial Content\r\nContent-Range: bytes 5-9/10",
            b"56789 and more",
        )),
        // The whole object again, but too large: what is held is kept.
        answer(http("200 OK\r\nContent-Length: 5000", b"")),
        // A range that stops before the end.
        answer(http(
            "206 Partial Content\r\nContent-Range: bytes 5-6/10\r\nContent-Length: 2",
            b"56",
        )),
        // A range past the limit.
        answer(http(
            "206 Partial Content\r\nContent-Range: bytes 5-99/100\r\nContent-Length: 95",
            b"",
        )),
        // 416 not saying that everything is held.
        answer(http(
            "416 Range Not Satisfiable\r\nContent-Range: bytes */3",
            b"",
        )),
    ]);
    let url = format!("http://{}/x", server.addr);
    let mut sink = b"01234".to_vec();
    let got = client().fetch(&url, 5, 50, &mut sink).unwrap();
    assert_eq!(
        got,
        Fetched {
            status: 206,
            start: 5,
            received: 5
        }
    );
    assert_eq!(sink, b"0123456789");
    let mut sink = b"01234".to_vec();
    let err = client().fetch(&url, 5, 50, &mut sink).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: server announced 5000 bytes, more than the 50 allowed")
    );
    assert_eq!(sink, b"01234");
    let err = client().fetch(&url, 5, 50, &mut sink).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: 206: Content-Range \"bytes 5-6/10\" does not continue the 5 bytes held")
    );
    let err = client().fetch(&url, 5, 50, &mut sink).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: server announced 100 bytes, more than the 50 allowed")
    );
    let err = client().fetch(&url, 5, 50, &mut sink).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url}: server answered 416 Range Not Satisfiable")
    );
    assert_eq!(sink, b"01234");
}
