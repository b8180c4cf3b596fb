#![allow(clippy::cast_possible_truncation)] // Test images are small; the host is 64-bit.
//! clip-updated over HTTPS (docs/update.md, "HTTPS"): the bed's repository
//! served by httpd's handler behind a rustls server with a test CA (rcgen),
//! update.json naming the https URL and the CA bundle. The right CA
//! installs v2; another CA, no CA, a missing or unusable CA file are
//! refused before anything is written.

mod support;

use support::*;

fn v2_bed() -> Bed {
    bed(
        "1.0.0",
        |_| vec![payload("2.0.0", 4 << 20)],
        key(2),
        now().plus_seconds(86400),
    )
}

fn text(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs `apply`, which must fail with exactly `want` on stderr and leave
/// the disk image and the trusted metadata as they were.
fn refused(bed: &Bed, want: &str) {
    let before = std::fs::read(bed.path("disk.img")).unwrap();
    let o = bed.run(&["apply"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert_eq!(err, format!("error: {want}\n"));
    assert!(out.is_empty(), "{out}");
    assert!(
        std::fs::read(bed.path("disk.img")).unwrap() == before,
        "the disk image changed"
    );
    assert!(!bed.path("state/metadata").exists(), "metadata written");
    assert!(!bed.path("state/cache").exists(), "cache written");
    assert_eq!(bed.access_log(), "", "the plain HTTP server was asked");
}

#[test]
fn apply_over_https_with_the_servers_ca() {
    let bed = v2_bed();
    let ca = pki("clip test CA");
    let url = bed.serve_https(&ca, Some(&ca.ca_pem));
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let o = bed.run(&["apply"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        out.starts_with("Installed: 2.0.0 in slot b\nEntry: clipos-b+3.conf\n"),
        "{out}"
    );
    // Slot B holds v2's root, byte for byte.
    let image = std::fs::read(bed.path("disk.img")).unwrap();
    let t = gpt::Gpt::read_image(&image).unwrap().gpt;
    let b = t.partitions.iter().find(|p| p.name == "root-b").unwrap();
    let v2 = payload("2.0.0", 4 << 20);
    let start = b.offset() as usize;
    assert!(image[start..start + (4 << 20)] == v2.files["root.erofs"][..]);
    // Everything came over TLS: the metadata and the targets.
    let log = bed.https_access_log();
    for path in [
        "/metadata/timestamp.json",
        "/metadata/1.snapshot.json",
        "/targets/",
    ] {
        assert!(log.contains(&format!("\"GET {path}")), "{path}: {log}");
    }
    assert_eq!(bed.access_log(), "", "the plain HTTP server was asked");
}

#[test]
fn a_server_certificate_from_another_ca_is_refused() {
    let bed = v2_bed();
    let served = pki("clip test CA");
    let other = pki("another CA");
    let url = bed.serve_https(&served, Some(&other.ca_pem));
    refused(
        &bed,
        &format!(
            "cannot refresh the update metadata from {url}: {url}metadata/2.root.json: TLS \
             handshake failed: invalid peer certificate: UnknownIssuer"
        ),
    );
    // status.json says why.
    let (out, _) = text(&bed.run(&["status"]));
    assert!(
        out.contains("Last error: cannot refresh the update metadata from https://"),
        "{out}"
    );
}

#[test]
fn an_https_server_without_a_ca_is_refused() {
    let bed = v2_bed();
    let served = pki("clip test CA");
    let url = bed.serve_https(&served, None);
    refused(
        &bed,
        &format!(
            "update configuration {} is not valid: update server \"{url}\" is https:// but no ca \
             is configured: the device trusts no system CA store, so an https server needs the \
             CA bundle that signed its certificate",
            bed.path("root/usr/lib/clip/update.json").display()
        ),
    );
    assert_eq!(bed.https_access_log(), "", "the https server was asked");
}

#[test]
fn a_missing_or_unusable_ca_file_is_refused() {
    let bed = v2_bed();
    let served = pki("clip test CA");
    bed.serve_https(&served, Some(&served.ca_pem));
    let ca = bed.path("root/usr/lib/clip/update/ca.pem");
    std::fs::write(&ca, "not a certificate\n").unwrap();
    refused(
        &bed,
        &format!(
            "the update server's CA {} is not usable (update.json's ca): trust roots: no \
             certificate in the PEM bundle",
            ca.display()
        ),
    );
    std::fs::remove_file(&ca).unwrap();
    refused(
        &bed,
        &format!(
            "cannot read the update server's CA {} (update.json's ca): No such file or directory \
             (os error 2)",
            ca.display()
        ),
    );
    assert_eq!(bed.https_access_log(), "", "the https server was asked");
}
