//! `clip boot --update-server http://127.0.0.1:PORT/...`: the guest reaches
//! the host's server at the contract's address (10.0.2.100:80), one relayed
//! connection per guest connection, and nothing else (`restrict=on`).
//! Without the option the guest has no network device.
//!
//! The guest is programs/testinit with virtio_net: it gives eth0 QEMU's
//! guest address and makes the probes its command line names. On the host
//! the test runs a small HTTP server (answering a fresh nonce and the path)
//! and a second listener on another loopback port that must never see a
//! connection.

#[path = "support/run.rs"]
mod run;
mod testinit_support;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use run::{Run, clip};
use testinit_support::{kernel_modules, testinit_uki_with};

/// `dir/disk.img`: GPT, one ESP with `efi` as BOOTX64.EFI.
fn disk_with(dir: &Path, efi: &Path) -> PathBuf {
    let mut esp = esp::Esp::new();
    esp.add(esp::BOOT_X64, std::fs::read(efi).unwrap()).unwrap();
    let esp_size = esp.suggested_size().div_ceil(1 << 20) << 20;
    let fat = esp.build(esp_size).unwrap();
    let disk_size = esp_size + (2 << 20);
    let table = gpt::DiskLayout::new(disk_size, gpt::Uuid::from_u128(0xc11b))
        .partition(gpt::PartitionSpec {
            type_guid: gpt::types::ESP,
            unique_guid: gpt::Uuid::from_u128(0xe5b),
            name: "esp".into(),
            size: gpt::Size::Bytes(esp_size),
            attributes: gpt::Attributes::default(),
        })
        .build()
        .unwrap();
    let mut image = vec![0u8; usize::try_from(disk_size).unwrap()];
    for r in table.regions().unwrap() {
        let at = usize::try_from(r.offset).unwrap();
        image[at..at + r.bytes.len()].copy_from_slice(&r.bytes);
    }
    let at = usize::try_from(table.partitions[0].offset()).unwrap();
    image[at..at + fat.len()].copy_from_slice(&fat);
    let path = dir.join("disk.img");
    std::fs::write(&path, image).unwrap();
    path
}

/// An HTTP/1.0 server on 127.0.0.1 answering `<nonce> <path>`; the paths
/// it was asked for.
fn http_server(nonce: String) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let paths = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&paths);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request).into_owned();
            let path = request.split(' ').nth(1).unwrap_or("").to_owned();
            let body = format!("{nonce} {path}\n");
            let _ = conn.write_all(
                format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
            seen.lock().unwrap().push(path);
        }
    });
    (port, paths)
}

/// A listener on 127.0.0.1 that counts the connections it gets.
fn counting_listener() -> (u16, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let count = Arc::new(Mutex::new(0));
    let c = Arc::clone(&count);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            if conn.is_ok() {
                *c.lock().unwrap() += 1;
            }
        }
    });
    (port, count)
}

fn boot(args: &[&dyn AsRef<OsStr>]) -> Run {
    let mut v: Vec<std::ffi::OsString> = vec!["boot".into(), "--json".into()];
    v.extend(args.iter().map(|a| a.as_ref().to_owned()));
    let run = clip(&v);
    eprintln!("{}\n{}\n{}", run.what, run.stdout.trim(), run.stderr.trim());
    run
}

#[test]
fn the_guest_reaches_the_update_server_and_nothing_else() {
    let t0 = std::time::Instant::now();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let nonce = format!("nonce-{}-{}", std::process::id(), t0.elapsed().as_nanos());
    let (server, paths) = http_server(nonce.clone());
    let (other, other_count) = counting_listener();
    let probes = format!(
        "testinit.http=10.0.2.100:80/repo/one testinit.http=10.0.2.100:80/repo/two \
         testinit.tcp=10.0.2.2:{other} testinit.tcp=10.0.2.2:{server} testinit.tcp=10.0.2.100:81"
    );
    let modules = kernel_modules(&[
        "net/core/failover.ko.xz",
        "drivers/net/net_failover.ko.xz",
        "drivers/net/virtio_net.ko.xz",
    ]);
    let (uki, _) = testinit_uki_with(
        w,
        "ID=clipos\nNAME=\"CLIP OS\"\nVERSION_ID=0\n",
        &probes,
        &modules,
    );
    let disk = disk_with(w, &uki);
    eprintln!("[{:5.1} s] image ready", t0.elapsed().as_secs_f64());

    let url = format!("http://127.0.0.1:{server}/repo");
    let one = format!(
        "CLIP-TESTINIT: http 10.0.2.100:80/repo/one: HTTP/1.0 200 OK body={nonce} /repo/one"
    );
    let two = format!(
        "CLIP-TESTINIT: http 10.0.2.100:80/repo/two: HTTP/1.0 200 OK body={nonce} /repo/two"
    );
    let to_other = format!("CLIP-TESTINIT: tcp 10.0.2.2:{other}: failed: ");
    let to_server = format!("CLIP-TESTINIT: tcp 10.0.2.2:{server}: failed: ");
    let other_port = "CLIP-TESTINIT: tcp 10.0.2.100:81: failed: ";
    let run = boot(&[
        &disk,
        &"--update-server",
        &url,
        &"--expect",
        &one,
        &"--expect",
        &two,
        &"--expect",
        &to_other,
        &"--expect",
        &to_server,
        &"--expect",
        &other_port,
        &"--refuse",
        &": connected",
        &"--timeout",
        &"240",
    ]);
    run.assert_success();
    let j = run.json();
    assert_eq!(j["result"], "matched");
    assert_eq!(j["update_server"]["url"], url.as_str());
    assert_eq!(j["update_server"]["guest_url"], "http://10.0.2.100/repo");
    assert_eq!(*paths.lock().unwrap(), ["/repo/one", "/repo/two"]);
    assert_eq!(
        *other_count.lock().unwrap(),
        0,
        "restrict=on let a connection out"
    );
    eprintln!("[{:5.1} s] forward only", t0.elapsed().as_secs_f64());

    // Without --update-server: no network device at all.
    let run = boot(&[
        &disk,
        &"--expect",
        &"CLIP-TESTINIT: net: no eth0",
        &"--expect",
        &"CLIP-TESTINIT: powering off",
        &"--timeout",
        &"240",
    ]);
    run.assert_success();
    assert_eq!(run.json()["update_server"], serde_json::Value::Null);
    assert_eq!(paths.lock().unwrap().len(), 2);
    eprintln!("[{:5.1} s] done", t0.elapsed().as_secs_f64());
}
