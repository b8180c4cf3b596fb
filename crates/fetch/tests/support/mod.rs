//! Test servers: a repository served by `httpd`, a scripted server whose
//! answers are raw bytes, and a proxy that cuts the first response.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn blob(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| u8::try_from(i * 31 % 253).unwrap())
        .collect()
}

/// A directory with `blob` (`len` bytes), served by httpd.
pub struct Repo {
    pub dir: tempfile::TempDir,
    pub server: httpd::Handle,
    pub blob: Vec<u8>,
}

pub fn repo(len: usize) -> Repo {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("blob"), blob(len)).unwrap();
    let site = httpd::Site::new(dir.path()).unwrap();
    let server = httpd::Server::bind("127.0.0.1:0", site).unwrap().spawn();
    Repo {
        dir,
        server,
        blob: blob(len),
    }
}

/// Reads a request head (up to the empty line).
pub fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

type Script = Box<dyn FnOnce(TcpStream) + Send>;

/// Answers connection i with `scripts[i]` (after reading its head); keeps
/// the heads it read.
pub struct Scripted {
    pub addr: SocketAddr,
    pub heads: Arc<Mutex<Vec<String>>>,
}

pub fn scripted(scripts: Vec<Script>) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&heads);
    std::thread::spawn(move || {
        for script in scripts {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let head = read_head(&mut s);
            seen.lock().unwrap().push(head);
            std::thread::spawn(move || script(s));
        }
    });
    Scripted { addr, heads }
}

/// A script writing `bytes` and closing.
pub fn answer(bytes: Vec<u8>) -> Script {
    Box::new(move |mut s: TcpStream| {
        let _ = s.write_all(&bytes);
    })
}

/// A script writing `bytes`, then holding the connection open for `hold`.
pub fn answer_then_hang(bytes: Vec<u8>, hold: Duration) -> Script {
    Box::new(move |mut s: TcpStream| {
        let _ = s.write_all(&bytes);
        std::thread::sleep(hold);
    })
}

/// A proxy to `upstream` relaying only the first `cut` bytes of the first
/// response, then closing; later connections are relayed whole. Keeps the
/// request heads.
pub fn cutting_proxy(upstream: SocketAddr, cut: usize) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&heads);
    std::thread::spawn(move || {
        for (i, conn) in listener.incoming().enumerate() {
            let Ok(mut client) = conn else { return };
            let head = read_head(&mut client);
            seen.lock().unwrap().push(head.clone());
            let mut up = TcpStream::connect(upstream).unwrap();
            up.write_all(head.as_bytes()).unwrap();
            let mut response = Vec::new();
            up.read_to_end(&mut response).unwrap();
            if i == 0 {
                response.truncate(cut);
            }
            let _ = client.write_all(&response);
        }
    });
    Scripted { addr, heads }
}
