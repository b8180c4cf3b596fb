//! A host test bed: a signed repository (crates/tuf) served by crates/httpd
//! on loopback, a disk image file with the A/B layout of `clip build`
//! (crates/gpt, crates/esp) holding v1 in slot A, and a fake running root.
#![allow(
    dead_code,
    missing_debug_implementations,
    clippy::cast_possible_truncation,
    clippy::too_many_arguments
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use contract::release::{File as RFile, Release, Uki, Verity};
use contract::{BootParams, Slot, Version};
use ed25519_dalek::SigningKey;
use gpt::{Attributes, DiskLayout, PartitionSpec, Size, Uuid, types};
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use tuf::Time;
use tuf::repository::{Publication, RoleSetup, RootSetup, Signers};

pub const PRODUCT: &str = "clipos";
pub const MIB: u64 = 1 << 20;

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub struct Payload {
    pub release: Release,
    pub files: BTreeMap<String, Vec<u8>>,
}

fn file(name: &str, data: &[u8]) -> RFile {
    RFile {
        name: name.into(),
        size: data.len() as u64,
        sha256: hex::encode(Sha256::digest(data)),
    }
}

/// A release of `version` with a root of `root_len` random bytes.
pub fn payload(version: &str, root_len: usize) -> Payload {
    let mut rng = rand::rngs::StdRng::seed_from_u64(Sha256::digest(version)[0].into());
    let mut root = vec![0u8; root_len];
    rng.fill(&mut root[..]);
    let salt: Vec<u8> = (0..32u8).map(|i| i ^ root[0]).collect();
    let data_blocks = (root_len / 4096) as u64;
    let params = verity::Params {
        hash_type: verity::HashType::Normal,
        algorithm: verity::HashAlgorithm::Sha256,
        data_block_size: 4096,
        hash_block_size: 4096,
        data_blocks,
        salt: salt.clone(),
    };
    let mut b = verity::TreeBuilder::new(params.clone()).unwrap();
    b.update(&root).unwrap();
    let tree = b.finish().unwrap();
    let sb = verity::Superblock {
        params,
        uuid: [7; 16],
    }
    .encode()
    .unwrap();
    let mut area = sb.to_vec();
    area.resize(4096, 0);
    area.extend_from_slice(tree.as_bytes());
    let root_hash = hex::encode(tree.root_hash());
    let mut files = BTreeMap::new();
    let mut ukis = Vec::new();
    for slot in Slot::ALL {
        let name = format!("{PRODUCT}-{slot}.efi");
        let data = format!("MZ uki of {version} for slot {slot}")
            .repeat(100)
            .into_bytes();
        ukis.push(Uki {
            slot,
            file: file(&name, &data),
            cmdline: String::new(),
            pcr11: serde_json::Value::Null,
        });
        files.insert(name, data);
    }
    let sdboot = b"MZ systemd-boot".to_vec();
    let release = Release {
        format: contract::release::FORMAT,
        product: PRODUCT.into(),
        version: Version::parse(version).unwrap(),
        root: file("root.erofs", &root),
        verity: Verity {
            file: file("root.verity", &area),
            root_hash,
            salt: hex::encode(&salt),
            data_blocks,
        },
        ukis,
        bootloader: file("systemd-bootx64.efi", &sdboot),
    };
    files.insert("root.erofs".into(), root);
    files.insert("root.verity".into(), area);
    files.insert("systemd-bootx64.efi".into(), sdboot);
    Payload { release, files }
}

pub fn now() -> Time {
    Time::from_unix(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            .try_into()
            .unwrap(),
    )
}

pub struct Repo {
    pub dir: PathBuf,
    pub root_json: Vec<u8>,
}

pub struct Publish<'a> {
    pub releases: &'a [&'a Payload],
    /// Signs targets, snapshot and timestamp.
    pub online: SigningKey,
    pub timestamp_expires: Time,
    pub version: u64,
    /// root.erofs.zst decompresses to other bytes than release.json says,
    /// though TUF signs it (a compromised build host, say).
    pub corrupt_root: bool,
}

/// A repository: root v1 (root and targets key 1, snapshot/timestamp key 2).
pub fn repo(dir: &Path, p: &Publish<'_>) -> Repo {
    let root_key = key(1);
    let online = key(2);
    let role = |k: &SigningKey| RoleSetup {
        keys: vec![k.verifying_key()],
        threshold: 1,
    };
    let setup = RootSetup {
        root: role(&root_key),
        targets: role(&root_key),
        snapshot: role(&online),
        timestamp: role(&online),
    };
    let root = tuf::repository::new_root(1, now().plus_seconds(86400 * 365), &setup).unwrap();
    let root_md = tuf::repository::sign_root(root, None, &[&root_key]).unwrap();
    let meta = dir.join("metadata");
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(meta.join("1.root.json"), root_md.to_bytes()).unwrap();
    let mut targets = BTreeMap::new();
    for r in p.releases {
        let v = r.release.version.to_string();
        let put = |name: &str, data: &[u8], custom: serde_json::Value, t: &mut BTreeMap<_, _>| {
            let tf = tuf::TargetFile::for_bytes(data, Some(custom));
            let path = format!("{PRODUCT}/{v}/{name}");
            let stored = tuf::repository::target_file_name(&path, &tf.hashes["sha256"]);
            let out = dir.join("targets").join(stored);
            std::fs::create_dir_all(out.parent().unwrap()).unwrap();
            std::fs::write(out, data).unwrap();
            t.insert(path, tf);
        };
        put(
            "release.json",
            r.release.to_json().as_bytes(),
            serde_json::json!({"clip": {"product": PRODUCT, "version": v}}),
            &mut targets,
        );
        for (name, data) in &r.files {
            let mut bytes = data.clone();
            if p.corrupt_root && name == "root.erofs" {
                bytes[12345] ^= 1;
            }
            let z = zstd::encode_all(&bytes[..], 3).unwrap();
            put(
                &format!("{name}.zst"),
                &z,
                serde_json::json!({"clip": {"length": data.len(), "sha256": hex::encode(Sha256::digest(data))}}),
                &mut targets,
            );
        }
    }
    let far = now().plus_seconds(86400 * 30);
    let pubn = Publication {
        targets_version: p.version,
        targets_expires: far,
        snapshot_version: p.version,
        snapshot_expires: far,
        timestamp_version: p.version,
        timestamp_expires: p.timestamp_expires,
    };
    // Targets are signed by the root key unless a wrong online key is
    // given: then every role is signed by it.
    let wrong = p.online.verifying_key() != online.verifying_key();
    let tkey = if wrong {
        p.online.clone()
    } else {
        root_key.clone()
    };
    let signers = Signers {
        targets: &[&tkey],
        snapshot: &[&p.online],
        timestamp: &[&p.online],
    };
    let files = if wrong {
        // sign_role checks the threshold: sign by hand.
        let t = tuf::Metadata::sign(
            tuf::repository::new_targets(p.version, far, targets),
            &[&tkey],
        )
        .unwrap();
        let s = tuf::Metadata::sign(tuf::repository::new_snapshot(p.version, far, &t), &[&tkey])
            .unwrap();
        let ts = tuf::Metadata::sign(
            tuf::repository::new_timestamp(p.version, p.timestamp_expires, &s),
            &[&tkey],
        )
        .unwrap();
        vec![
            (tuf::repository::targets_file_name(p.version), t.to_bytes()),
            (tuf::repository::snapshot_file_name(p.version), s.to_bytes()),
            ("timestamp.json".to_string(), ts.to_bytes()),
        ]
    } else {
        tuf::repository::publish(&root_md.signed, targets, &pubn, &signers).unwrap()
    };
    for (name, bytes) in files {
        std::fs::write(meta.join(name), bytes).unwrap();
    }
    Repo {
        dir: dir.to_path_buf(),
        root_json: root_md.to_bytes(),
    }
}

pub fn loader_entry(version: &str, slot: Slot) -> String {
    format!(
        "title CLIP OS {version} (slot {})\nversion {version}\nsort-key {PRODUCT}\nefi /EFI/{PRODUCT}/{PRODUCT}-{slot}.efi\n",
        slot.as_str().to_ascii_uppercase()
    )
}

/// A disk like clip build's, v1 in slot A, B empty.
pub fn disk(path: &Path, v1: &Payload, root_size: u64, verity_size: u64) {
    let esp_size = 16 * MIB;
    let state = 4 * MIB;
    let size = MIB + esp_size + 2 * (root_size + verity_size) + state + MIB;
    let a = Attributes::default()
        .with_read_only(true)
        .with_priority(1)
        .unwrap()
        .with_successful(true);
    let b = Attributes::default()
        .with_read_only(true)
        .with_no_auto(true);
    let hash: Vec<u8> = hex::decode(&v1.release.verity.root_hash).unwrap();
    let (ra, va) = types::verity_partition_uuids(&hash).unwrap();
    let spec = |t, u, n: &str, s, at| PartitionSpec {
        type_guid: t,
        unique_guid: u,
        name: n.into(),
        size: Size::Bytes(s),
        attributes: at,
    };
    let table = DiskLayout::new(size, Uuid::from_u128(1))
        .partition(spec(
            types::ESP,
            Uuid::from_u128(2),
            "esp",
            esp_size,
            Attributes::default(),
        ))
        .partition(spec(types::ROOT_X86_64, ra, "root-a", root_size, a))
        .partition(spec(
            types::ROOT_X86_64_VERITY,
            va,
            "verity-a",
            verity_size,
            a,
        ))
        .partition(spec(
            types::ROOT_X86_64,
            Uuid::from_u128(3),
            "root-b",
            root_size,
            b,
        ))
        .partition(spec(
            types::ROOT_X86_64_VERITY,
            Uuid::from_u128(4),
            "verity-b",
            verity_size,
            b,
        ))
        .partition(spec(
            types::VAR,
            Uuid::from_u128(5),
            "state",
            state,
            Attributes::default(),
        ))
        .build()
        .unwrap();
    let f = std::fs::File::create(path).unwrap();
    f.set_len(size).unwrap();
    use std::os::unix::fs::FileExt;
    for r in table.regions().unwrap() {
        f.write_all_at(&r.bytes, r.offset).unwrap();
    }
    let part = |n: &str| {
        table
            .partitions
            .iter()
            .find(|p| p.name == n)
            .unwrap()
            .clone()
    };
    f.write_all_at(&v1.files["root.erofs"], part("root-a").offset())
        .unwrap();
    f.write_all_at(&v1.files["root.verity"], part("verity-a").offset())
        .unwrap();
    let mut esp = esp::Esp::new();
    esp.add(
        "EFI/BOOT/BOOTX64.EFI",
        v1.files["systemd-bootx64.efi"].clone(),
    )
    .unwrap();
    esp.add(
        &format!("EFI/{PRODUCT}/{PRODUCT}-a.efi"),
        v1.files[&format!("{PRODUCT}-a.efi")].clone(),
    )
    .unwrap();
    esp.add(
        "loader/loader.conf",
        format!("default {PRODUCT}-a.conf\ntimeout 0\n").into_bytes(),
    )
    .unwrap();
    esp.add(
        &format!("loader/entries/{PRODUCT}-a.conf"),
        loader_entry(&v1.release.version.to_string(), Slot::A).into_bytes(),
    )
    .unwrap();
    let e = part("esp");
    f.write_all_at(&esp.build(e.size()).unwrap(), e.offset())
        .unwrap();
}

pub struct Bed {
    pub dir: tempfile::TempDir,
    pub server: httpd::Handle,
    pub v1: Payload,
}

impl Bed {
    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Runs clip-updated with the bed's paths.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let bin = option_env!("CARGO_BIN_EXE_clip-updated").unwrap_or("clip-updated");
        let mut c = Command::new(bin);
        c.args(args)
            .arg("--root-dir")
            .arg(self.path("root"))
            .arg("--state-dir")
            .arg(self.path("state"))
            .arg("--cmdline-file")
            .arg(self.path("cmdline"))
            .arg("--disk")
            .arg(self.path("disk.img"))
            .arg("--no-reboot");
        c
    }

    /// The server's access log: one Common Log Format line per request.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.path("access.log")).unwrap()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
}

/// Running `running` (v1 in slot A: os-release says `running`), serving
/// `p`'s repository.
pub fn bed(
    running: &str,
    p_of: impl FnOnce(&Payload) -> Vec<Payload>,
    online: SigningKey,
    ts_expires: Time,
) -> Bed {
    bed_sized(
        running,
        p_of,
        online,
        ts_expires,
        4 << 20,
        4 * MIB,
        MIB,
        false,
    )
}

pub fn bed_sized(
    running: &str,
    p_of: impl FnOnce(&Payload) -> Vec<Payload>,
    online: SigningKey,
    ts_expires: Time,
    root_len: usize,
    root_size: u64,
    verity_size: u64,
    corrupt_root: bool,
) -> Bed {
    let dir = tempfile::tempdir().unwrap();
    let v1 = payload(running, root_len);
    let releases = p_of(&v1);
    let refs: Vec<&Payload> = releases.iter().collect();
    let repo_dir = dir.path().join("repo");
    let r = repo(
        &repo_dir,
        &Publish {
            releases: &refs,
            online,
            timestamp_expires: ts_expires,
            version: 1,
            corrupt_root,
        },
    );
    disk(&dir.path().join("disk.img"), &v1, root_size, verity_size);
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("usr/lib/clip/update")).unwrap();
    std::fs::write(
        root.join("usr/lib/os-release"),
        format!("NAME=\"CLIP OS\"\nID={PRODUCT}\nVERSION_ID={running}\n"),
    )
    .unwrap();
    std::fs::write(root.join("usr/lib/clip/update/root.json"), &r.root_json).unwrap();
    let log = std::fs::File::create(dir.path().join("access.log")).unwrap();
    let site = httpd::Site::new(&repo_dir)
        .unwrap()
        .with_access_log(httpd::AccessLog::new(log));
    let server = httpd::Server::bind("127.0.0.1:0", site).unwrap().spawn();
    let url = server.url();
    std::fs::write(
        root.join("usr/lib/clip/update.json"),
        serde_json::json!({
            "server": url,
            "reboot": "now",
            "health_checks": [
                "/usr/bin/true",
                format!("/usr/bin/test -e {}", dir.path().join("healthy").display()),
            ]
        })
        .to_string(),
    )
    .unwrap();
    let params: BootParams = v1.release.boot_params(Slot::A).unwrap();
    std::fs::write(
        dir.path().join("cmdline"),
        format!("console=ttyS0 {}\n", params.render()),
    )
    .unwrap();
    Bed { dir, server, v1 }
}

/// A test CA and a server certificate for `127.0.0.1` signed by it (rcgen,
/// as in crates/fetch/tests/tls.rs).
pub struct Pki {
    pub ca_pem: String,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: Vec<u8>,
}

pub fn pki(ca_name: &str) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, ca_name);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        chain: vec![leaf.der().clone(), ca_cert.der().clone()],
        key: key.serialize_der(),
    }
}

/// A TLS connection as httpd's handler takes it.
struct Tls(rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>);

impl std::io::Read for Tls {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf)
    }
}

impl std::io::Write for Tls {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

impl httpd::Timeouts for Tls {
    fn set_read_timeout(&mut self, t: Option<std::time::Duration>) -> std::io::Result<()> {
        self.0.sock.set_read_timeout(t)
    }
}

impl Drop for Tls {
    fn drop(&mut self) {
        use std::io::Write;
        self.0.conn.send_close_notify();
        let _ = self.0.flush();
    }
}

impl Bed {
    /// Serves the bed's repository over HTTPS as well (httpd's handler
    /// behind a rustls server with `served`'s certificate, its access log in
    /// `https-access.log`) and points update.json at it: `server` the
    /// https URL, `ca` [`contract::update::CA_PATH`] holding `ca_pem` when
    /// given, no `ca` otherwise. Returns the URL.
    pub fn serve_https(&self, served: &Pki, ca_pem: Option<&str>) -> String {
        use std::sync::Arc;
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(served.key.clone()),
        );
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(served.chain.clone(), key)
            .unwrap();
        let config = Arc::new(config);
        let log = std::fs::File::create(self.path("https-access.log")).unwrap();
        let site = Arc::new(
            httpd::Site::new(&self.path("repo"))
                .unwrap()
                .with_access_log(httpd::AccessLog::new(log)),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("https://{}/", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(tcp) = conn else { return };
                let config = Arc::clone(&config);
                let site = Arc::clone(&site);
                std::thread::spawn(move || {
                    let peer = tcp.peer_addr().unwrap().ip();
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    httpd::serve_connection(Tls(rustls::StreamOwned::new(conn, tcp)), peer, &site);
                });
            }
        });
        let config_path = self.path("root/usr/lib/clip/update.json");
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
        config["server"] = url.clone().into();
        match ca_pem {
            Some(pem) => {
                let path = contract::update::CA_PATH.trim_start_matches('/');
                std::fs::write(self.path("root").join(path), pem).unwrap();
                config["ca"] = contract::update::CA_PATH.into();
            }
            None => {
                config.as_object_mut().unwrap().remove("ca");
            }
        }
        std::fs::write(&config_path, config.to_string()).unwrap();
        url
    }

    /// The HTTPS server's access log.
    pub fn https_access_log(&self) -> String {
        std::fs::read_to_string(self.path("https-access.log")).unwrap()
    }
}
